/*
 * How many live-update streams one queue token may hold open at once.
 *
 * An event stream lives as long as its client wants, unlike a request that
 * the connection timeout ends, so without a cap one buyer could hold most
 * of the server's connection slots with a single token and keep the rest of
 * the crowd out. A few per token cover a buyer's tabs.
 *
 * Thread-safe (one mutex, held for a hash lookup). Tokens are kept as a
 * keyed 64-bit hash (the key random per process), never as text.
 */
#ifndef CONCERTD_STREAM_QUOTA_H
#define CONCERTD_STREAM_QUOTA_H

#include <stdint.h>

/* Streams one token may hold open at once (both routes together). */
#define STREAM_QUOTA_PER_TOKEN 4

typedef struct stream_quota stream_quota;

/* A quota of per_token streams per token; NULL when out of memory. */
stream_quota *stream_quota_new(unsigned per_token);
/* Free it; no stream may still hold a slot. NULL is a no-op. */
void stream_quota_free(stream_quota *q);

/* Take a slot for token: 0 and *slot (give it back with
 * stream_quota_give()), 1 when the token already holds per_token, -1 when
 * out of memory. */
int stream_quota_take(stream_quota *q, const char *token, uint64_t *slot);
/* Give back a slot stream_quota_take() returned. */
void stream_quota_give(stream_quota *q, uint64_t slot);

/* Slots held now (for tests). */
uint64_t stream_quota_held(stream_quota *q);

#endif
