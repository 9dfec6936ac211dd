/*
 * Containers behind the in-memory backend: growable arrays, a ring of
 * uint32 values, a min-heap of deadlines, an open-addressing hash index of
 * uint32 values, and a window (a ring of records numbered by a growing index).
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
    size_t cap;  /* a power of two, or 0 */
    size_t head; /* index of the oldest item */
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

/* ---- a min-heap of deadlines ---- */

/*
 * Things that run out (holds, ACTIVE tokens), keyed by their deadline: the
 * front is always the earliest, whatever order they were added in. A FIFO
 * would assume deadlines arrive in creation order, which a wall clock that
 * steps back (or two threads whose `now`s reach the store out of order)
 * breaks: one long deadline at the front would hide every shorter one
 * behind it. Pushes of increasing deadlines (the usual case) stop at the
 * first comparison, so they stay O(1); a pop is O(log n).
 */
typedef struct mem_deadline {
    int64_t at;  /* the deadline */
    uint64_t id; /* the owner's name for what runs out */
} mem_deadline;

typedef struct mem_heap {
    mem_deadline *items;
    size_t cap;
    size_t count;
} mem_heap;

/* Room for `extra` more entries; 0 or -1 (unchanged). */
static inline int mem_heap_reserve(mem_heap *h, size_t extra)
{
    void *items = h->items;
    int rc = mem_array_reserve(&items, &h->cap, h->count, extra, sizeof(*h->items),
                               SIZE_MAX / sizeof(*h->items));
    h->items = items;
    return rc;
}

/* Add an entry; room must have been reserved. */
static inline void mem_heap_push(mem_heap *h, int64_t at, uint64_t id)
{
    size_t i = h->count++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (h->items[parent].at <= at)
            break;
        h->items[i] = h->items[parent];
        i = parent;
    }
    h->items[i].at = at;
    h->items[i].id = id;
}

/* The earliest entry; the heap must not be empty. */
static inline const mem_deadline *mem_heap_top(const mem_heap *h)
{
    return &h->items[0];
}

/* Drop the earliest entry; the heap must not be empty. */
static inline void mem_heap_pop(mem_heap *h)
{
    const mem_deadline last = h->items[--h->count];
    size_t i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->count)
            break;
        if (child + 1 < h->count && h->items[child + 1].at < h->items[child].at)
            child++;
        if (last.at <= h->items[child].at)
            break;
        h->items[i] = h->items[child];
        i = child;
    }
    if (h->count)
        h->items[i] = last;
}

static inline void mem_heap_free(mem_heap *h)
{
    free(h->items);
    memset(h, 0, sizeof(*h));
}

/* ---- an open-addressing index: hash -> uint32 value ---- */

/*
 * 8-byte slots, linear probing, load at most 3/4. A slot holds value + 1 in
 * its low half (0 = empty) and the high half of the key's hash in its high
 * half. That half is both the entry's tag and its home (its low bits), so:
 *  - a probe compares the tag first and usually reads one record, not every
 *    record in its run (each would be a cache miss in a big store); only
 *    entries of the same home can share a tag's low bits, so the tag still
 *    tells apart all but 1 in 2^(32 - log2 capacity) of them;
 *  - growing and deleting need no record: an entry's home is in its slot.
 * Deletion shifts the entries of the run back (no tombstones), so lookups
 * never slow down with churn. Keys are not stored: the owner compares them.
 * At most 2^32 slots (MEM_INDEX_MAX entries), so the tag covers the home.
 */
typedef struct mem_index {
    uint64_t *slots;
    size_t mask; /* capacity - 1; capacity is a power of two */
    size_t count;
} mem_index;

#define MEM_INDEX_MAX ((size_t)3 << 30)
#define MEM_INDEX_TAG_BITS (~(uint64_t)UINT32_MAX)

static inline size_t mem_index_home(uint64_t hash, size_t mask)
{
    return (size_t)(hash >> 32) & mask;
}

/* Move every entry into a table of `cap` slots (a power of two that holds
 * them); 0 or -1 (unchanged). */
static inline int mem_index_rebuild(mem_index *ix, size_t cap)
{
    size_t old = ix->slots ? ix->mask + 1 : 0;
    uint64_t *slots;

    if (cap > SIZE_MAX / sizeof(*slots) || !(slots = calloc(cap, sizeof(*slots))))
        return -1;
    for (size_t i = 0; i < old; i++) {
        uint64_t slot = ix->slots[i];
        size_t at;
        if (!slot)
            continue;
        at = mem_index_home(slot, cap - 1);
        while (slots[at])
            at = (at + 1) & (cap - 1);
        slots[at] = slot;
    }
    free(ix->slots);
    ix->slots = slots;
    ix->mask = cap - 1;
    return 0;
}

/* Room for `extra` more entries, rehashing from the slots; 0 or -1. */
static inline int mem_index_reserve(mem_index *ix, size_t extra)
{
    size_t cap = ix->slots ? ix->mask + 1 : 0, next, need;

    if (extra > MEM_INDEX_MAX - ix->count)
        return -1;
    need = ix->count + extra;
    if (need <= cap / 4 * 3)
        return 0;
    next = cap ? cap : 16;
    while (need > next / 4 * 3)
        next *= 2;
    return mem_index_rebuild(ix, next);
}

/* Rebuild a mostly empty index (of 1,024 slots or more) at the size that
 * holds twice its entries, when that is a quarter of its size or less, to
 * give the memory back; out of memory keeps it as it is. Not for a step: it
 * reads every slot. */
static inline void mem_index_shrink(mem_index *ix)
{
    size_t cap = ix->slots ? ix->mask + 1 : 0, next = 16;

    while (2 * ix->count > next / 4 * 3)
        next *= 2;
    if (cap >= 1024 && next <= cap / 4)
        (void)mem_index_rebuild(ix, next);
}

/* Add value under hash; room must have been reserved. */
static inline void mem_index_insert(mem_index *ix, uint64_t hash, uint32_t value)
{
    size_t at = mem_index_home(hash, ix->mask);
    while (ix->slots[at])
        at = (at + 1) & ix->mask;
    ix->slots[at] = (hash & MEM_INDEX_TAG_BITS) | ((uint64_t)value + 1);
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
    p->tag = (uint32_t)(hash >> 32);
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
    ix->slots[at] = (ix->slots[at] & MEM_INDEX_TAG_BITS) | ((uint64_t)value + 1);
}

/* The slot of the entry of value under hash, or SIZE_MAX if there is none. */
static inline size_t mem_index_locate(const mem_index *ix, uint64_t hash, uint32_t value)
{
    const uint64_t want = (hash & MEM_INDEX_TAG_BITS) | ((uint64_t)value + 1);
    if (!ix->slots)
        return SIZE_MAX;
    for (size_t at = mem_index_home(hash, ix->mask);; at = (at + 1) & ix->mask) {
        if (ix->slots[at] == want)
            return at;
        if (!ix->slots[at])
            return SIZE_MAX;
    }
}

/* Empty slot `at` (it holds an entry): each later entry of the run that may
 * sit in the hole (its home is not after the hole) moves back into it and
 * leaves a hole of its own, until the run ends (Knuth's algorithm R). */
static inline void mem_index_delete_at(mem_index *ix, size_t at)
{
    size_t hole = at;
    for (size_t next = (at + 1) & ix->mask; ix->slots[next]; next = (next + 1) & ix->mask) {
        const uint64_t slot = ix->slots[next];
        /* how far the entry at next is from its home, against how far the
         * hole is behind it: a hole within its reach may take it */
        if (((next - mem_index_home(slot, ix->mask)) & ix->mask) >= ((next - hole) & ix->mask)) {
            ix->slots[hole] = slot;
            hole = next;
        }
    }
    ix->slots[hole] = 0;
    ix->count--;
}

/* Delete the entry of value under hash: 0, or -1 if there is none. Cannot
 * fail otherwise, and needs no memory. */
static inline int mem_index_remove(mem_index *ix, uint64_t hash, uint32_t value)
{
    size_t at = mem_index_locate(ix, hash, value);
    if (at == SIZE_MAX)
        return -1;
    mem_index_delete_at(ix, at);
    return 0;
}

static inline void mem_index_free(mem_index *ix)
{
    free(ix->slots);
    memset(ix, 0, sizeof(*ix));
}

/* ---- a window: a ring of records numbered by a growing index ---- */

/*
 * Records numbered base .. end - 1 by an index that only grows (a ticket,
 * say); record i sits at items[i & mask]. Records are appended at end and
 * dropped from base, so a window of records that are created in order and
 * expire in about that order stays as big as what is kept, however many
 * came and went, and its memory is reused in place. Others name a record by
 * the low 31 bits of its number (MEM_WINDOW_LOW), which fit an index slot's
 * value and survive the ring's growth; mem_window_number gives the number
 * back, so at most MEM_WINDOW_MAX records are in a window at once.
 */
typedef struct mem_window {
    void *items;
    size_t mask;   /* capacity - 1; capacity is a power of two, or 0 */
    uint64_t base; /* the oldest record's number */
    uint64_t end;  /* the next record's number */
} mem_window;

#define MEM_WINDOW_MAX ((uint64_t)1 << 31)
#define MEM_WINDOW_LOW(i) ((uint32_t)((i) & (MEM_WINDOW_MAX - 1)))

static inline uint64_t mem_window_count(const mem_window *w)
{
    return w->end - w->base;
}

static inline size_t mem_window_cap(const mem_window *w)
{
    return w->items ? w->mask + 1 : 0;
}

/* The number of the record named low: in [base, end) if it is there. */
static inline uint64_t mem_window_number(const mem_window *w, uint32_t low)
{
    return w->base + ((low - MEM_WINDOW_LOW(w->base)) & (MEM_WINDOW_MAX - 1));
}

/* Room for `extra` more records of `size` bytes; 0 or -1 (unchanged). */
static inline int mem_window_reserve(mem_window *w, size_t extra, size_t size)
{
    const uint64_t count = w->end - w->base;
    size_t cap = mem_window_cap(w), next;
    unsigned char *grown;

    if (extra > MEM_WINDOW_MAX - count)
        return -1;
    if (count + extra <= cap)
        return 0;
    next = cap ? cap : 16;
    while (next < count + extra)
        next *= 2;
    if (next > SIZE_MAX / size)
        return -1;
    grown = realloc(w->items, next * size);
    if (!grown)
        return -1;
    /* record i moves from i & (cap - 1) to i & (next - 1): up by a multiple
     * of cap, into the new part, so no move overwrites a record not yet
     * moved */
    for (uint64_t i = w->base; i < w->end; i++) {
        size_t from = (size_t)i & (cap - 1), to = (size_t)i & (next - 1);
        if (from != to)
            memcpy(grown + to * size, grown + from * size, size);
    }
    w->items = grown;
    w->mask = next - 1;
    return 0;
}

static inline void mem_window_free(mem_window *w)
{
    free(w->items);
    memset(w, 0, sizeof(*w));
}

#endif
