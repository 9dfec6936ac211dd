/*
 * The schedules this db has read, so that a hold or a seat listing does not
 * ask the store about its schedule every time (on PostgreSQL that made a
 * hold two round trips).
 *
 * Safe because catalog rows never change once loaded (storage.h): an entry
 * is never stale. Only schedules that exist are cached; one loaded later by
 * another process is read from the store at its first use. Open addressing
 * over a fixed table: when it is full, lookups simply go to the store.
 */
#include <pthread.h>
#include <stdlib.h>

#include "internal.h"

/* 16384 schedules x 32 bytes = 512 KiB at most, allocated on first use. */
#define SLOTS 16384u
#define PROBES 8u

struct concert__schedule_cache {
    pthread_mutex_t lock;
    concert_storage_schedule *slots; /* id 0 = empty */
};

int concert__schedule_cache_new(concert_db *db)
{
    concert__schedule_cache *c = calloc(1, sizeof(*c));
    if (!c)
        return concert__error_set(CONCERT_ENOMEM, "out of memory for the schedule cache");
    if (pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c);
        return concert__error_set(CONCERT_ENOMEM, "cannot create the schedule cache lock");
    }
    db->schedule_cache = c;
    return CONCERT_OK;
}

void concert__schedule_cache_free(concert_db *db)
{
    concert__schedule_cache *c = db->schedule_cache;
    if (!c)
        return;
    pthread_mutex_destroy(&c->lock);
    free(c->slots);
    free(c);
    db->schedule_cache = NULL;
}

static size_t slot_of(int64_t id, unsigned probe)
{
    uint64_t h = (uint64_t)id * UINT64_C(0x9E3779B97F4A7C15);
    return (size_t)((h >> 40) + probe) & (SLOTS - 1);
}

static int cached(concert__schedule_cache *c, int64_t id, concert_storage_schedule *out)
{
    int found = 0;
    pthread_mutex_lock(&c->lock);
    for (unsigned p = 0; c->slots && p < PROBES; p++) {
        const concert_storage_schedule *s = &c->slots[slot_of(id, p)];
        if (s->id == id) {
            *out = *s;
            found = 1;
            break;
        }
        if (s->id == 0)
            break;
    }
    pthread_mutex_unlock(&c->lock);
    return found;
}

static void remember(concert__schedule_cache *c, const concert_storage_schedule *s)
{
    pthread_mutex_lock(&c->lock);
    if (!c->slots)
        c->slots = calloc(SLOTS, sizeof(*c->slots)); /* NULL: just not cached */
    for (unsigned p = 0; c->slots && p < PROBES; p++) {
        concert_storage_schedule *slot = &c->slots[slot_of(s->id, p)];
        if (slot->id == 0 || slot->id == s->id) {
            *slot = *s;
            break;
        }
    }
    pthread_mutex_unlock(&c->lock);
}

int concert__schedule_lookup(concert_db *db, int64_t schedule_id, concert_storage_schedule *out)
{
    int rc;
    if (cached(db->schedule_cache, schedule_id, out))
        return CONCERT_OK;
    if ((rc = concert__st_schedule_get(db, schedule_id, out)) != 0)
        return rc;
    if (out->id == schedule_id) /* a backend reporting another id is not cached */
        remember(db->schedule_cache, out);
    return CONCERT_OK;
}
