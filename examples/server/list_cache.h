/*
 * Rendered free lists, kept while the store says they are current (issue
 * 12): the seat list of a schedule and the schedule list of a concert change
 * only with a hold, a release, a sale or an expiry, so concertd renders each
 * once per change instead of once per request.
 *
 * An entry is keyed by the list's id and labelled with the version
 * (concert_list_version) read BEFORE the list it holds was read. A lookup
 * hits only under an equal version, so an entry can never be served stale:
 * any change gives a new version, and the entry is simply not found. There
 * is no expiry and no invalidation to get wrong.
 *
 * Bounded: a fixed number of entries (sets of four, the oldest way of a set
 * replaced), allocated once. Thread-safe: one mutex per set, held only to
 * compare a key and take a reference; bodies are rendered outside it.
 * Bodies are shared by reference count, so a hit copies nothing and an
 * evicted body lives on until the last response that sends it is done.
 */
#ifndef CONCERTD_LIST_CACHE_H
#define CONCERTD_LIST_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include <concert/concert.h>

/* A rendered body with a reference count. */
typedef struct list_body list_body;

/* Wrap data (malloc()ed, len bytes; owned from now on) in a body with one
 * reference. NULL when out of memory (data is freed then). */
list_body *list_body_new(char *data, size_t len);
const char *list_body_data(const list_body *body);
size_t list_body_len(const list_body *body);
void list_body_ref(list_body *body);
/* Drop one reference (body is a list_body *, or NULL); the last frees it.
 * Takes void * so that a transport can call it as a free callback. */
void list_body_unref(void *body);

typedef struct list_cache list_cache;

/* A cache of about entries (rounded up to whole sets; at least one set).
 * NULL when out of memory. */
list_cache *list_cache_new(size_t entries);
/* Free the cache and drop its references; NULL is allowed. No other thread
 * may use it any more. */
void list_cache_free(list_cache *cache);
/* How many entries it holds at most. */
size_t list_cache_capacity(const list_cache *cache);

/* The body kept for id under a version equal to *version (every field), with
 * a new reference for the caller; NULL when there is none. */
list_body *list_cache_get(list_cache *cache, int64_t id, const concert_list_version *version);

/* Keep body for id under *version (the cache takes its own reference),
 * replacing what it held for id, or the oldest entry of id's set. */
void list_cache_put(list_cache *cache, int64_t id, const concert_list_version *version,
                    list_body *body);

#endif
