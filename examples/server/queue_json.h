/*
 * The queue's settings and counts as JSON members, shared by the public
 * queue page, the admin routes and the token replies.
 */
#ifndef CONCERTD_QUEUE_JSON_H
#define CONCERTD_QUEUE_JSON_H

#include <stdint.h>

#include <concert/concert.h>

#include "json_out.h"

/* An estimate in ms (-1 unknown) as whole seconds rounded up, or null:
 * "0 seconds" while still waiting would mislead. */
void queue_json_eta(json_out *w, int64_t eta_ms);

/* ms since the epoch, or null for 0 (no such time). */
void queue_json_time_or_null(json_out *w, int64_t ms);

/* "state", "max_active", "admit_per_minute", "opens_at" of s, as members of
 * the object being written. */
void queue_json_settings(json_out *w, const concert_queue_settings *s);

/* "waiting", "active", "prequeued", "eta_seconds" of st, as members. */
void queue_json_counts(json_out *w, const concert_queue_stats *st);

/* A token's document, as GET /api/v1/queue/tokens/current and the queue
 * event stream send it: {"token", "user_id", "status", "position",
 * "prequeue", "queue_state", "eta_seconds", "expires_at"}. queue_state may
 * be NULL (null). */
void queue_json_token(json_out *w, const concert_token_info *info, const char *queue_state);

/* The settings part of st (the cached copy the stats carry) as a
 * concert_queue_settings. */
void queue_settings_from_stats(concert_queue_settings *out, const concert_queue_stats *st);

#endif
