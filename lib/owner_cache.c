/*
 * Which user each token belongs to, for the tokens this db has looked up, so
 * that a server checking "is this the caller's token?" on every booking
 * request (concertd with --auth jwt) does not ask the store each time.
 *
 * Safe because a token's owner never changes: an entry is never stale, only
 * possibly absent. A set-associative table of fixed size (four ways per
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
} owner_entry;

struct concert__owner_cache {
    pthread_mutex_t lock;
    owner_entry *entries;        /* SETS * WAYS */
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

int concert__owner_cache_get(concert_db *db, const char *token, int64_t *user_id)
{
    concert__owner_cache *c = db->owner_cache;
    int found = 0;
    if (!cacheable(token))
        return 0;
    pthread_mutex_lock(&c->lock);
    if (c->entries) {
        const owner_entry *set = &c->entries[set_of(token) * WAYS];
        for (unsigned w = 0; w < WAYS && !found; w++) {
            if (set[w].token[0] && concert_sys_token_equal(set[w].token, token)) {
                *user_id = set[w].user_id;
                found = 1;
            }
        }
    }
    pthread_mutex_unlock(&c->lock);
    return found;
}

void concert__owner_cache_put(concert_db *db, const char *token, int64_t user_id)
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
        memcpy(set[w].token, token, TOKEN_CHARS + 1);
        set[w].user_id = user_id;
    }
    pthread_mutex_unlock(&c->lock);
}
