/*
 * The access rules of the routes (see access.h).
 */
#include "access.h"

#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "admin_key.h"
#include "auth.h"
#include "errors_http.h"
#include "handlers.h"
#include "reply.h"
#include "token_owner.h"

#define SERVICE_KEY_HEADER "X-Service-Key"

const char *access_name(route_access access)
{
    switch (access) {
    case ACCESS_PUBLIC:
        return "PUBLIC";
    case ACCESS_ADMIN:
        return "ADMIN";
    case ACCESS_JOIN:
        return "JOIN";
    case ACCESS_PATH_USER:
        return "PATH_USER";
    case ACCESS_CHARGE:
        return "CHARGE";
    case ACCESS_TOKEN:
        return "TOKEN";
    case ACCESS_TOKEN_REPLAY:
        return "TOKEN_REPLAY";
    case ACCESS_UNSET:
        break;
    }
    return "UNSET";
}

static int forbid(api_call *call, const char *message)
{
    reply_error(call->resp, 403, "FORBIDDEN", message);
    return -1;
}

/* The Bearer token must belong to the identity (an ended token still names
 * its owner, so a keyed replay is checked here too). A token the store does
 * not know is let through only where it may replay a keyed payment; the
 * library then refuses it, and the handler checks whose payment any answer
 * would be. */
static int check_token_owner(api_call *call, route_access access)
{
    char token[CONCERT_TOKEN_SIZE];
    if (call_bearer_token(call, token) != 0)
        return -1;
    int64_t owner = 0;
    const int rc = token_owner(call->ctx->db, token, &owner);
    if (rc == CONCERT_ETOKEN_INVALID && access == ACCESS_TOKEN_REPLAY &&
        call_idempotency_key(call) != NULL) {
        call->owner_unverified = 1;
        return 0;
    }
    if (rc < 0) {
        reply_library_error(call->resp, rc);
        return -1;
    }
    if (owner != call->identity)
        return forbid(call, "this queue token belongs to another user");
    return 0;
}

/* Charging points is the operator's act: the service key, or (demo) the
 * identified user for their own {id} with --allow-self-charge. */
static int check_charge(api_call *call, auth_result identified, const char *why)
{
    const api_context *ctx = call->ctx;
    if (ctx->auth_mode == API_AUTH_NONE)
        return 0;
    const char *key = call_header(call, SERVICE_KEY_HEADER);
    if (key != NULL) {
        if (!admin_key_matches(ctx->service_key, ctx->service_key_len, key)) {
            reply_error(call->resp, 403, "SERVICE_KEY_INVALID", "the service key is wrong");
            return -1;
        }
        return 0;
    }
    if (!ctx->allow_self_charge) {
        reply_error(call->resp, 401, "SERVICE_KEY_REQUIRED",
                    "charging points needs the operator's " SERVICE_KEY_HEADER " header");
        snprintf(call->resp->www_authenticate, sizeof call->resp->www_authenticate,
                 SERVICE_KEY_HEADER " realm=\"concertd\"");
        return -1;
    }
    if (identified != AUTH_IDENTIFIED) {
        auth_reply(ctx, call->resp, identified, why);
        return -1;
    }
    if (call->ids[0] != call->identity)
        return forbid(call, "you may charge only your own points");
    return 0;
}

int access_check(api_call *call, route_access access)
{
    if (access == ACCESS_PUBLIC || access == ACCESS_ADMIN)
        return 0;
    if (access < ACCESS_PUBLIC || access > ACCESS_TOKEN_REPLAY) {
        reply_error(call->resp, 500, "INTERNAL", "internal error");
        snprintf(call->resp->detail, sizeof call->resp->detail, "route without an access rule");
        return -1;
    }
    char why[160];
    int64_t who = 0;
    const auth_result identified = auth_identify(call->ctx, call->req, &who, why, sizeof why);
    call->identity = identified == AUTH_IDENTIFIED ? who : 0;
    if (access == ACCESS_CHARGE)
        return check_charge(call, identified, why);
    if (identified == AUTH_ANONYMOUS)
        return 0;
    if (identified != AUTH_IDENTIFIED) {
        auth_reply(call->ctx, call->resp, identified, why);
        return -1;
    }
    switch (access) {
    case ACCESS_JOIN:
        return 0; /* the body is the handler's: access_join_user() */
    case ACCESS_PATH_USER:
        return call->ids[0] == who ? 0 : forbid(call, "you may only see your own points");
    case ACCESS_TOKEN:
    case ACCESS_TOKEN_REPLAY:
        return check_token_owner(call, access);
    default:
        break;
    }
    return forbid(call, "not allowed");
}

int access_join_user(api_call *call, const struct json_object *body, int64_t *user_id)
{
    const int anonymous = call->ctx->auth_mode == API_AUTH_NONE;
    if (!anonymous && (body == NULL || !json_object_object_get_ex(body, "user_id", NULL))) {
        *user_id = call->identity;
        return 0;
    }
    if (call_body_int64(call, body, "user_id", user_id) != 0)
        return -1;
    if (!anonymous && *user_id != call->identity)
        return forbid(call, "user_id is not you: you may only join the queue for yourself");
    return 0;
}

int access_answer_user(api_call *call, int64_t user_id)
{
    if (call->owner_unverified && user_id != call->identity)
        return forbid(call, "this queue token belongs to another user");
    return 0;
}
