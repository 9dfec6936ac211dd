/*
 * The hold watcher (see hold_watch.h).
 *
 * Holds sit in an array in the order they were made: with one hold TTL for
 * the whole store, held_until grows with it (two threads racing by a
 * millisecond only delay one decision by as much). A hash from reservation
 * id to array position lets a payment or a release settle its holds in O(1).
 */
#include "hold_watch.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Decide a hold this long after held_until: a payment that succeeded just
 * before it ran out has settled it by then. */
#define GRACE_MS 1000
/* Longest sleep between looks at the clock. */
#define TICK_MS 1000

typedef struct watched {
    int64_t id;
    int64_t held_until;
    int settled;
    char token[CONCERT_TOKEN_SIZE];
} watched;

typedef struct slot {
    int64_t id;   /* 0: empty (reservation ids start at 1) */
    uint64_t seq; /* position in the array, counted from the start */
} slot;

/* A token a payment through this process ended, until when to remember it. */
typedef struct ended_token {
    int64_t until; /* 0: empty */
    char token[CONCERT_TOKEN_SIZE];
} ended_token;

struct hold_watch {
    concert_db *db;
    metrics *m;
    int64_t hold_ttl_ms;
    ended_token *ended; /* open addressing by the token's hash; nended a power of 2 */
    size_t nended;
    size_t ended_used;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stop;
    watched *items; /* items[seq - base] for base <= seq < end */
    uint64_t base;  /* seq of items[0] */
    uint64_t head;  /* next seq to decide */
    uint64_t end;   /* next seq to add */
    size_t cap;
    slot *slots; /* open addressing, linear probing; nslots a power of 2 */
    size_t nslots;
    size_t used;
};

static size_t slot_of(const hold_watch *w, int64_t id)
{
    uint64_t h = (uint64_t)id * UINT64_C(0x9E3779B97F4A7C15);
    return (size_t)(h >> 17) & (w->nslots - 1);
}

static slot *hash_find(hold_watch *w, int64_t id)
{
    for (size_t i = slot_of(w, id);; i = (i + 1) & (w->nslots - 1)) {
        if (w->slots[i].id == id)
            return &w->slots[i];
        if (w->slots[i].id == 0)
            return NULL;
    }
}

static int hash_grow(hold_watch *w)
{
    const size_t n = w->nslots ? w->nslots * 2 : 1024;
    slot *fresh = calloc(n, sizeof *fresh);
    if (fresh == NULL)
        return -1;
    slot *old = w->slots;
    const size_t old_n = w->nslots;
    w->slots = fresh;
    w->nslots = n;
    for (size_t i = 0; i < old_n; i++) {
        if (old[i].id == 0)
            continue;
        size_t j = slot_of(w, old[i].id);
        while (fresh[j].id != 0)
            j = (j + 1) & (n - 1);
        fresh[j] = old[i];
    }
    free(old);
    return 0;
}

static int hash_put(hold_watch *w, int64_t id, uint64_t seq)
{
    if ((w->used + 1) * 2 > w->nslots && hash_grow(w) != 0)
        return -1;
    size_t i = slot_of(w, id);
    while (w->slots[i].id != 0 && w->slots[i].id != id)
        i = (i + 1) & (w->nslots - 1);
    if (w->slots[i].id == 0)
        w->used++;
    w->slots[i].id = id;
    w->slots[i].seq = seq;
    return 0;
}

/* Remove id, shifting later entries of its probe run back (no tombstones). */
static void hash_remove(hold_watch *w, int64_t id)
{
    slot *s = hash_find(w, id);
    if (s == NULL)
        return;
    size_t i = (size_t)(s - w->slots);
    w->slots[i].id = 0;
    w->used--;
    for (size_t j = (i + 1) & (w->nslots - 1); w->slots[j].id != 0; j = (j + 1) & (w->nslots - 1)) {
        const size_t home = slot_of(w, w->slots[j].id);
        /* Move j back to i unless its home lies cyclically in (i, j]. */
        const int stays = (i <= j) ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            w->slots[i] = w->slots[j];
            w->slots[j].id = 0;
            i = j;
        }
    }
}

static size_t token_hash(const char *token)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325); /* FNV-1a */
    for (const char *p = token; *p != '\0'; p++)
        h = (h ^ (unsigned char)*p) * UINT64_C(0x100000001b3);
    return (size_t)h;
}

static ended_token *ended_find(hold_watch *w, const char *token)
{
    if (w->nended == 0)
        return NULL;
    for (size_t i = token_hash(token) & (w->nended - 1);; i = (i + 1) & (w->nended - 1)) {
        if (w->ended[i].until == 0)
            return NULL;
        if (strcmp(w->ended[i].token, token) == 0)
            return &w->ended[i];
    }
}

static void ended_insert(ended_token *table, size_t n, const ended_token *e)
{
    size_t i = token_hash(e->token) & (n - 1);
    while (table[i].until != 0)
        i = (i + 1) & (n - 1);
    table[i] = *e;
}

/* Room for one more ended token: rebuild without the ones past their
 * time, twice as large when more than a quarter is still in use. */
static int ended_make_room(hold_watch *w, int64_t now)
{
    if ((w->ended_used + 1) * 2 <= w->nended)
        return 0;
    size_t live = 0;
    for (size_t i = 0; i < w->nended; i++)
        live += w->ended[i].until > now;
    size_t n = w->nended ? w->nended : 256;
    while ((live + 1) * 4 > n)
        n *= 2;
    ended_token *fresh = calloc(n, sizeof *fresh);
    if (fresh == NULL)
        return -1;
    for (size_t i = 0; i < w->nended; i++) {
        if (w->ended[i].until > now)
            ended_insert(fresh, n, &w->ended[i]);
    }
    free(w->ended);
    w->ended = fresh;
    w->nended = n;
    w->ended_used = live;
    return 0;
}

void hold_watch_token_ended(hold_watch *w, const char *token)
{
    if (w == NULL || strlen(token) >= CONCERT_TOKEN_SIZE)
        return;
    const int64_t now = concert_db_now(w->db);
    pthread_mutex_lock(&w->lock);
    ended_token *e = ended_find(w, token);
    /* Every hold of the token ends by now + its TTL; its decision comes a
     * grace later. A minute more covers a hold made during this payment. */
    const int64_t until = now + w->hold_ttl_ms + GRACE_MS + 60000;
    if (e != NULL) {
        e->until = until;
    } else if (ended_make_room(w, now) == 0) {
        ended_token fresh;
        memset(&fresh, 0, sizeof fresh);
        fresh.until = until;
        memcpy(fresh.token, token, strlen(token) + 1);
        ended_insert(w->ended, w->nended, &fresh);
        w->ended_used++;
    }
    pthread_mutex_unlock(&w->lock);
}

/* Room for one more item: drop decided ones from the front, or grow. */
static int make_room(hold_watch *w)
{
    if (w->end - w->base < w->cap)
        return 0;
    const size_t decided = (size_t)(w->head - w->base);
    if (decided >= w->cap / 2 && decided > 0) {
        memmove(w->items, w->items + decided, (size_t)(w->end - w->head) * sizeof *w->items);
        w->base = w->head;
        return 0;
    }
    const size_t cap = w->cap ? w->cap * 2 : 1024;
    watched *grown = realloc(w->items, cap * sizeof *grown);
    if (grown == NULL)
        return -1;
    w->items = grown;
    w->cap = cap;
    return 0;
}

void hold_watch_add(hold_watch *w, const char *token, int64_t reservation_id, int64_t held_until)
{
    if (w == NULL || reservation_id <= 0 || strlen(token) >= CONCERT_TOKEN_SIZE)
        return;
    pthread_mutex_lock(&w->lock);
    if (make_room(w) == 0 && hash_put(w, reservation_id, w->end) == 0) {
        watched *it = &w->items[w->end - w->base];
        it->id = reservation_id;
        it->held_until = held_until;
        it->settled = 0;
        memcpy(it->token, token, strlen(token) + 1);
        w->end++;
    }
    pthread_mutex_unlock(&w->lock);
}

int hold_watch_settle(hold_watch *w, int64_t reservation_id)
{
    if (w == NULL)
        return -1;
    int result = -1;
    pthread_mutex_lock(&w->lock);
    slot *s = hash_find(w, reservation_id);
    if (s != NULL) {
        watched *it = &w->items[s->seq - w->base];
        result = it->settled ? 0 : 1;
        it->settled = 1;
    }
    pthread_mutex_unlock(&w->lock);
    return result;
}

/* The one store read for a hold nobody here paid or released. */
static void decide(hold_watch *w, const watched *it)
{
    concert_reservation r;
    const int rc = concert_reservation_get(&r, w->db, it->token, it->id);
    if (rc == 0) {
        if (r.status == CONCERT_RESERVATION_EXPIRED)
            metrics_add(w->m, METRIC_HOLDS_EXPIRED, 1);
        return;
    }
    if (rc == CONCERT_ETOKEN_INVALID || rc == CONCERT_ETOKEN_NOT_ACTIVE) {
        pthread_mutex_lock(&w->lock);
        const int ended_here = ended_find(w, it->token) != NULL;
        pthread_mutex_unlock(&w->lock);
        if (ended_here) /* see hold_watch.h */
            metrics_add(w->m, METRIC_HOLDS_EXPIRED, 1);
    }
    /* Anything else (the store failing): not known, not counted. */
}

static void *run(void *arg)
{
    hold_watch *w = arg;
    pthread_mutex_lock(&w->lock);
    while (!w->stop) {
        const int64_t now = concert_db_now(w->db);
        if (w->head < w->end) {
            const watched *front = &w->items[w->head - w->base];
            if (front->held_until + GRACE_MS <= now) {
                const watched it = *front;
                hash_remove(w, it.id);
                w->head++;
                pthread_mutex_unlock(&w->lock);
                if (!it.settled)
                    decide(w, &it);
                pthread_mutex_lock(&w->lock);
                continue;
            }
        }
        int64_t wait_ms = TICK_MS;
        if (w->head < w->end) {
            const int64_t due = w->items[w->head - w->base].held_until + GRACE_MS - now;
            if (due < wait_ms)
                wait_ms = due > 1 ? due : 1;
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += (time_t)(wait_ms / 1000);
        until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        int rc = pthread_cond_timedwait(&w->wake, &w->lock, &until);
        (void)rc; /* a timeout or a wake-up: look again either way */
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

hold_watch *hold_watch_start(concert_db *db, metrics *m, int64_t hold_ttl_ms)
{
    hold_watch *w = calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    w->db = db;
    w->m = m;
    w->hold_ttl_ms = hold_ttl_ms;
    if (hash_grow(w) != 0) {
        free(w);
        return NULL;
    }
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    if (pthread_create(&w->thread, NULL, run, w) != 0) {
        pthread_cond_destroy(&w->wake);
        pthread_mutex_destroy(&w->lock);
        free(w->slots);
        free(w);
        return NULL;
    }
    return w;
}

void hold_watch_stop(hold_watch *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->lock);
    w->stop = 1;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    free(w->items);
    free(w->slots);
    free(w->ended);
    free(w);
}
