/*
 * The memory backend's admission under the shared queue settings (the rules
 * block of include/concert/sys/storage.h), and the opening lottery of a
 * SCHEDULED queue's pre-queue.
 */
#include <stdlib.h>
#include <string.h>

#include "memory_internal.h"

int memory__token_live(const mem_token *t, const concert_queue_params *p, int64_t now)
{
    if (t->state == CONCERT_TOKEN_WAITING)
        return now < memory__add_sat(t->when, p->wait_ttl_ms);
    if (t->state == CONCERT_TOKEN_ACTIVE)
        return now < t->when;
    return 0;
}

uint64_t memory__ticket_end(const memory_store *s)
{
    return s->settings.state == CONCERT_QUEUE_SCHEDULED ? s->prequeue_from : s->tokens.end;
}

int memory__prequeued(const memory_store *s, uint64_t index)
{
    return s->settings.state == CONCERT_QUEUE_SCHEDULED && index >= s->prequeue_from;
}

int32_t memory__state_at(const memory_store *s, int64_t now)
{
    if (s->settings.state == CONCERT_QUEUE_SCHEDULED && now >= s->settings.opens_at)
        return CONCERT_QUEUE_OPEN;
    return s->settings.state;
}

/* ---- the opening lottery ---- */

void memory__opening_discard(mem_opening *o)
{
    free(o->rank);
    free(o->placed);
    memset(o, 0, sizeof(*o));
}

/* rank from the lottery's order of the ids from .. from + n - 1: 0, or -1
 * if order is not a permutation of them (the shuffle is the core's, but a
 * wrong one would lose tokens). */
static int rank_from_order(const int64_t *order, size_t n, uint64_t from, uint32_t *rank)
{
    memset(rank, 0xff, n * sizeof(*rank));
    for (size_t i = 0; i < n; i++) {
        size_t k;
        if (order[i] < (int64_t)from || (uint64_t)order[i] - from >= n)
            return -1;
        k = (size_t)order[i] - from;
        if (rank[k] != UINT32_MAX)
            return -1;
        rank[k] = (uint32_t)i;
    }
    return 0;
}

int memory__opening_prepare(memory_store *s, const concert_queue_params *p, int64_t now, int force,
                            mem_opening *o)
{
    const uint64_t from = s->prequeue_from;
    int64_t *order;
    int rc = CONCERT_OK;

    memset(o, 0, sizeof(*o));
    if (s->settings.state != CONCERT_QUEUE_SCHEDULED || (!force && now < s->settings.opens_at))
        return CONCERT_OK;
    o->due = 1;
    o->n = (size_t)(s->tokens.end - from);
    if (o->n == 0)
        return CONCERT_OK;
    order = malloc(o->n * sizeof(*order));
    o->rank = malloc(o->n * sizeof(*o->rank));
    o->placed = calloc(o->n / 8 + 1, 1);
    if (!order || !o->rank || !o->placed) {
        rc = memory__out_of_memory("running the opening lottery");
        goto done;
    }
    /* a stable order in (join order), so that the shuffle alone decides */
    for (size_t i = 0; i < o->n; i++)
        order[i] = (int64_t)(from + i);
    /* No shuffle given: a core bug, but keeping the join order is a fair
     * enough fallback to keep the sale moving. */
    if (p->shuffle && (rc = p->shuffle(p->shuffle_ctx, order, o->n)) != 0)
        goto done;
    if (rank_from_order(order, o->n, from, o->rank) != 0)
        rc = concert_sys_error_set(CONCERT_EINTERNAL,
                                   "memory store: the lottery's shuffle lost or repeated a token");
done:
    free(order);
    if (rc != 0)
        memory__opening_discard(o);
    return rc;
}

/* The pre-queued token that joined k-th moves from ticket index from + k
 * to from + rank[k]. Its index is also held by token_ix and by its user's
 * last_ticket (as MEM_WINDOW_LOW): both are fixed by one sequential pass
 * over the index's slots and one over the users (cheap next to a random
 * probe per token, and each entry is read once, so an index already
 * rewritten is never rewritten again). The pre-queue is the window's end,
 * so every name of a number in it is a name of that number. */
static uint32_t moved(const memory_store *s, const mem_opening *o, uint64_t from, uint32_t low)
{
    uint64_t i = memory__token_number(s, low);
    return i >= from && i - from < o->n ? MEM_WINDOW_LOW(from + o->rank[i - from]) : low;
}

/* Move every pre-queued token to its rank, in place through the window's
 * ring: each cycle of the permutation is followed once, carrying one
 * token. */
static void block_permute(memory_store *s, uint64_t from, const mem_opening *o)
{
    for (size_t start = 0; start < o->n; start++) {
        mem_token carry;
        size_t k = start;
        if (o->placed[start / 8] & (1u << (start % 8)))
            continue;
        carry = *memory__token(s, from + start);
        do {
            size_t to = o->rank[k];
            mem_token *at = memory__token(s, from + to);
            mem_token displaced = *at;
            *at = carry;
            carry = displaced;
            o->placed[to / 8] |= (unsigned char)(1u << (to % 8));
            k = to;
        } while (k != start);
    }
}

void memory__opening_commit(memory_store *s, mem_opening *o)
{
    const uint64_t from = s->prequeue_from;

    if (!o->due)
        return;
    if (o->n) {
        block_permute(s, from, o);
        for (size_t at = 0; s->token_ix.slots && at <= s->token_ix.mask; at++) {
            uint64_t slot = s->token_ix.slots[at];
            if (slot)
                mem_index_relabel(&s->token_ix, at, moved(s, o, from, (uint32_t)slot - 1));
        }
        /* a user whose newest token is gone names some number; moving that
         * name along still names a token not theirs (memory__user_token) */
        for (size_t u = 0; u < s->users_count; u++)
            s->users[u].last_ticket = moved(s, o, from, s->users[u].last_ticket);
    }
    s->settings.state = CONCERT_QUEUE_OPEN;
    s->settings.opens_at = 0;
    s->prequeue_from = s->tokens.end;
    s->prequeue_ended = 0;
    memory__opening_discard(o);
}

/* ---- admission ---- */

int memory__admission_reserve(memory_store *s, size_t extra_tickets)
{
    /* pre-queued tokens included: an opening in this step makes them
     * tickets before admission runs */
    size_t waiting = (size_t)(s->tokens.end - s->admitted_through) + extra_tickets;
    size_t most =
        (uint64_t)s->settings.max_active < waiting ? (size_t)s->settings.max_active : waiting;
    return mem_heap_reserve(&s->active_heap, most) == 0 ? 0 : memory__out_of_memory("admitting");
}

/* Expired ACTIVE tokens end and leave the count, earliest deadline first:
 * the heap's front is the first to run out whatever order they were
 * admitted in (an admission at an earlier `now` runs out first). An entry
 * names its token by its full ticket index, which is never reused: one
 * below the window's front was pruned (so ended), and one no longer ACTIVE
 * ended some other way and gave its count back then. Settled here, a token
 * is ENDED for good, so an earlier `now` never brings it back. */
void memory__admission_settle(memory_store *s, int64_t now)
{
    while (s->active_heap.count && mem_heap_top(&s->active_heap)->at <= now) {
        const uint64_t index = mem_heap_top(&s->active_heap)->id;
        mem_heap_pop(&s->active_heap);
        if (index < s->tokens.base || index >= s->tokens.end)
            continue;
        mem_token *t = memory__token(s, index);
        if (t->state != CONCERT_TOKEN_ACTIVE)
            continue;
        t->state = CONCERT_TOKEN_ENDED; /* when, its expiry, is its end */
        s->active_count--;
    }
    if (s->active_grace > s->active_count)
        s->active_grace = s->active_count;
    if (s->active_count <= s->settings.max_active)
        s->active_grace = 0;
}

void memory__admission_run(memory_store *s, const concert_queue_params *p, int64_t now)
{
    const uint64_t end = memory__ticket_end(s);
    int64_t room, budget, admitted = 0;

    memory__admission_settle(s, now);
    room = s->settings.max_active - s->active_count;
    budget = concert_sys_admit_budget(&s->settings, s->pace_us, room > 0 ? room : 0, now);
    /* Each ticket is looked at once; dead ones are skipped without using
     * the budget. */
    while (admitted < budget && s->admitted_through < end) {
        const uint64_t index = s->admitted_through++;
        mem_token *t = memory__token(s, index);
        if (t->state != CONCERT_TOKEN_WAITING)
            continue;
        if (!memory__token_live(t, p, now)) {
            /* dropped for idleness: it ended when its wait_ttl ran out */
            t->state = CONCERT_TOKEN_ENDED;
            t->when = memory__add_sat(t->when, p->wait_ttl_ms);
            continue;
        }
        t->state = CONCERT_TOKEN_ACTIVE;
        t->when = memory__add_sat(now, p->active_ttl_ms);
        s->active_count++;
        mem_heap_push(&s->active_heap, t->when, index);
        admitted++;
    }
    s->pace_us = concert_sys_admit_record(&s->settings, s->pace_us, admitted, now);
    concert_sys_rate_observe(&s->rate, admitted, now);
}

int memory__admission_step(memory_store *s, const concert_queue_params *p, int64_t now)
{
    mem_opening o;
    int rc;

    if ((rc = memory__opening_prepare(s, p, now, 0, &o)) != 0)
        return rc;
    if ((rc = memory__admission_reserve(s, 0)) != 0) {
        memory__opening_discard(&o);
        return rc;
    }
    memory__opening_commit(s, &o);
    memory__admission_run(s, p, now);
    return CONCERT_OK;
}

void memory__token_end(memory_store *s, uint64_t i, const concert_queue_params *p, int64_t now)
{
    mem_token *t = memory__token(s, i);
    int64_t ran_out;

    if (t->state == CONCERT_TOKEN_ACTIVE) {
        s->active_count--;
        ran_out = t->when;
    } else if (t->state == CONCERT_TOKEN_WAITING) {
        if (memory__prequeued(s, i))
            s->prequeue_ended++;
        ran_out = memory__add_sat(t->when, p->wait_ttl_ms);
    } else {
        return; /* it keeps the end it had */
    }
    t->state = CONCERT_TOKEN_ENDED;
    t->when = ran_out < now ? ran_out : now;
}
