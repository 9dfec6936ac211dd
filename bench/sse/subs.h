/*
 * Server-Sent Events subscribers of one concertd, all driven by one epoll
 * loop on the calling thread (non-blocking sockets; no thread per client):
 * connect them, read their streams (chunked or not), parse the events, and
 * time how long an expected change takes to reach each of them.
 *
 * A queue subscriber watches GET /api/v1/queue/tokens/current/events of a
 * WAITING token: a change is delivered when an event shows a lower position
 * or another state. A seat subscriber watches GET
 * /api/v1/schedules/{id}/seats/events with an ACTIVE token: a change is
 * delivered when a "seats" event carries the expected seat in the expected
 * status.
 */
#ifndef SSE_BENCH_SUBS_H
#define SSE_BENCH_SUBS_H

#include <stddef.h>
#include <stdint.h>

#include "stats.h"

typedef enum sub_kind {
    SUB_QUEUE,
    SUB_SEATS
} sub_kind;

typedef struct subs_pool subs_pool;

/* A pool for the server on 127.0.0.1:port; seat subscribers watch
 * schedule_id. NULL when out of memory or epoll fails. */
subs_pool *subs_new(int port, int64_t schedule_id);
void subs_free(subs_pool *p);

/* Add a subscriber (not connected yet). 0 or -1. */
int subs_add(subs_pool *p, sub_kind kind, const char *token);

typedef struct subs_counts {
    size_t open[2];          /* streams open with their first event, by kind */
    size_t failed;           /* could not connect, or a non-200 reply */
    size_t finished;         /* streams the server ended for good (ACTIVE, error) */
    size_t dropped;          /* streams closed by the server unasked */
    uint64_t events;         /* events received (keepalive comments not counted) */
    uint64_t keepalives;     /* comment lines received */
    uint64_t error_events;   /* "event: error" received */
    uint64_t bytes;          /* body bytes received */
    char first_failure[256]; /* what the first failure was */
} subs_counts;

void subs_get_counts(const subs_pool *p, subs_counts *out);

/* Connect every subscriber not connected whose token may still stream,
 * at most inflight handshakes at a time, and wait until each has its
 * first event, has failed, or timeout_s passed. The number that have
 * their first event (open now). */
size_t subs_connect(subs_pool *p, size_t inflight, double timeout_s);

/* Close every stream (they may be connected again). */
void subs_disconnect(subs_pool *p);

/* Read whatever has arrived, waiting at most timeout_ms. */
void subs_pump(subs_pool *p, int timeout_ms);

/* From time t0 on, every open queue subscriber expects its position to
 * go down (or its state to change). Returns how many expect it. */
size_t subs_expect_queue(subs_pool *p, double t0, samples *latencies);
/* From t0 on, every open seat subscriber expects a "seats" event with
 * seat in status (e.g. "FREE"; "!FREE": any other). Returns how many expect it. */
size_t subs_expect_seat(subs_pool *p, double t0, int64_t seat, const char *status,
                        samples *latencies);

/* Pump until every expected change arrived or timeout_s passed; each
 * arrival adds its latency in ms (from t0) to the samples given to the
 * expect call. Returns how many arrived; those still expected are
 * forgotten. */
size_t subs_wait(subs_pool *p, double timeout_s);

#endif
