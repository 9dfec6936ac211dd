/*
 * api_handle(): from a parsed request to a response, with no transport
 * (see api.h). Routing and the helpers every handler shares live here.
 */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "access.h"
#include "admin_key.h"
#include "handlers.h"
#include "idem_key.h"
#include "json_strict.h"
#include "query_auth.h"
#include "reply.h"
#include "router.h"
#include "sse_stream.h"

static const char admin_prefix[] = "/api/v1/admin";

/* Is path /api/v1/admin or below it? */
static int is_admin_path(const char *path)
{
    const size_t n = sizeof admin_prefix - 1;
    return strncmp(path, admin_prefix, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/*
 * The admin gate, before anything else looks at an admin request (its size,
 * body, route or method), so that nothing about the admin routes leaks to a
 * caller without the key. Returns 0 to go on, or -1 after replying: 404
 * when the server has no admin key (the routes do not exist), 401 for a
 * missing X-Admin-Key, 403 for a wrong one.
 */
static int admin_gate(const api_context *ctx, const api_request *req, api_response *resp)
{
    if (ctx->admin_key == NULL) {
        reply_error(resp, 404, "NOT_FOUND", "no such route");
        return -1;
    }
    const char *given = req->header ? req->header(req->header_ctx, "X-Admin-Key") : NULL;
    if (given == NULL) {
        reply_error(resp, 401, "ADMIN_KEY_REQUIRED", "an X-Admin-Key header is required");
        return -1;
    }
    if (!admin_key_matches(ctx->admin_key, ctx->admin_key_len, given)) {
        reply_error(resp, 403, "ADMIN_KEY_INVALID", "the admin key is wrong");
        return -1;
    }
    return 0;
}

/* The route's Idempotency-Key into call: 0, or -1 after replying 422. */
static int read_idempotency_key(api_call *call)
{
    const char *why = NULL;
    switch (idem_key_read(call_header(call, "Idempotency-Key"), call->idempotency_key, &why)) {
    case IDEM_KEY_ABSENT:
        return 0;
    case IDEM_KEY_OK:
        call->has_idempotency_key = 1;
        return 0;
    case IDEM_KEY_INVALID:
        break;
    }
    reply_error(call->resp, 422, "INVALID_ARGUMENT", why);
    return -1;
}

void api_handle(const api_context *ctx, const api_request *req, api_response *resp)
{
    memset(resp, 0, sizeof *resp);
    resp->status = 500;
    resp->route = "unmatched";
    resp->route_id = -1;

    if (req->method == NULL || req->path == NULL) {
        reply_malformed(resp, "request line is incomplete");
        return;
    }
    /* Matched first so that every answer (admin refusals and 413 included)
     * is labelled with its route; the checks below keep their order. */
    route_match match;
    const route_result routed = router_match(req->method, req->path, &match);
    if (match.pattern != NULL) {
        resp->route = match.pattern;
        resp->route_id = match.route_id;
    }
    if (is_admin_path(req->path) && admin_gate(ctx, req, resp) != 0)
        return;
    if (req->body_too_large || req->body_len > API_MAX_BODY) {
        reply_error(resp, 413, "PAYLOAD_TOO_LARGE", "request body is larger than 64 KiB");
        return;
    }

    switch (routed) {
    case ROUTE_NOT_FOUND:
        reply_error(resp, 404, "NOT_FOUND", "no such route");
        return;
    case ROUTE_METHOD_NOT_ALLOWED:
        reply_error(resp, 405, "METHOD_NOT_ALLOWED", "method not allowed on this route");
        memcpy(resp->allow, match.allow, sizeof resp->allow);
        return;
    case ROUTE_BAD_ID:
        reply_malformed(resp, "ids in the path must be non-negative integers");
        return;
    case ROUTE_FOUND:
        break;
    }

    api_call call;
    memset(&call, 0, sizeof call);
    call.ctx = ctx;
    call.req = req;
    call.resp = resp;
    memcpy(call.ids, match.ids, sizeof call.ids);
    /* The event streams also take their credentials from the query. */
    query_auth query_credentials;
    if ((match.flags & ROUTE_QUERY_CREDENTIALS) != 0) {
        query_auth_wrap(&query_credentials, req);
        call.req = &query_credentials.req;
    }
    /* The key first: no library call, not even the token lookup of the
     * access check, ever sees a key concertd would refuse. */
    if ((match.flags & ROUTE_TAKES_IDEMPOTENCY_KEY) != 0 && read_idempotency_key(&call) != 0)
        return;
    if (access_check(&call, match.access) != 0)
        return;
    match.handler(&call);
}

sse_stream *api_response_take_stream(api_response *resp)
{
    sse_stream *stream = resp->stream;
    resp->stream = NULL;
    return stream;
}

void api_response_release(api_response *resp)
{
    sse_stream_unref(resp->stream);
    resp->stream = NULL;
    if (resp->body_release != NULL)
        resp->body_release(resp->body_owner);
    else
        free(resp->body);
    api_response_forget_body(resp);
}

char *api_response_take_body(api_response *resp)
{
    char *body = resp->body;
    if (body != NULL && resp->body_release != NULL) {
        /* A shared body is not the caller's to free: hand over a copy. */
        body = malloc(resp->body_len + 1);
        if (body != NULL) {
            memcpy(body, resp->body, resp->body_len);
            body[resp->body_len] = '\0';
        }
        resp->body_release(resp->body_owner);
    }
    api_response_forget_body(resp);
    return body;
}

void api_response_forget_body(api_response *resp)
{
    resp->body = NULL;
    resp->body_len = 0;
    resp->body_release = NULL;
    resp->body_owner = NULL;
}

const char *call_header(const api_call *call, const char *name)
{
    if (call->req->header == NULL)
        return NULL;
    return call->req->header(call->req->header_ctx, name);
}

static int ascii_lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* Case-insensitive prefix test, ASCII only: independent of the locale. */
static int has_prefix_nocase(const char *text, const char *prefix)
{
    for (; *prefix != '\0'; text++, prefix++) {
        if (ascii_lower((unsigned char)*text) != ascii_lower((unsigned char)*prefix))
            return 0;
    }
    return 1;
}

int call_bearer_token(api_call *call, char *token)
{
    static const char scheme[] = "Bearer";
    const char *value = call_header(call, "Authorization");
    if (value == NULL) {
        reply_error(call->resp, 401, "TOKEN_INVALID",
                    "an Authorization: Bearer <token> header is required");
        return -1;
    }
    while (*value == ' ' || *value == '\t')
        value++;
    if (!has_prefix_nocase(value, scheme) ||
        (value[sizeof scheme - 1] != ' ' && value[sizeof scheme - 1] != '\t')) {
        reply_error(call->resp, 401, "TOKEN_INVALID", "the Authorization scheme must be Bearer");
        return -1;
    }
    const char *start = value + sizeof scheme - 1;
    while (*start == ' ' || *start == '\t')
        start++;
    size_t len = strlen(start);
    while (len > 0 && (start[len - 1] == ' ' || start[len - 1] == '\t'))
        len--;
    /* A token longer than any the library issues cannot be valid. */
    if (len == 0 || len >= CONCERT_TOKEN_SIZE) {
        reply_error(call->resp, 401, "TOKEN_INVALID", "token invalid");
        return -1;
    }
    memcpy(token, start, len);
    token[len] = '\0';
    return 0;
}

int call_body_object(api_call *call, struct json_object **out)
{
    json_strict_error e;
    if (json_strict_parse(out, call->req->body, call->req->body_len, json_type_object,
                          API_MAX_BODY_DEPTH, &e) == 0)
        return 0;
    char message[160];
    switch (e.status) {
    case JSON_STRICT_EMPTY:
        reply_malformed(call->resp, "a JSON object body is required");
        return -1;
    case JSON_STRICT_TYPE:
        reply_malformed(call->resp, "body must be a JSON object");
        return -1;
    case JSON_STRICT_DUPLICATE:
        snprintf(message, sizeof message, "body gives a member twice: %.100s", e.path);
        reply_malformed(call->resp, message);
        return -1;
    case JSON_STRICT_NOMEM:
        reply_error(call->resp, 500, "INTERNAL", "internal error");
        snprintf(call->resp->detail, sizeof call->resp->detail, "out of memory reading a body");
        return -1;
    default:
        snprintf(message, sizeof message, "body: %s", json_strict_describe(&e));
        reply_malformed(call->resp, message);
        return -1;
    }
}

int call_body_int64(api_call *call, const struct json_object *obj, const char *key, int64_t *out)
{
    struct json_object *value = NULL;
    char message[128];
    if (!json_object_object_get_ex(obj, key, &value)) {
        snprintf(message, sizeof message, "%s: required", key);
        reply_malformed(call->resp, message);
        return -1;
    }
    switch (json_strict_int(value, INT64_MIN, INT64_MAX, out)) {
    case JSON_INT_OK:
        return 0;
    case JSON_INT_NOT_INTEGER:
        snprintf(message, sizeof message, "%s: must be an integer", key);
        break;
    case JSON_INT_OUT_OF_RANGE:
        snprintf(message, sizeof message, "%s: integer out of range", key);
        break;
    }
    reply_malformed(call->resp, message);
    return -1;
}

int call_query_int64(api_call *call, const char *name, int64_t min, int64_t max, int64_t fallback,
                     int64_t *out)
{
    const api_request *req = call->req;
    const char *text = req->query ? req->query(req->header_ctx, name) : NULL;
    char message[160];
    if (text == NULL) {
        *out = fallback;
        return 0;
    }
    if (req->query_count && req->query_count(req->header_ctx, name) > 1) {
        snprintf(message, sizeof message, "query argument %s: given more than once", name);
    } else {
        /* Plain decimal digits only: no sign, blanks, hex or exponent. */
        int64_t value = 0;
        int ok = *text != '\0' && strlen(text) <= 18; /* no overflow */
        for (const char *p = text; ok && *p; p++) {
            ok = *p >= '0' && *p <= '9';
            if (ok)
                value = value * 10 + (*p - '0');
        }
        if (ok && value >= min && value <= max) {
            *out = value;
            return 0;
        }
        snprintf(message, sizeof message, "query argument %s: must be an integer from %lld to %lld",
                 name, (long long)min, (long long)max);
    }
    reply_error(call->resp, 422, "INVALID_ARGUMENT", message);
    return -1;
}

const char *call_idempotency_key(const api_call *call)
{
    return call->has_idempotency_key ? call->idempotency_key : NULL;
}
