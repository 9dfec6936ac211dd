/*
 * The memory backend's per-buyer limits (concert_hold_request): what a
 * user holds and has bought, kept per user so that a hold counts the
 * user's own few reservations, never the whole store.
 *
 * A user's chain of holds (doubly linked through the reservations
 * themselves, so a hold allocates nothing for it) holds every live hold of
 * theirs. A payment or a release takes its reservations out at once (O(1),
 * and the next count need not read them: in a big store that read is a
 * cache miss); an expired hold stays until a count passes over it and drops
 * it. A hold never becomes live again once it has ended, so dropping it is
 * safe, and each is dropped once.
 * Purchases are counted per concert, only
 * for concerts with a max_per_user (the only ones whose limit counts
 * them); the catalog never changes, so that set never does either.
 */
#include <stdlib.h>
#include <string.h>

#include "memory_internal.h"

void memory__hold_chain_remove(memory_store *s, uint32_t user, uint32_t reservation)
{
    mem_user *u = &s->users[user];
    mem_reservation *r = &s->reservations[reservation];
    uint32_t id = reservation + 1;

    if (!r->prev_hold && u->hold_head != id)
        return; /* not in the chain */
    if (r->prev_hold)
        s->reservations[r->prev_hold - 1].next_hold = r->next_hold;
    else
        u->hold_head = r->next_hold;
    if (r->next_hold)
        s->reservations[r->next_hold - 1].prev_hold = r->prev_hold;
    r->next_hold = r->prev_hold = 0;
}

int64_t memory__limit_count(memory_store *s, uint32_t user, int64_t now, int per_concert,
                            uint32_t concert)
{
    uint32_t id = s->users[user].hold_head;
    int64_t n = 0;

    while (id) {
        mem_reservation *r = &s->reservations[id - 1];
        uint32_t next = r->next_hold;
        if (!memory__hold_live(r, now))
            memory__hold_chain_remove(s, user, id - 1); /* ended for good */
        else
            n += !per_concert || s->schedules[r->schedule].concert == concert;
        id = next;
    }
    return per_concert ? n + memory__bought_count(s, user, concert) : n;
}

void memory__hold_chain_push(memory_store *s, uint32_t user, uint32_t reservation)
{
    mem_user *u = &s->users[user];
    mem_reservation *r = &s->reservations[reservation];
    r->next_hold = u->hold_head;
    r->prev_hold = 0;
    if (u->hold_head)
        s->reservations[u->hold_head - 1].prev_hold = reservation + 1;
    u->hold_head = reservation + 1;
}

/* The index in u->bought of concert, or of where it would go. */
static uint32_t bought_find(const mem_user *u, uint32_t concert)
{
    uint32_t lo = 0, hi = u->bought_count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (u->bought[mid].concert < concert)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

uint32_t memory__bought_find(const mem_user *u, uint32_t concert)
{
    uint32_t at = bought_find(u, concert);
    return at < u->bought_count && u->bought[at].concert == concert ? at : MEM_NONE;
}

uint32_t memory__bought_count(const memory_store *s, uint32_t user, uint32_t concert)
{
    const mem_user *u = &s->users[user];
    uint32_t at = memory__bought_find(u, concert);
    return at == MEM_NONE ? 0 : u->bought[at].confirmed;
}

int memory__bought_reserve(memory_store *s, uint32_t user, size_t n)
{
    mem_user *u = &s->users[user];
    if (n > UINT32_MAX)
        return -1;
    return RESERVE_SMALL(u, bought, (uint32_t)n);
}

void memory__bought_add(memory_store *s, uint32_t user, uint32_t concert)
{
    mem_user *u = &s->users[user];
    uint32_t at;

    if (s->concerts[concert].max_per_user <= 0)
        return;
    at = bought_find(u, concert);
    if (at == u->bought_count || u->bought[at].concert != concert) {
        memmove(&u->bought[at + 1], &u->bought[at],
                (size_t)(u->bought_count - at) * sizeof(*u->bought));
        u->bought[at].concert = concert;
        u->bought[at].confirmed = 0;
        u->bought_count++;
    }
    u->bought[at].confirmed++;
}
