/*
 * Queue routes: join (no token), poll and leave (token).
 */
#include <json-c/json.h>

#include "errors_http.h"
#include "handlers.h"
#include "reply.h"

/* {"token", "user_id", "status", "position", "eta_seconds", "expires_at"} */
static void reply_token(api_call *call, int status, const concert_token_info *info)
{
    json_out w;
    json_out_init(&w);
    json_out_object_begin(&w);
    JSON_OUT_KEY(&w, "token");
    json_out_string(&w, info->token);
    JSON_OUT_KEY(&w, "user_id");
    json_out_int(&w, info->user_id);
    JSON_OUT_KEY(&w, "status");
    json_out_string(&w, concert_token_state_name(info->state));
    JSON_OUT_KEY(&w, "position");
    json_out_int(&w, info->position); /* the library gives 0 when ACTIVE */
    JSON_OUT_KEY(&w, "eta_seconds");
    if (info->eta_ms < 0)
        json_out_null(&w);
    else /* rounded up: "0 seconds" while still waiting would mislead */
        json_out_int(&w, info->eta_ms / 1000 + (info->eta_ms % 1000 != 0));
    JSON_OUT_KEY(&w, "expires_at");
    if (info->expires_at > 0)
        json_out_time(&w, info->expires_at);
    else
        json_out_null(&w);
    json_out_object_end(&w);
    reply_json(call->resp, status, &w);
}

void handle_queue_issue(api_call *call)
{
    struct json_object *body = NULL;
    int64_t user_id = 0;
    if (call_body_object(call, &body) != 0)
        return;
    const int bad = call_body_int64(call, body, "user_id", &user_id);
    json_object_put(body);
    if (bad)
        return;

    concert_token_info info;
    const int rc = concert_queue_issue(&info, call->ctx->db, user_id);
    if (rc < 0) {
        reply_library_error(call->resp, rc);
        return;
    }
    reply_token(call, info.is_new ? 201 : 200, &info);
}

void handle_queue_status(api_call *call)
{
    char token[CONCERT_TOKEN_SIZE];
    if (call_bearer_token(call, token) != 0)
        return;
    concert_token_info info;
    const int rc = concert_queue_status(&info, call->ctx->db, token);
    if (rc < 0) {
        reply_library_error(call->resp, rc);
        return;
    }
    reply_token(call, 200, &info);
}

void handle_queue_leave(api_call *call)
{
    char token[CONCERT_TOKEN_SIZE];
    if (call_bearer_token(call, token) != 0)
        return;
    const int rc = concert_queue_leave(call->ctx->db, token);
    if (rc < 0) {
        reply_library_error(call->resp, rc);
        return;
    }
    reply_empty(call->resp, 204);
}
