/*
 * The rendered-list cache (see list_cache.h).
 */
#include "list_cache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define WAYS 4u

struct list_body {
    atomic_size_t refs;
    size_t len;
    char *data;
};

typedef struct cache_entry {
    int64_t id; /* 0: empty (list ids are positive) */
    concert_list_version version;
    list_body *body;
} cache_entry;

typedef struct cache_set {
    pthread_mutex_t lock;
    unsigned next_way; /* the way the next new id replaces */
    cache_entry ways[WAYS];
} cache_set;

struct list_cache {
    size_t set_count; /* a power of two */
    cache_set *sets;
};

list_body *list_body_new(char *data, size_t len)
{
    list_body *body = malloc(sizeof *body);
    if (body == NULL) {
        free(data);
        return NULL;
    }
    atomic_init(&body->refs, 1);
    body->len = len;
    body->data = data;
    return body;
}

const char *list_body_data(const list_body *body)
{
    return body->data;
}

size_t list_body_len(const list_body *body)
{
    return body->len;
}

void list_body_ref(list_body *body)
{
    atomic_fetch_add_explicit(&body->refs, 1, memory_order_relaxed);
}

void list_body_unref(void *opaque)
{
    list_body *body = opaque;
    if (body == NULL)
        return;
    /* acq_rel: the thread that frees sees every use the others made. */
    if (atomic_fetch_sub_explicit(&body->refs, 1, memory_order_acq_rel) == 1) {
        free(body->data);
        free(body);
    }
}

list_cache *list_cache_new(size_t entries)
{
    size_t sets = 1;
    while (sets * WAYS < entries && sets < ((size_t)1 << 20))
        sets *= 2;
    list_cache *cache = calloc(1, sizeof *cache);
    if (cache == NULL)
        return NULL;
    cache->sets = calloc(sets, sizeof *cache->sets);
    if (cache->sets == NULL) {
        free(cache);
        return NULL;
    }
    for (size_t i = 0; i < sets; i++) {
        if (pthread_mutex_init(&cache->sets[i].lock, NULL) != 0) {
            while (i-- > 0)
                pthread_mutex_destroy(&cache->sets[i].lock);
            free(cache->sets);
            free(cache);
            return NULL;
        }
    }
    cache->set_count = sets;
    return cache;
}

void list_cache_free(list_cache *cache)
{
    if (cache == NULL)
        return;
    for (size_t i = 0; i < cache->set_count; i++) {
        for (unsigned w = 0; w < WAYS; w++)
            list_body_unref(cache->sets[i].ways[w].body);
        pthread_mutex_destroy(&cache->sets[i].lock);
    }
    free(cache->sets);
    free(cache);
}

size_t list_cache_capacity(const list_cache *cache)
{
    return cache->set_count * WAYS;
}

/* Ids are small and dense; a mix spreads neighbours over the sets. */
static cache_set *set_of(list_cache *cache, int64_t id)
{
    uint64_t x = (uint64_t)id;
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    return &cache->sets[x & (cache->set_count - 1)];
}

static int same_version(const concert_list_version *a, const concert_list_version *b)
{
    return a->epoch == b->epoch && a->changes == b->changes &&
           a->expired_through == b->expired_through && a->past == b->past;
}

list_body *list_cache_get(list_cache *cache, int64_t id, const concert_list_version *version)
{
    cache_set *set = set_of(cache, id);
    list_body *found = NULL;
    pthread_mutex_lock(&set->lock);
    for (unsigned w = 0; w < WAYS; w++) {
        cache_entry *e = &set->ways[w];
        if (e->id == id && e->body != NULL) {
            if (same_version(&e->version, version)) {
                found = e->body;
                list_body_ref(found);
            }
            break;
        }
    }
    pthread_mutex_unlock(&set->lock);
    return found;
}

void list_cache_put(list_cache *cache, int64_t id, const concert_list_version *version,
                    list_body *body)
{
    if (id <= 0 || body == NULL)
        return;
    cache_set *set = set_of(cache, id);
    list_body_ref(body);
    pthread_mutex_lock(&set->lock);
    unsigned way = WAYS;
    for (unsigned w = 0; w < WAYS && way == WAYS; w++) {
        if (set->ways[w].id == id)
            way = w;
    }
    for (unsigned w = 0; w < WAYS && way == WAYS; w++) {
        if (set->ways[w].id == 0)
            way = w;
    }
    if (way == WAYS) {
        way = set->next_way;
        set->next_way = (set->next_way + 1) % WAYS;
    }
    cache_entry *e = &set->ways[way];
    list_body *old = e->body;
    e->id = id;
    e->version = *version;
    e->body = body;
    pthread_mutex_unlock(&set->lock);
    list_body_unref(old); /* outside the lock: it may free 40 KB */
}
