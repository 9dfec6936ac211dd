/*
 * The memory backend's per-buyer limits (concert_hold_request): what a
 * user holds and has bought, kept per user so that a hold counts the
 * user's own few reservations, never the whole store.
 *
 * A user's chain of holds (through the reservations themselves, so a hold
 * allocates nothing for it) holds every live hold of theirs; a hold that
 * ended (paid, released, expired) stays in it until a count passes over it
 * and drops it. A hold never becomes live again once it has ended, so
 * dropping it is safe, and a count that runs on every new hold keeps the
 * chain at about the size of the limit (each ended hold is dropped once).
 * Purchases are counted per concert, only
 * for concerts with a max_per_user (the only ones whose limit counts
 * them); the catalog never changes, so that set never does either.
 */
#include <stdlib.h>
#include <string.h>

#include "memory_internal.h"

static int hold_live(const mem_reservation *r, int64_t now)
{
    return r->status == CONCERT_RESERVATION_HELD && r->held_until > now;
}

int64_t memory__limit_count(memory_store *s, uint32_t user, int64_t now, int per_concert,
                            uint32_t concert)
{
    uint32_t *link = &s->users[user].hold_head;
    int64_t n = 0;

    while (*link) {
        mem_reservation *r = &s->reservations[*link - 1];
        if (!hold_live(r, now)) {
            /* ended for good: out of the chain, which changes no answer */
            *link = r->next_hold;
            r->next_hold = 0;
            continue;
        }
        n += !per_concert || s->schedules[r->schedule].concert == concert;
        link = &r->next_hold;
    }
    return per_concert ? n + memory__bought_count(s, user, concert) : n;
}

void memory__hold_chain_push(memory_store *s, uint32_t user, uint32_t reservation)
{
    s->reservations[reservation].next_hold = s->users[user].hold_head;
    s->users[user].hold_head = reservation + 1;
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
