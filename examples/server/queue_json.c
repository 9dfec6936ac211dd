/*
 * Queue JSON members (see queue_json.h).
 */
#include "queue_json.h"

#include <string.h>

void queue_json_eta(json_out *w, int64_t eta_ms)
{
    if (eta_ms < 0)
        json_out_null(w);
    else
        json_out_int(w, eta_ms / 1000 + (eta_ms % 1000 != 0));
}

void queue_json_time_or_null(json_out *w, int64_t ms)
{
    if (ms > 0)
        json_out_time(w, ms);
    else
        json_out_null(w);
}

void queue_json_settings(json_out *w, const concert_queue_settings *s)
{
    JSON_OUT_KEY(w, "state");
    json_out_string(w, concert_queue_state_name(s->state)); /* null if unknown */
    JSON_OUT_KEY(w, "max_active");
    json_out_int(w, s->max_active);
    JSON_OUT_KEY(w, "admit_per_minute");
    json_out_int(w, s->admit_per_minute);
    JSON_OUT_KEY(w, "opens_at");
    queue_json_time_or_null(w, s->state == CONCERT_QUEUE_SCHEDULED ? s->opens_at : 0);
}

void queue_json_counts(json_out *w, const concert_queue_stats *st)
{
    JSON_OUT_KEY(w, "waiting");
    json_out_int(w, st->waiting);
    JSON_OUT_KEY(w, "active");
    json_out_int(w, st->active);
    JSON_OUT_KEY(w, "prequeued");
    json_out_int(w, st->prequeued);
    JSON_OUT_KEY(w, "eta_seconds");
    queue_json_eta(w, st->eta_ms);
}

void queue_settings_from_stats(concert_queue_settings *out, const concert_queue_stats *st)
{
    memset(out, 0, sizeof *out);
    out->max_active = st->max_active;
    out->admit_per_minute = st->admit_per_minute;
    out->state = st->state;
    out->opens_at = st->opens_at;
}

void queue_json_token(json_out *w, const concert_token_info *info, const char *queue_state)
{
    const int prequeue = info->position == CONCERT_POSITION_PREQUEUE;
    json_out_object_begin(w);
    JSON_OUT_KEY(w, "token");
    json_out_string(w, info->token);
    JSON_OUT_KEY(w, "user_id");
    json_out_int(w, info->user_id);
    JSON_OUT_KEY(w, "status");
    json_out_string(w, concert_token_state_name(info->state));
    JSON_OUT_KEY(w, "position");
    if (prequeue) /* no place yet: the opening lottery gives it */
        json_out_null(w);
    else
        json_out_int(w, info->position); /* the library gives 0 when ACTIVE */
    JSON_OUT_KEY(w, "prequeue");
    json_out_bool(w, prequeue);
    JSON_OUT_KEY(w, "queue_state");
    json_out_string(w, queue_state);
    JSON_OUT_KEY(w, "eta_seconds");
    queue_json_eta(w, info->eta_ms);
    JSON_OUT_KEY(w, "expires_at");
    queue_json_time_or_null(w, info->expires_at);
    json_out_object_end(w);
}
