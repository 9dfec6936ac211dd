/*
 * Containers behind the in-memory backend: growable arrays, a ring of
 * uint32 values, and an open-addressing hash index of uint32 values.
 *
 * Header-only (static inline) so that the backend stays one translation unit
 * in lib/CMakeLists.txt. Every "reserve" step may fail with ENOMEM and leaves
 * the container's contents unchanged; every "push"/"insert" after a
 * successful reserve cannot fail. The backend relies on that split to make
 * each domain step all or nothing: reserve everything first, then commit.
 */
#ifndef CONCERT_MEMORY_STRUCTS_H
#define CONCERT_MEMORY_STRUCTS_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- hashing ---- */

/* MurmurHash3's 64-bit finaliser: spreads ids that differ in few bits. */
static inline uint64_t mem_hash_mix(uint64_t h)
{
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    h *= UINT64_C(0xc4ceb9fe1a85ec53);
    h ^= h >> 33;
    return h;
}

/* FNV-1a over bytes, finished with the mixer; seed separates key spaces. */
static inline uint64_t mem_hash_bytes(const void *data, size_t len, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t h = UINT64_C(0xcbf29ce484222325) ^ seed;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= UINT64_C(0x100000001b3);
    }
    return mem_hash_mix(h);
}

/* ---- growable arrays ---- */

/*
 * Make room for `extra` more items in an array of `count` items of `size`
 * bytes whose capacity is *cap, doubling so pushes are amortised O(1).
 * Returns 0, or -1 (nothing changed) when out of memory or past max_items.
 */
static inline int mem_array_reserve(void **items, size_t *cap, size_t count, size_t extra,
                                    size_t size, size_t max_items)
{
    size_t need, next;
    void *grown;

    if (extra > max_items || count > max_items - extra)
        return -1;
    need = count + extra;
    if (need <= *cap)
        return 0;
    next = *cap ? *cap : 16;
    while (next < need)
        next = next > max_items / 2 ? max_items : next * 2;
    if (next > SIZE_MAX / size)
        return -1;
    grown = realloc(*items, next * size);
    if (!grown)
        return -1;
    *items = grown;
    *cap = next;
    return 0;
}

/* ---- a FIFO ring of uint32 values ---- */

typedef struct mem_ring {
    uint32_t *items;
    size_t cap;    /* a power of two, or 0 */
    size_t head;   /* index of the oldest item */
    size_t count;
} mem_ring;

/* Room for `extra` more values; 0 or -1 (unchanged). */
static inline int mem_ring_reserve(mem_ring *r, size_t extra)
{
    size_t need, next;
    uint32_t *grown;

    if (extra > SIZE_MAX / 8 - r->count)
        return -1;
    need = r->count + extra;
    if (need <= r->cap)
        return 0;
    next = r->cap ? r->cap : 16;
    while (next < need)
        next *= 2;
    grown = malloc(next * sizeof(*grown));
    if (!grown)
        return -1;
    /* Unwrap into the new buffer so the oldest value sits at 0. */
    for (size_t i = 0; i < r->count; i++)
        grown[i] = r->items[(r->head + i) & (r->cap - 1)];
    free(r->items);
    r->items = grown;
    r->cap = next;
    r->head = 0;
    return 0;
}

/* Append; room must have been reserved. */
static inline void mem_ring_push(mem_ring *r, uint32_t value)
{
    r->items[(r->head + r->count) & (r->cap - 1)] = value;
    r->count++;
}

static inline uint32_t mem_ring_front(const mem_ring *r)
{
    return r->items[r->head];
}

static inline void mem_ring_pop(mem_ring *r)
{
    r->head = (r->head + 1) & (r->cap - 1);
    r->count--;
}

/* The i-th oldest value (0 = front). */
static inline uint32_t mem_ring_at(const mem_ring *r, size_t i)
{
    return r->items[(r->head + i) & (r->cap - 1)];
}

static inline void mem_ring_free(mem_ring *r)
{
    free(r->items);
    memset(r, 0, sizeof(*r));
}

/* ---- an open-addressing index: hash -> uint32 value ---- */

/*
 * 8-byte slots, linear probing, load at most 3/4. A slot holds value + 1 in
 * its low half (0 = empty) and the low 32 bits of the key's hash in its high
 * half: a probe compares that tag first, so a lookup usually reads one
 * record, not every record in its run (each would be a cache miss in a big
 * store). The home slot comes from the hash's high half, so tag and position
 * are independent. Entries are never removed (nothing in the store is
 * deleted), so there are no tombstones. Keys are not stored: the owner
 * recomputes a value's hash when the table grows and compares keys itself.
 */
typedef struct mem_index {
    uint64_t *slots;
    size_t mask;    /* capacity - 1; capacity is a power of two */
    size_t count;
} mem_index;

typedef uint64_t (*mem_index_hash_fn)(const void *owner, uint32_t value);

static inline size_t mem_index_home(uint64_t hash, size_t mask)
{
    return (size_t)(hash >> 32 | hash << 32) & mask;
}

/* Room for `extra` more entries, rehashing through hash_of; 0 or -1. */
static inline int mem_index_reserve(mem_index *ix, size_t extra, mem_index_hash_fn hash_of,
                                    const void *owner)
{
    size_t cap = ix->slots ? ix->mask + 1 : 0, next, need;
    uint64_t *grown;

    if (extra > (size_t)UINT32_MAX - 1 - ix->count)
        return -1;
    need = ix->count + extra;
    if (need <= cap / 4 * 3)
        return 0;
    next = cap ? cap : 16;
    while (need > next / 4 * 3)
        next *= 2;
    grown = calloc(next, sizeof(*grown));
    if (!grown)
        return -1;
    for (size_t i = 0; i < cap; i++) {
        uint64_t slot = ix->slots[i];
        size_t at;
        if (!slot)
            continue;
        at = mem_index_home(hash_of(owner, (uint32_t)slot - 1), next - 1);
        while (grown[at])
            at = (at + 1) & (next - 1);
        grown[at] = slot;
    }
    free(ix->slots);
    ix->slots = grown;
    ix->mask = next - 1;
    return 0;
}

/* Add value under hash; room must have been reserved. */
static inline void mem_index_insert(mem_index *ix, uint64_t hash, uint32_t value)
{
    size_t at = mem_index_home(hash, ix->mask);
    while (ix->slots[at])
        at = (at + 1) & ix->mask;
    ix->slots[at] = (uint64_t)(uint32_t)hash << 32 | ((uint64_t)value + 1);
    ix->count++;
}

/*
 * Probing: mem_index_first(), then mem_index_next() until it returns 0; each
 * non-zero result is value + 1 of an entry whose hash tag matches, whose key
 * the caller compares.
 */
typedef struct mem_probe {
    size_t at;
    uint32_t tag;
} mem_probe;

static inline uint32_t mem_index_scan(const mem_index *ix, mem_probe *p)
{
    for (;; p->at = (p->at + 1) & ix->mask) {
        uint64_t slot = ix->slots[p->at];
        if (!slot)
            return 0;
        if ((uint32_t)(slot >> 32) == p->tag)
            return (uint32_t)slot;
    }
}

static inline uint32_t mem_index_first(const mem_index *ix, uint64_t hash, mem_probe *p)
{
    if (!ix->slots)
        return 0;
    p->at = mem_index_home(hash, ix->mask);
    p->tag = (uint32_t)hash;
    return mem_index_scan(ix, p);
}

static inline uint32_t mem_index_next(const mem_index *ix, mem_probe *p)
{
    p->at = (p->at + 1) & ix->mask;
    return mem_index_scan(ix, p);
}

/* Point the entry in slot `at` at another value under the same key (when
 * the owner moves an item); the hash tag stays. */
static inline void mem_index_relabel(mem_index *ix, size_t at, uint32_t value)
{
    ix->slots[at] = (ix->slots[at] & ~(uint64_t)UINT32_MAX) | ((uint64_t)value + 1);
}

static inline void mem_index_free(mem_index *ix)
{
    free(ix->slots);
    memset(ix, 0, sizeof(*ix));
}

#endif
