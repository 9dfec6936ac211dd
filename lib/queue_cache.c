/*
 * The db's cached view of the queue, so that a WAITING buyer's poll does not
 * reach the store (DESIGN.md, "Queue at on-sale scale").
 *
 * A poll needs two numbers: the token's ticket, which never changes, and the
 * admission horizon (admitted_through), which changes for everyone at once.
 *  - The view: the store's counts and settings (queue_stats), refreshed at
 *    most every queue_refresh_ms by one caller at a time; the refresh is
 *    also what runs admission when nobody else calls the store.
 *  - The token cache: for each WAITING token this db has seen, its ticket
 *    and its idle deadline as the store holds it. 64-byte-aligned buckets
 *    of two 32-byte entries, two buckets per token: a lookup reads one
 *    cache line, and the second bucket is prefetched alongside, so a token
 *    in it costs no second round trip to memory. Memory is bounded
 *    (MAX_BUCKETS).
 * A poll is answered here only when the answer is WAITING; anything that
 * may be ACTIVE or ended goes to the store. Positions never increase on one
 * db: the horizon only moves forward, also when the store's own answer
 * shows it further on than the view.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define WAYS 2
#define MIN_BUCKETS 256
/* 2^20 buckets x 64 bytes = 64 MiB at most, grown as needed: about 1.5
 * million waiting buyers on one process. Beyond that the entry closest to
 * its deadline is replaced (that buyer's next poll reaches the store). */
#define MAX_BUCKETS (1u << 20)
/* Deadlines are kept as 32-bit offsets from the cache's base: half the
 * window (24.8 days) on either side of the deadline that set it. */
#define DEADLINE_HALF_WINDOW (INT64_C(1) << 31)

/*
 * An entry is 32 bytes, so that two share a cache line. The key is 128
 * bits of the token's 192 random ones: the first 8 bytes as they are, the
 * next 8 mixed with a bijection of the last 8, so two tokens that differ
 * anywhere differ in the key but for a chance of 2^-64 or less (a typo is
 * never taken for a cached token). The mix is no secret: whoever holds a
 * token can make another text with its key, and polling that text answers
 * what the holder may ask anyway (that token's place), never another
 * buyer's. The ticket must fit 32 bits and the deadline the base's window;
 * a token that does not fit is not cached.
 */
typedef struct cache_entry {
    uint64_t key[2];
    int64_t user_id;
    uint32_t ticket;   /* 0: pre-queued */
    uint32_t deadline; /* the store's idle deadline - base; 0 = empty slot */
} cache_entry;

typedef struct cache_bucket {
    _Alignas(64) cache_entry way[WAYS];
} cache_bucket;

_Static_assert(sizeof(cache_entry) == 32, "two entries to a cache line");
_Static_assert(sizeof(cache_bucket) == 64, "a bucket is one cache line");

struct concert__queue_cache {
    pthread_mutex_t lock;
    concert_queue_stats view;
    int64_t view_at; /* when view was read; INT64_MIN: none */
    int refreshing;  /* a caller is reading the store for a new view */
    cache_bucket *table;
    size_t buckets; /* a power of two */
    size_t count;
    int64_t base; /* deadlines are stored as offsets from it */
};

/* ---- token keys ---- */

/* murmur3's 64-bit finaliser: a bijection that spreads every input bit. */
static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x *= UINT64_C(0xc4ceb9fe1a85ec53);
    x ^= x >> 33;
    return x;
}

/* The core's tokens are 32 base64url characters (24 bytes); anything else
 * (a caller's typo) is simply not cached. 1 if key was filled. */
static int key_of(const char *token, uint64_t key[2])
{
    unsigned char raw[CONCERT__TOKEN_BYTES];
    uint64_t part[3];
    if (!concert__token_decode(token, raw))
        return 0;
    memcpy(part, raw, sizeof(part));
    key[0] = part[0];
    key[1] = part[1] ^ mix64(part[2]);
    return 1;
}

static int key_equal(const uint64_t a[2], const uint64_t b[2])
{
    return ((a[0] ^ b[0]) | (a[1] ^ b[1])) == 0;
}

/* Each key may live in either of two buckets ("two choices"), one per half
 * of the key: random bits already, and both are stored, so an entry's other
 * bucket is known when it has to move. */
static cache_bucket *bucket_of(const cache_bucket *table, size_t buckets, const uint64_t key[2],
                               int which)
{
    return (cache_bucket *)&table[(size_t)key[which] & (buckets - 1)];
}

static cache_entry *bucket_find(cache_bucket *b, const uint64_t key[2])
{
    for (int w = 0; w < WAYS; w++) {
        if (b->way[w].deadline != 0 && key_equal(b->way[w].key, key))
            return &b->way[w];
    }
    return NULL;
}

static cache_entry *entry_find(concert__queue_cache *c, const uint64_t key[2])
{
    cache_bucket *first, *second;
    cache_entry *e;
    if (!c->table)
        return NULL;
    first = bucket_of(c->table, c->buckets, key, 0);
    second = bucket_of(c->table, c->buckets, key, 1);
    /* Both lines are fetched at once: a key found in the second bucket
     * then costs no second wait for memory. */
    __builtin_prefetch(second);
    if ((e = bucket_find(first, key)) != NULL)
        return e;
    return bucket_find(second, key);
}

static int bucket_free_ways(const cache_bucket *b, cache_entry **first)
{
    int n = 0;
    *first = NULL;
    for (int w = WAYS - 1; w >= 0; w--) {
        if (b->way[w].deadline == 0) {
            n++;
            *first = (cache_entry *)&b->way[w];
        }
    }
    return n;
}

/*
 * An empty way for key in table: in its first bucket, else its second (a
 * lookup finds most keys in the line it reads first), else made by moving
 * one entry of those buckets to its own other bucket (one step of cuckoo
 * hashing, which lets two-way buckets fill to about nine tenths). NULL if
 * there is none.
 */
static cache_entry *entry_place(cache_bucket *table, size_t buckets, const uint64_t key[2])
{
    cache_bucket *b[2] = { bucket_of(table, buckets, key, 0), bucket_of(table, buckets, key, 1) };
    cache_entry *free_way;

    if (bucket_free_ways(b[0], &free_way) > 0 || bucket_free_ways(b[1], &free_way) > 0)
        return free_way;
    for (int i = 0; i < 2; i++) {
        for (int w = 0; w < WAYS; w++) {
            cache_entry *e = &b[i]->way[w], *dest;
            cache_bucket *other = bucket_of(table, buckets, e->key, 0);
            if (other == b[i])
                other = bucket_of(table, buckets, e->key, 1);
            if (other != b[i] && bucket_free_ways(other, &dest) > 0) {
                *dest = *e;
                memset(e, 0, sizeof(*e));
                return e;
            }
        }
    }
    return NULL;
}

/* 2 MiB pages (MADV_HUGEPAGE) and a prefetch issued before the lock were
 * tried against the TLB and the lock's latency: neither was faster at a
 * million waiting tokens on the 2-core VM of docs/performance.md. */
static cache_bucket *table_alloc(size_t buckets)
{
    const size_t size = buckets * sizeof(cache_bucket);
    cache_bucket *t = aligned_alloc(sizeof(cache_bucket), size);
    if (t)
        memset(t, 0, size);
    return t;
}

/* Double the table while under the cap; 0 on success. On failure (memory,
 * the cap, or an entry with no room in the new table) keep the old one. */
static int table_grow(concert__queue_cache *c)
{
    size_t buckets = c->table ? c->buckets * 2 : MIN_BUCKETS;
    cache_bucket *fresh;

    if (buckets > MAX_BUCKETS)
        return -1;
    fresh = table_alloc(buckets);
    if (!fresh)
        return -1; /* the cache is an optimisation: a smaller one still works */
    for (size_t i = 0; c->table && i < c->buckets; i++) {
        for (int w = 0; w < WAYS; w++) {
            const cache_entry *e = &c->table[i].way[w];
            cache_entry *slot;
            if (e->deadline == 0)
                continue;
            slot = entry_place(fresh, buckets, e->key);
            if (!slot) {
                free(fresh);
                return -1;
            }
            *slot = *e;
        }
    }
    free(c->table);
    c->table = fresh;
    c->buckets = buckets;
    return 0;
}

/* A slot for key: its own, an empty one (growing the table when it is three
 * quarters full or no room can be made), else, at the size cap, the way of
 * the two buckets closest to its deadline. */
static cache_entry *entry_slot(concert__queue_cache *c, const uint64_t key[2])
{
    cache_entry *victim = NULL;
    cache_entry *e = entry_find(c, key);
    if (e)
        return e;
    if (!c->table || c->count * 4 >= c->buckets * WAYS * 3)
        table_grow(c);
    if (!c->table)
        return NULL;
    victim = entry_place(c->table, c->buckets, key);
    if (!victim && table_grow(c) == 0)
        victim = entry_place(c->table, c->buckets, key);
    if (victim) {
        c->count++;
    } else {
        for (int which = 0; which < 2; which++) {
            cache_bucket *b = bucket_of(c->table, c->buckets, key, which);
            for (int w = 0; w < WAYS; w++) {
                if (!victim || b->way[w].deadline < victim->deadline)
                    victim = &b->way[w];
            }
        }
    }
    memset(victim, 0, sizeof(*victim));
    victim->key[0] = key[0];
    victim->key[1] = key[1];
    return victim;
}

static void entry_drop(concert__queue_cache *c, cache_entry *e)
{
    memset(e, 0, sizeof(*e));
    c->count--;
}

/* The stored form of deadline (1 ..), or 0 when it falls outside the base's
 * window. A deadline past the window moves the window there and empties
 * the cache: deadlines only move on with the clock, so this happens about
 * once in 24 days (or when a clock jumps), and an emptied cache only sends
 * polls to the store until the buyers are learned again. */
static uint32_t deadline_store(concert__queue_cache *c, int64_t deadline)
{
    if (c->base == INT64_MIN ||
        (deadline > c->base && (uint64_t)deadline - (uint64_t)c->base > UINT32_MAX)) {
        if (c->table)
            memset(c->table, 0, c->buckets * sizeof(cache_bucket));
        c->count = 0;
        c->base = deadline - DEADLINE_HALF_WINDOW;
    }
    if (deadline <= c->base)
        return 0;
    return (uint32_t)((uint64_t)deadline - (uint64_t)c->base);
}

static int64_t deadline_load(const concert__queue_cache *c, const cache_entry *e)
{
    return c->base + (int64_t)e->deadline;
}

/* ---- life cycle ---- */

int concert__queue_cache_new(concert_db *db)
{
    concert__queue_cache *c = calloc(1, sizeof(*c));
    if (!c)
        return concert__error_set(CONCERT_ENOMEM, "concert_db_open: out of memory");
    if (pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c);
        return concert__error_set(CONCERT_ENOMEM, "concert_db_open: cannot create a mutex");
    }
    c->view_at = INT64_MIN;
    c->base = INT64_MIN;
    db->queue_cache = c;
    return CONCERT_OK;
}

void concert__queue_cache_free(concert_db *db)
{
    concert__queue_cache *c = db->queue_cache;
    if (!c)
        return;
    pthread_mutex_destroy(&c->lock);
    free(c->table);
    free(c);
    db->queue_cache = NULL;
}

void concert__queue_cache_invalidate(concert_db *db)
{
    concert__queue_cache *c = db->queue_cache;
    pthread_mutex_lock(&c->lock);
    c->view_at = INT64_MIN;
    pthread_mutex_unlock(&c->lock);
}

/* ---- the view ---- */

static int view_fresh(const concert__queue_cache *c, const concert_db *db, int64_t now)
{
    return c->view_at != INT64_MIN && now >= c->view_at &&
           now - c->view_at < db->opts.queue_refresh_ms;
}

/* Install a view read at now. The horizon never moves back on this db, so
 * a cached token's position (ticket - horizon) never increases. */
static void view_install(concert__queue_cache *c, const concert_queue_stats *v, int64_t now)
{
    int64_t through = c->view.admitted_through > v->admitted_through ? c->view.admitted_through
                                                                     : v->admitted_through;
    c->view = *v;
    c->view.admitted_through = through;
    c->view_at = now;
}

int64_t concert__queue_eta(int32_t queue_state, int64_t position, int64_t rate_mps)
{
    if (queue_state == CONCERT_QUEUE_PAUSED || queue_state == CONCERT_QUEUE_SCHEDULED)
        return -1;
    if (rate_mps <= 0 || position <= 0 || position > INT64_MAX / 1000000)
        return -1;
    return position * 1000000 / rate_mps;
}

static void view_report(const concert__queue_cache *c, concert_queue_stats *out)
{
    *out = c->view;
    out->eta_ms = concert__queue_eta(out->state, out->waiting, out->admit_rate_mps);
}

int concert__queue_view_refresh(concert_db *db, int64_t now, concert_queue_stats *out)
{
    concert__queue_cache *c = db->queue_cache;
    concert_queue_stats fresh;
    int rc;

    memset(&fresh, 0, sizeof(fresh));
    rc = concert__st_queue_stats(db, now, &fresh);
    pthread_mutex_lock(&c->lock);
    if (rc == 0) {
        view_install(c, &fresh, now);
        view_report(c, out);
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

/*
 * The view as of at most queue_refresh_ms ago. One caller refreshes a stale
 * view while the others keep using it, so a stampede of polls makes one
 * store call per interval, not one each. 1 if *out is usable, 0 if not (no
 * view yet while another caller reads one), < 0 on a store error.
 */
static int view_current(concert_db *db, int64_t now, concert_queue_stats *out)
{
    concert__queue_cache *c = db->queue_cache;
    int have, rc;

    pthread_mutex_lock(&c->lock);
    if (view_fresh(c, db, now)) {
        view_report(c, out);
        pthread_mutex_unlock(&c->lock);
        return 1;
    }
    if (c->refreshing) {
        have = c->view_at != INT64_MIN;
        if (have)
            view_report(c, out);
        pthread_mutex_unlock(&c->lock);
        return have;
    }
    c->refreshing = 1;
    pthread_mutex_unlock(&c->lock);

    rc = concert__queue_view_refresh(db, now, out);
    pthread_mutex_lock(&c->lock);
    c->refreshing = 0;
    pthread_mutex_unlock(&c->lock);
    return rc < 0 ? rc : 1;
}

int concert__queue_view_get(concert_db *db, int64_t now, concert_queue_stats *out)
{
    int rc = db->opts.queue_refresh_ms > 0 ? view_current(db, now, out) : 0;
    if (rc == 0)
        rc = concert__queue_view_refresh(db, now, out);
    return rc < 0 ? rc : CONCERT_OK;
}

/* ---- polls ---- */

/* The answer for entry e under view v, when the cache may give one: 1 and
 * out filled, else 0. Called with the lock held. */
static int cached_answer(const concert_db *db, const cache_entry *e, const concert_queue_stats *v,
                         const char *token, int64_t now, concert_token_info *out)
{
    const int64_t deadline = deadline_load(db->queue_cache, e);
    const int64_t ticket = (int64_t)e->ticket;
    char text[CONCERT__TOKEN_CHARS + 1];
    int64_t position;

    /* Write the idle clock through once a quarter of wait_ttl has passed
     * since the store's deadline was set, so that it stays at least three
     * quarters of wait_ttl ahead of a buyer who keeps polling. */
    if (now >= deadline || deadline - now <= db->opts.wait_ttl_ms - db->opts.wait_ttl_ms / 4)
        return 0;
    if (ticket > 0 && ticket > v->admitted_through)
        position = ticket - v->admitted_through;
    else if (ticket == 0 && v->state == CONCERT_QUEUE_SCHEDULED)
        position = CONCERT_POSITION_PREQUEUE;
    else
        return 0;                      /* may be admitted, or due for the lottery: ask the store */
    memcpy(text, token, sizeof(text)); /* token may point into out */
    memset(out, 0, sizeof(*out));
    memcpy(out->token, text, sizeof(text));
    out->user_id = e->user_id;
    out->state = CONCERT_TOKEN_WAITING;
    out->position = position;
    out->eta_ms = concert__queue_eta(v->state, position, v->admit_rate_mps);
    out->expires_at = deadline;
    return 1;
}

int concert__queue_cache_poll(concert_db *db, const char *token, int64_t now,
                              concert_token_info *out)
{
    concert__queue_cache *c = db->queue_cache;
    uint64_t key[2];
    concert_queue_stats view;
    cache_entry *e;
    int answered = 0, fresh = 0;

    if (db->opts.queue_refresh_ms <= 0 || !key_of(token, key))
        return 0;
    /* The common case takes the lock once: a known token, a fresh view. */
    pthread_mutex_lock(&c->lock);
    e = entry_find(c, key);
    if (e && (fresh = view_fresh(c, db, now)) != 0)
        answered = cached_answer(db, e, &c->view, token, now, out);
    pthread_mutex_unlock(&c->lock);
    if (!e || fresh)
        return answered;

    /* A stale view: refresh it (or use it while another caller does). */
    if (view_current(db, now, &view) != 1)
        return 0;
    pthread_mutex_lock(&c->lock);
    e = entry_find(c, key);
    if (e)
        answered = cached_answer(db, e, &view, token, now, out);
    pthread_mutex_unlock(&c->lock);
    return answered;
}

void concert__queue_cache_learn(concert_db *db, const concert_storage_token *t)
{
    concert__queue_cache *c = db->queue_cache;
    uint64_t key[2];
    uint32_t stored_deadline = 0;
    int have_key;
    cache_entry *e;

    if (db->opts.queue_refresh_ms <= 0)
        return;
    /* An ACTIVE token (every join of a sale without a queue) only drops a
     * cached entry, and an empty cache has none: its key is decoded below
     * only if there may be one. */
    have_key = t->info.state == CONCERT_TOKEN_WAITING && key_of(t->info.token, key);
    if (t->info.state == CONCERT_TOKEN_WAITING && !have_key)
        return;
    pthread_mutex_lock(&c->lock);
    /* An admitted ticket is behind the horizon: a WAITING answer about it
     * that a slower thread learns after this one can then never be served
     * from the cache. */
    if (t->info.state == CONCERT_TOKEN_ACTIVE && t->ticket > c->view.admitted_through)
        c->view.admitted_through = t->ticket;
    if (t->info.state == CONCERT_TOKEN_WAITING) {
        /* What the store just said moves this db's horizon forward too, so
         * no later cached answer can put this token further back. */
        if (t->ticket > 0 && t->info.position > 0 &&
            t->ticket - t->info.position > c->view.admitted_through)
            c->view.admitted_through = t->ticket - t->info.position;
        /* First, as a new window empties the cache. */
        if (t->ticket >= 0 && t->ticket <= UINT32_MAX && t->info.expires_at > 0)
            stored_deadline = deadline_store(c, t->info.expires_at);
    }
    if (stored_deadline != 0) {
        e = entry_slot(c, key);
        if (e) {
            e->ticket = (uint32_t)t->ticket;
            e->user_id = t->info.user_id;
            e->deadline = stored_deadline;
        }
    } else if (c->count > 0 && (have_key || key_of(t->info.token, key))) {
        /* Not WAITING, or not storable: no older answer may stay. */
        e = entry_find(c, key);
        if (e)
            entry_drop(c, e);
    }
    pthread_mutex_unlock(&c->lock);
}

void concert__queue_cache_forget(concert_db *db, const char *token)
{
    concert__queue_cache *c = db->queue_cache;
    uint64_t key[2];
    cache_entry *e;

    if (!key_of(token, key))
        return;
    pthread_mutex_lock(&c->lock);
    e = entry_find(c, key);
    if (e)
        entry_drop(c, e);
    pthread_mutex_unlock(&c->lock);
}
