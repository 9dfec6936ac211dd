/*
 * Queue routes: join (no token), poll and leave (token), and the public
 * queue page.
 */
#include <stdio.h>

#include <json-c/json.h>

#include "errors_http.h"
#include "handlers.h"
#include "queue_json.h"
#include "reply.h"

/* The queue's state for a token reply, from the db's cached view (cheap).
 * The token's own answer stands even if this fails: then null. */
static const char *queue_state_name_now(api_call *call)
{
    concert_queue_stats stats;
    if (concert_queue_stats_get(&stats, call->ctx->db) < 0)
        return NULL;
    return concert_queue_state_name(stats.state);
}

/* The token's document (queue_json_token()). */
static void reply_token(api_call *call, int status, const concert_token_info *info)
{
    json_out w;
    json_out_init(&w);
    queue_json_token(&w, info, queue_state_name_now(call));
    reply_json(call->resp, status, &w);
}

void handle_queue_issue(api_call *call)
{
    struct json_object *body = NULL;
    int64_t user_id = 0;
    /* An identified caller needs no body at all; anyone else names the user. */
    const int bodiless = call->identity != 0 && call->req->body_len == 0;
    if (!bodiless && call_body_object(call, &body) != 0)
        return;
    /* Who joins: the identity (--auth jwt/header), never just a body
     * claim, so a live token is handed back to its owner only. */
    const int bad = access_join_user(call, body, &user_id);
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
    const int rc = concert_queue_status_get(&info, call->ctx->db, token);
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

void handle_queue_public(api_call *call)
{
    concert_queue_stats stats;
    const int rc = concert_queue_stats_get(&stats, call->ctx->db);
    if (rc < 0) {
        reply_library_error(call->resp, rc);
        return;
    }
    concert_queue_settings settings;
    queue_settings_from_stats(&settings, &stats);
    json_out w;
    json_out_init(&w);
    json_out_object_begin(&w);
    queue_json_settings(&w, &settings);
    queue_json_counts(&w, &stats);
    json_out_object_end(&w);
    reply_json(call->resp, 200, &w);
    if (call->resp->status == 200) {
        /* The answer comes from a view at most queue_refresh_ms old, so a
         * cache (or a CDN in front) may keep it that long, never longer. */
        const int64_t max_age_s = call->ctx->queue_refresh_ms / 1000;
        snprintf(call->resp->cache_control, sizeof call->resp->cache_control,
                 "public, max-age=%lld", (long long)(max_age_s > 0 ? max_age_s : 0));
    }
}
