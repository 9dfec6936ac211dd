/*
 * The live-update hub: ONE thread per process that polls the library on
 * behalf of every Server-Sent Events subscriber (docs/http.md, "Live
 * updates").
 *
 * Subscriptions are grouped by queue token and by schedule, so that the
 * store work of a tick depends on what is watched, not on how many watch
 * it: per tick one concert_queue_status_get() per watched token (a WAITING
 * token is answered from the library's poll cache) and one
 * concert_seat_list_version_get() per watched schedule; the seat map is read and
 * rendered only when that version changed, and the diff from the previous
 * map is computed once. Each event is rendered once into a shared frame
 * (list_body) that every subscriber's queue references.
 *
 * Threading: subscribing is safe from any thread (an HTTP worker); all
 * watch state is the hub thread's own.
 */
#ifndef CONCERTD_SSE_HUB_H
#define CONCERTD_SSE_HUB_H

#include <stdint.h>

#include <concert/concert.h>

#include "sse_stream.h"

/* How often the hub looks for changes. */
#define SSE_HUB_TICK_MS 500
/* A comment line every this often keeps proxies and clients from giving
 * up on a quiet stream, and finds clients that went away. */
#define SSE_HUB_KEEPALIVE_MS 15000
/* How often a token that only seat streams use (ACTIVE) is checked for
 * having ended: a payment or a leave ends it before its lifetime does. */
#define SSE_HUB_ACTIVE_RECHECK_MS 2000

typedef struct sse_hub sse_hub;

/* A hub for db (kept, not copied). NULL when out of memory. */
sse_hub *sse_hub_new(concert_db *db);
/* Run the hub's thread: 0, or -1. Without it, sse_hub_run_once() drives
 * the hub (tests). */
int sse_hub_start(sse_hub *hub);
/* End every stream (their responses finish what is queued, then close),
 * refuse new subscriptions and join the thread. Idempotent; NULL is a
 * no-op. */
void sse_hub_stop(sse_hub *hub);
/* Stop, then free. NULL is allowed. */
void sse_hub_free(sse_hub *hub);

/* Subscribe stream (the hub takes its own reference) to token's queue
 * document: one event at once, then one per change, the stream ending
 * after the ACTIVE one. The token was checked by the caller. 0, or -1
 * when the hub is stopping or out of memory. */
int sse_hub_watch_queue(sse_hub *hub, sse_stream *stream, const char *token);
/* Subscribe stream to schedule_id's seat map (read with token, an ACTIVE
 * token checked by the caller): the map at once, then each change as a
 * diff; the stream ends when token stops being ACTIVE. 0 or -1. */
int sse_hub_watch_seats(sse_hub *hub, sse_stream *stream, const char *token, int64_t schedule_id);

/* One tick (new subscriptions, every check, keepalives if due), on the
 * calling thread: for tests that run no hub thread. */
void sse_hub_run_once(sse_hub *hub);

typedef struct sse_hub_counts {
    uint64_t queue_clients; /* queue streams open now */
    uint64_t seat_clients;  /* seat streams open now */
    uint64_t events_sent;   /* events queued to subscribers so far
                                 (keepalive comments not counted) */
} sse_hub_counts;

/* The hub's figures (for /metrics); NULL hub gives zeros. */
void sse_hub_stats(const sse_hub *hub, sse_hub_counts *out);

#endif
