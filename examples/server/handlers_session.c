/*
 * GET /api/v1/session: how this server identifies users, and who the
 * request is. The web app asks it first, to know how to sign in. Public:
 * it tells only the --auth mode, which any client finds out from its first
 * 401 anyway, and echoes the identity the request itself carried.
 */
#include <stdio.h>

#include "auth.h"
#include "handlers.h"
#include "reply.h"

static const char *auth_mode_name(api_auth_mode mode)
{
    switch (mode) {
    case API_AUTH_JWT:
        return "jwt";
    case API_AUTH_HEADER:
        return "header";
    case API_AUTH_NONE:
        break;
    }
    return "none";
}

void handle_session(api_call *call)
{
    char why[160];
    int64_t user_id = 0;
    const auth_result identified = auth_identify(call->ctx, call->req, &user_id, why, sizeof why);
    /* A sign-in that no longer verifies (an expired JWT) must not read as
     * "signed out": the client is told why, as on any other route. */
    if (identified == AUTH_INVALID) {
        auth_reply(call->ctx, call->resp, identified, why);
        return;
    }
    json_out w;
    json_out_init(&w);
    json_out_object_begin(&w);
    JSON_OUT_KEY(&w, "auth");
    json_out_string(&w, auth_mode_name(call->ctx->auth_mode));
    JSON_OUT_KEY(&w, "user_id");
    if (identified == AUTH_IDENTIFIED)
        json_out_int(&w, user_id);
    else
        json_out_null(&w);
    json_out_object_end(&w);
    reply_json(call->resp, 200, &w);
    /* The answer depends on the request's identity headers. */
    snprintf(call->resp->cache_control, sizeof call->resp->cache_control, "no-store");
}
