/*
 * Which user each token belongs to, for the tokens this db has looked up, so
 * that a server checking "is this the caller's token?" on every booking
 * request (concertd with --auth jwt) does not ask the store each time.
 *
 * Safe because a token's owner never changes: an entry is never stale, only
 * possibly absent (or outlived by its token, once retention has pruned an
 * ended one: any booking step then still asks the store, which refuses it).
 *
 * The same entry remembers when the store last said the token was ACTIVE
 * (and until when), for the calls that only read the catalog: they accept
 * a token seen ACTIVE here within queue_refresh_ms, as the queue view may be
 * that old. This db's own payments and leaves forget it at once; a
 * payment in another process is seen within queue_refresh_ms. Holds,
 * payments and releases never rely on it: the store fences the token. A set-associative table of fixed size (four ways per
 * set, the oldest way replaced), allocated on first use; a token the core
 * would not issue (wrong length) is simply not cached.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define SETS 4096u
#define WAYS 4u
#define TOKEN_CHARS 32

typedef struct owner_entry {
    char token[TOKEN_CHARS + 1]; /* "" = empty */
    int64_t user_id;
    int64_t active_until; /* the store's expires_at when it last said
                                    ACTIVE; 0 = not known to be ACTIVE */
    int64_t active_seen;  /* when it said so */
} owner_entry;

struct concert__owner_cache {
    pthread_mutex_t lock;
    owner_entry *entries; /* SETS * WAYS */
    unsigned char next_way[SETS];
};

int concert__owner_cache_new(concert_db *db)
{
    concert__owner_cache *c = calloc(1, sizeof(*c));
    if (!c)
        return concert__error_set(CONCERT_ENOMEM, "out of memory for the token owner cache");
    if (pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c);
        return concert__error_set(CONCERT_ENOMEM, "cannot create the token owner cache lock");
    }
    db->owner_cache = c;
    return CONCERT_OK;
}

void concert__owner_cache_free(concert_db *db)
{
    concert__owner_cache *c = db->owner_cache;
    if (!c)
        return;
    pthread_mutex_destroy(&c->lock);
    free(c->entries);
    free(c);
    db->owner_cache = NULL;
}

/* FNV-1a: tokens are random, any spread will do. */
static size_t set_of(const char *token)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < TOKEN_CHARS; i++) {
        h ^= (unsigned char)token[i];
        h *= UINT64_C(0x100000001b3);
    }
    return (size_t)(h >> 32) & (SETS - 1);
}

static int cacheable(const char *token)
{
    return strnlen(token, TOKEN_CHARS + 1) == TOKEN_CHARS;
}

/* The entry for token, or NULL; called with the lock held. */
static owner_entry *entry_find(concert__owner_cache *c, const char *token)
{
    if (!c->entries)
        return NULL;
    owner_entry *set = &c->entries[set_of(token) * WAYS];
    for (unsigned w = 0; w < WAYS; w++) {
        if (set[w].token[0] && concert_sys_token_equal(set[w].token, token))
            return &set[w];
    }
    return NULL;
}

int concert__owner_cache_get(concert_db *db, const char *token, int64_t *user_id)
{
    concert__owner_cache *c = db->owner_cache;
    const owner_entry *e;
    int found = 0;
    if (!cacheable(token))
        return 0;
    pthread_mutex_lock(&c->lock);
    if ((e = entry_find(c, token)) != NULL) {
        *user_id = e->user_id;
        found = 1;
    }
    pthread_mutex_unlock(&c->lock);
    return found;
}

int concert__owner_cache_active(concert_db *db, const char *token, int64_t now, int64_t *user_id)
{
    concert__owner_cache *c = db->owner_cache;
    const owner_entry *e;
    int found = 0;
    if (!cacheable(token) || db->opts.queue_refresh_ms <= 0)
        return 0;
    pthread_mutex_lock(&c->lock);
    e = entry_find(c, token);
    if (e && now < e->active_until && now >= e->active_seen &&
        now - e->active_seen < db->opts.queue_refresh_ms) {
        *user_id = e->user_id;
        found = 1;
    }
    pthread_mutex_unlock(&c->lock);
    return found;
}

void concert__owner_cache_ended(concert_db *db, const char *token)
{
    concert__owner_cache *c = db->owner_cache;
    owner_entry *e;
    if (!token || !cacheable(token))
        return;
    pthread_mutex_lock(&c->lock);
    if ((e = entry_find(c, token)) != NULL)
        e->active_until = 0;
    pthread_mutex_unlock(&c->lock);
}

void concert__owner_cache_put(concert_db *db, const char *token, int64_t user_id)
{
    concert__owner_cache_put_active(db, token, user_id, 0, 0);
}

void concert__owner_cache_put_active(concert_db *db, const char *token, int64_t user_id,
                                     int64_t active_until, int64_t seen)
{
    concert__owner_cache *c = db->owner_cache;
    if (!cacheable(token) || user_id <= 0)
        return;
    pthread_mutex_lock(&c->lock);
    if (!c->entries)
        c->entries = calloc((size_t)SETS * WAYS, sizeof(*c->entries)); /* NULL: not cached */
    if (c->entries) {
        const size_t s = set_of(token);
        owner_entry *set = &c->entries[s * WAYS];
        unsigned w = 0;
        while (w < WAYS && !(set[w].token[0] && strcmp(set[w].token, token) == 0))
            w++;
        if (w == WAYS) { /* not there yet: take the set's oldest way */
            w = c->next_way[s];
            c->next_way[s] = (unsigned char)((w + 1) % WAYS);
        }
        if (strcmp(set[w].token, token) != 0 || active_until > 0) {
            set[w].active_until = active_until;
            set[w].active_seen = seen;
        }
        memcpy(set[w].token, token, TOKEN_CHARS + 1);
        set[w].user_id = user_id;
    }
    pthread_mutex_unlock(&c->lock);
}
