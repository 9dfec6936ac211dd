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
 *    and its idle deadline as the store holds it. Set-associative buckets
 *    of four 48-byte entries, so a lookup touches three cache lines at most
 *    and memory is bounded.
 * A poll is answered here only when the answer is WAITING; anything that
 * may be ACTIVE or ended goes to the store. Positions never increase on one
 * db: the horizon only moves forward, also when the store's own answer
 * shows it further on than the view.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define WAYS 4
#define MIN_BUCKETS 256
/* 2^19 buckets x 4 ways x 48 bytes = 96 MiB at most, grown as needed: 1.5
 * million waiting buyers on one process. Beyond that the entry closest to
 * its deadline is replaced (that buyer's next poll reaches the store). */
#define MAX_BUCKETS (1u << 19)
#define KEY_BYTES 24
#define TOKEN_CHARS 32

typedef struct cache_entry {
    unsigned char key[KEY_BYTES]; /* the token's 24 random bytes */
    int64_t ticket;               /* 0: pre-queued */
    int64_t deadline;             /* the store's idle deadline; 0 = empty slot */
    int64_t user_id;
} cache_entry;

struct concert__queue_cache {
    pthread_mutex_t lock;
    concert_queue_stats view;
    int64_t view_at;   /* when view was read; INT64_MIN: none */
    int refreshing;    /* a caller is reading the store for a new view */
    cache_entry *entries;
    size_t buckets;    /* a power of two */
    size_t count;
};

/* ---- token keys ---- */

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '-' ? 62 : c == '_' ? 63 : -1;
}

/* The core's tokens are 32 base64url characters; anything else (a caller's
 * typo) is simply not cached. 1 if key was filled. */
static int key_of(const char *token, unsigned char key[KEY_BYTES])
{
    size_t k = 0;
    if (strnlen(token, TOKEN_CHARS + 1) != TOKEN_CHARS)
        return 0;
    for (size_t i = 0; i < TOKEN_CHARS; i += 4) {
        uint32_t v = 0;
        for (size_t j = 0; j < 4; j++) {
            int d = b64_value(token[i + j]);
            if (d < 0)
                return 0;
            v = v << 6 | (uint32_t)d;
        }
        key[k++] = (unsigned char)(v >> 16);
        key[k++] = (unsigned char)(v >> 8);
        key[k++] = (unsigned char)v;
    }
    return 1;
}

/* The bytes are random already: any eight of them are a good hash, and two
 * different eights are two independent ones. */
static size_t key_hash(const unsigned char key[KEY_BYTES], int which)
{
    uint64_t h;
    memcpy(&h, key + 8 * which, sizeof(h));
    return (size_t)h;
}

static int key_equal(const unsigned char a[KEY_BYTES], const unsigned char b[KEY_BYTES])
{
    unsigned char diff = 0;
    for (size_t i = 0; i < KEY_BYTES; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

/* Each key may live in either of two buckets ("two choices"): with four
 * ways each, a table three quarters full practically never has a key
 * whose both buckets are full, where one bucket alone overflowed for about
 * one key in eight. */
static cache_entry *bucket_of(const cache_entry *entries, size_t buckets,
                              const unsigned char key[KEY_BYTES], int which)
{
    return (cache_entry *)&entries[(key_hash(key, which) & (buckets - 1)) * WAYS];
}

static cache_entry *entry_find(concert__queue_cache *c, const unsigned char key[KEY_BYTES])
{
    if (!c->entries)
        return NULL;
    for (int which = 0; which < 2; which++) {
        cache_entry *b = bucket_of(c->entries, c->buckets, key, which);
        for (int w = 0; w < WAYS; w++) {
            if (b[w].deadline != 0 && key_equal(b[w].key, key))
                return &b[w];
        }
    }
    return NULL;
}

/* An empty way in the emptier of key's two buckets, or NULL. */
static cache_entry *entry_free_way(const cache_entry *entries, size_t buckets,
                                   const unsigned char key[KEY_BYTES])
{
    cache_entry *best = NULL;
    int best_free = 0;
    for (int which = 0; which < 2; which++) {
        cache_entry *b = bucket_of(entries, buckets, key, which), *first = NULL;
        int free_ways = 0;
        for (int w = 0; w < WAYS; w++) {
            if (b[w].deadline == 0) {
                free_ways++;
                if (!first)
                    first = &b[w];
            }
        }
        if (free_ways > best_free) {
            best_free = free_ways;
            best = first;
        }
    }
    return best;
}

/* Double the table while under the cap; 0 on success. On failure (memory,
 * the cap, or an entry with no room in the new table) keep the old one. */
static int table_grow(concert__queue_cache *c)
{
    size_t buckets = c->entries ? c->buckets * 2 : MIN_BUCKETS;
    cache_entry *fresh;

    if (buckets > MAX_BUCKETS)
        return -1;
    fresh = calloc(buckets * WAYS, sizeof(*fresh));
    if (!fresh)
        return -1; /* the cache is an optimisation: a smaller one still works */
    for (size_t i = 0; c->entries && i < c->buckets * WAYS; i++) {
        cache_entry *slot;
        if (c->entries[i].deadline == 0)
            continue;
        slot = entry_free_way(fresh, buckets, c->entries[i].key);
        if (!slot) {
            free(fresh);
            return -1;
        }
        *slot = c->entries[i];
    }
    free(c->entries);
    c->entries = fresh;
    c->buckets = buckets;
    return 0;
}

/* A slot for key: its own, an empty one (growing the table when it is three
 * quarters full or both buckets are), else, at the size cap, the way of the
 * two buckets closest to its deadline. */
static cache_entry *entry_slot(concert__queue_cache *c, const unsigned char key[KEY_BYTES])
{
    cache_entry *victim = NULL;
    cache_entry *e = entry_find(c, key);
    if (e)
        return e;
    if (!c->entries || c->count * 4 >= c->buckets * WAYS * 3)
        table_grow(c);
    if (!c->entries)
        return NULL;
    victim = entry_free_way(c->entries, c->buckets, key);
    if (!victim && table_grow(c) == 0)
        victim = entry_free_way(c->entries, c->buckets, key);
    if (victim) {
        c->count++;
    } else {
        for (int which = 0; which < 2; which++) {
            cache_entry *b = bucket_of(c->entries, c->buckets, key, which);
            for (int w = 0; w < WAYS; w++) {
                if (!victim || b[w].deadline < victim->deadline)
                    victim = &b[w];
            }
        }
    }
    memset(victim, 0, sizeof(*victim));
    memcpy(victim->key, key, KEY_BYTES);
    return victim;
}

static void entry_drop(concert__queue_cache *c, cache_entry *e)
{
    memset(e, 0, sizeof(*e));
    c->count--;
}

/* ---- life cycle ---- */

int concert__queue_cache_new(concert_db *db)
{
    concert__queue_cache *c = calloc(1, sizeof(*c));
    if (!c)
        return concert__error_set(CONCERT_ENOMEM, "concert_open: out of memory");
    if (pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c);
        return concert__error_set(CONCERT_ENOMEM, "concert_open: cannot create a mutex");
    }
    c->view_at = INT64_MIN;
    db->queue_cache = c;
    return CONCERT_OK;
}

void concert__queue_cache_free(concert_db *db)
{
    concert__queue_cache *c = db->queue_cache;
    if (!c)
        return;
    pthread_mutex_destroy(&c->lock);
    free(c->entries);
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
    char text[TOKEN_CHARS + 1];
    int64_t position;

    /* Write the idle clock through once a quarter of wait_ttl has passed
     * since the store's deadline was set, so that it stays at least three
     * quarters of wait_ttl ahead of a buyer who keeps polling. */
    if (now >= e->deadline || e->deadline - now <= db->opts.wait_ttl_ms - db->opts.wait_ttl_ms / 4)
        return 0;
    if (e->ticket > 0 && e->ticket > v->admitted_through)
        position = e->ticket - v->admitted_through;
    else if (e->ticket == 0 && v->state == CONCERT_QUEUE_SCHEDULED)
        position = CONCERT_POSITION_PREQUEUE;
    else
        return 0; /* may be admitted, or due for the lottery: ask the store */
    memcpy(text, token, sizeof(text)); /* token may point into out */
    memset(out, 0, sizeof(*out));
    memcpy(out->token, text, sizeof(text));
    out->user_id = e->user_id;
    out->state = CONCERT_TOKEN_WAITING;
    out->position = position;
    out->eta_ms = concert__queue_eta(v->state, position, v->admit_rate_mps);
    out->expires_at = e->deadline;
    return 1;
}

int concert__queue_cache_poll(concert_db *db, const char *token, int64_t now,
                              concert_token_info *out)
{
    concert__queue_cache *c = db->queue_cache;
    unsigned char key[KEY_BYTES];
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
    unsigned char key[KEY_BYTES];
    cache_entry *e;

    if (db->opts.queue_refresh_ms <= 0 || !key_of(t->info.token, key))
        return;
    pthread_mutex_lock(&c->lock);
    /* An admitted ticket is behind the horizon: a WAITING answer about it
     * that a slower thread learns after this one can then never be served
     * from the cache. */
    if (t->info.state == CONCERT_TOKEN_ACTIVE && t->ticket > c->view.admitted_through)
        c->view.admitted_through = t->ticket;
    if (t->info.state != CONCERT_TOKEN_WAITING || t->ticket < 0) {
        e = entry_find(c, key);
        if (e)
            entry_drop(c, e);
    } else {
        /* What the store just said moves this db's horizon forward too, so
         * no later cached answer can put this token further back. */
        if (t->ticket > 0 && t->info.position > 0 &&
            t->ticket - t->info.position > c->view.admitted_through)
            c->view.admitted_through = t->ticket - t->info.position;
        e = t->info.expires_at > 0 ? entry_slot(c, key) : NULL;
        if (e) {
            e->ticket = t->ticket;
            e->user_id = t->info.user_id;
            e->deadline = t->info.expires_at;
        }
    }
    pthread_mutex_unlock(&c->lock);
}

void concert__queue_cache_forget(concert_db *db, const char *token)
{
    concert__queue_cache *c = db->queue_cache;
    unsigned char key[KEY_BYTES];
    cache_entry *e;

    if (!key_of(token, key))
        return;
    pthread_mutex_lock(&c->lock);
    e = entry_find(c, key);
    if (e)
        entry_drop(c, e);
    pthread_mutex_unlock(&c->lock);
}
