/*
 * Admin routes for the queue: read the settings and counts, change the
 * limits or the opening time, pause/resume/close/open. The admin key was
 * checked in api.c before any of these runs; the rules (ranges, opens_at in
 * the future, which state changes are allowed) are the library's.
 */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "errors_http.h"
#include "handlers.h"
#include "queue_json.h"
#include "reply.h"
#include "timefmt.h"

/* Admin answers are about one operator's actions: no cache keeps them. */
static void no_store(api_call *call)
{
    static const char value[] = "no-store";
    memcpy(call->resp->cache_control, value, sizeof value);
}

static void reply_settings(api_call *call, const concert_queue_settings *settings)
{
    json_out w;
    json_out_init(&w);
    json_out_object_begin(&w);
    queue_json_settings(&w, settings);
    json_out_object_end(&w);
    reply_json(call->resp, 200, &w);
    no_store(call);
}

void handle_admin_queue_get(api_call *call)
{
    /* Settings straight from the store (what every process obeys within a
     * refresh interval); counts from the db's view, at most that old. */
    concert_queue_settings settings;
    int rc = concert_queue_settings_get(&settings, call->ctx->db);
    concert_queue_stats stats;
    if (rc >= 0)
        rc = concert_queue_stats_get(&stats, call->ctx->db);
    if (rc < 0) {
        reply_library_error(call->resp, rc);
        return;
    }
    json_out w;
    json_out_init(&w);
    json_out_object_begin(&w);
    queue_json_settings(&w, &settings);
    queue_json_counts(&w, &stats);
    JSON_OUT_KEY(&w, "admitted_through");
    json_out_int(&w, stats.admitted_through);
    JSON_OUT_KEY(&w, "last_ticket");
    json_out_int(&w, stats.last_ticket);
    JSON_OUT_KEY(&w, "admit_rate_per_minute");
    if (stats.admit_rate_mps > 0) /* per 1000 s -> per minute */
        json_out_int(&w, stats.admit_rate_mps * 60 / 1000);
    else
        json_out_null(&w);
    json_out_object_end(&w);
    reply_json(call->resp, 200, &w);
    no_store(call);
}

/* Read body member value (key) into u. Returns 0, or -1 after replying 400. */
static int read_update_member(api_call *call, const struct json_object *body, const char *key,
                              struct json_object *value, concert_queue_update *u)
{
    if (strcmp(key, "max_active") == 0) {
        if (call_body_int64(call, body, key, &u->max_active) != 0)
            return -1;
        u->fields |= CONCERT_QUEUE_SET_MAX_ACTIVE;
        return 0;
    }
    if (strcmp(key, "admit_per_minute") == 0) {
        if (call_body_int64(call, body, key, &u->admit_per_minute) != 0)
            return -1;
        u->fields |= CONCERT_QUEUE_SET_ADMIT_PER_MINUTE;
        return 0;
    }
    if (strcmp(key, "opens_at") == 0) {
        /* The times this server writes and reads everywhere else. */
        if (!json_object_is_type(value, json_type_string) ||
            timefmt_parse(json_object_get_string(value), &u->opens_at) != 0) {
            reply_malformed(call->resp,
                            "opens_at: must be an RFC 3339 time, e.g. \"2026-12-24T19:00:00Z\"");
            return -1;
        }
        u->fields |= CONCERT_QUEUE_SET_OPENS_AT;
        return 0;
    }
    /* Unlike elsewhere, an unknown member is refused: a typo here would
     * otherwise change nothing while the operator believes it did. */
    char message[160];
    const int n = snprintf(message, sizeof message,
                           "unknown member '%.40s': give only max_active, admit_per_minute, "
                           "opens_at",
                           key);
    reply_malformed(call->resp, n > 0 ? message : "unknown member");
    return -1;
}

void handle_admin_queue_put(api_call *call)
{
    struct json_object *body = NULL;
    if (call_body_object(call, &body) != 0)
        return;
    concert_queue_update update = CONCERT_QUEUE_UPDATE_INIT;
    json_object_object_foreach(body, key, value)
    {
        if (read_update_member(call, body, key, value, &update) != 0) {
            json_object_put(body);
            return;
        }
    }
    json_object_put(body);
    if (update.fields == 0) {
        reply_malformed(call->resp, "give at least one of max_active, admit_per_minute, opens_at");
        return;
    }

    concert_queue_settings after;
    const int rc = concert_queue_update_apply(&after, call->ctx->db, &update);
    if (rc < 0) {
        reply_library_error(call->resp, rc);
        return;
    }
    reply_settings(call, &after);
}

/* The state changes: one library call each, 204 on success. */
static void reply_state_change(api_call *call, int rc)
{
    if (rc < 0) {
        reply_library_error(call->resp, rc);
        return;
    }
    reply_empty(call->resp, 204);
    no_store(call);
}

void handle_admin_queue_pause(api_call *call)
{
    reply_state_change(call, concert_queue_pause(call->ctx->db));
}

void handle_admin_queue_resume(api_call *call)
{
    reply_state_change(call, concert_queue_resume(call->ctx->db));
}

void handle_admin_queue_close(api_call *call)
{
    reply_state_change(call, concert_queue_close(call->ctx->db));
}

void handle_admin_queue_open(api_call *call)
{
    reply_state_change(call, concert_queue_open(call->ctx->db));
}
