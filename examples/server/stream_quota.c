/*
 * Streams per token (see stream_quota.h): a chained hash of token keys to
 * counts; an entry goes when its count drops to zero, so memory follows the
 * tokens that hold streams now.
 */
#include "stream_quota.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define BUCKETS 4096u /* a power of two */

typedef struct quota_entry {
    uint64_t key;
    unsigned count;
    struct quota_entry *next;
} quota_entry;

struct stream_quota {
    pthread_mutex_t lock;
    unsigned per_token;
    uint64_t seed;
    uint64_t held;
    quota_entry *bucket[BUCKETS];
};

stream_quota *stream_quota_new(unsigned per_token)
{
    stream_quota *q = calloc(1, sizeof *q);
    if (q == NULL)
        return NULL;
    if (pthread_mutex_init(&q->lock, NULL) != 0) {
        free(q);
        return NULL;
    }
    q->per_token = per_token;
    /* A key nobody outside knows: a client cannot pick two tokens that
     * share a count on purpose (it cannot pick tokens at all, but the hash
     * should not be the weak link). */
    if (getrandom(&q->seed, sizeof q->seed, 0) != (ssize_t)sizeof q->seed)
        q->seed = (uint64_t)(uintptr_t)q ^ UINT64_C(0x9e3779b97f4a7c15);
    return q;
}

void stream_quota_free(stream_quota *q)
{
    if (q == NULL)
        return;
    for (size_t i = 0; i < BUCKETS; i++) {
        quota_entry *e = q->bucket[i];
        while (e != NULL) {
            quota_entry *next = e->next;
            free(e);
            e = next;
        }
    }
    pthread_mutex_destroy(&q->lock);
    free(q);
}

/* FNV-1a over the seed and the text, then murmur3's finaliser so that the
 * low bits (the bucket) depend on every byte. Never 0: 0 is no slot. */
static uint64_t token_key(uint64_t seed, const char *token)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325) ^ seed;
    for (const unsigned char *p = (const unsigned char *)token; *p != '\0'; p++) {
        h ^= *p;
        h *= UINT64_C(0x100000001b3);
    }
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    return h != 0 ? h : 1;
}

int stream_quota_take(stream_quota *q, const char *token, uint64_t *slot)
{
    const uint64_t key = token_key(q->seed, token);
    quota_entry **head = &q->bucket[key & (BUCKETS - 1)];
    int rc = 0;
    pthread_mutex_lock(&q->lock);
    quota_entry *e = *head;
    while (e != NULL && e->key != key)
        e = e->next;
    if (e == NULL) {
        e = calloc(1, sizeof *e);
        if (e == NULL) {
            rc = -1;
        } else {
            e->key = key;
            e->next = *head;
            *head = e;
        }
    }
    if (rc == 0 && e->count >= q->per_token)
        rc = 1;
    if (rc == 0) {
        e->count++;
        q->held++;
        *slot = key;
    }
    pthread_mutex_unlock(&q->lock);
    return rc;
}

void stream_quota_give(stream_quota *q, uint64_t slot)
{
    if (q == NULL || slot == 0)
        return;
    quota_entry **link = &q->bucket[slot & (BUCKETS - 1)];
    pthread_mutex_lock(&q->lock);
    while (*link != NULL && (*link)->key != slot)
        link = &(*link)->next;
    quota_entry *e = *link;
    if (e != NULL && e->count > 0) {
        q->held--;
        if (--e->count == 0) {
            *link = e->next;
            free(e);
        }
    }
    pthread_mutex_unlock(&q->lock);
}

uint64_t stream_quota_held(stream_quota *q)
{
    pthread_mutex_lock(&q->lock);
    const uint64_t held = q->held;
    pthread_mutex_unlock(&q->lock);
    return held;
}
