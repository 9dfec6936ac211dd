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

size_t memory__ticket_end(const memory_store *s)
{
    return s->settings.state == CONCERT_QUEUE_SCHEDULED ? s->prequeue_from : s->tokens_count;
}

int memory__prequeued(const memory_store *s, size_t index)
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
    free(o->order);
    free(o->block);
    memset(o, 0, sizeof(*o));
}

/* 1 if order holds every index of [from, from + n) exactly once, 0 if not
 * (the shuffle is the core's, but a wrong permutation would lose tokens),
 * -1 when out of memory. */
static int order_is_permutation(const int64_t *order, size_t n, size_t from)
{
    unsigned char *seen = calloc(n / 8 + 1, 1);
    int ok = 1;
    if (!seen)
        return -1;
    for (size_t i = 0; i < n && ok; i++) {
        size_t k;
        if (order[i] < (int64_t)from || (uint64_t)order[i] - from >= n) {
            ok = 0;
            break;
        }
        k = (size_t)order[i] - from;
        ok = !(seen[k / 8] & (1u << (k % 8)));
        seen[k / 8] |= (unsigned char)(1u << (k % 8));
    }
    free(seen);
    return ok;
}

int memory__opening_prepare(memory_store *s, const concert_queue_params *p, int64_t now,
                            int force, mem_opening *o)
{
    size_t from = s->prequeue_from;
    int rc;

    memset(o, 0, sizeof(*o));
    if (s->settings.state != CONCERT_QUEUE_SCHEDULED || (!force && now < s->settings.opens_at))
        return CONCERT_OK;
    o->due = 1;
    o->n = s->tokens_count - from;
    if (o->n == 0)
        return CONCERT_OK;
    o->order = malloc(o->n * sizeof(*o->order));
    o->block = malloc(o->n * sizeof(*o->block));
    if (!o->order || !o->block) {
        memory__opening_discard(o);
        return memory__out_of_memory("running the opening lottery");
    }
    /* a stable order in (join order), so that the shuffle alone decides */
    for (size_t i = 0; i < o->n; i++)
        o->order[i] = (int64_t)(from + i);
    /* No shuffle given: a core bug, but keeping the join order is a fair
     * enough fallback to keep the sale moving. */
    if (p->shuffle && (rc = p->shuffle(p->shuffle_ctx, o->order, o->n)) != 0) {
        memory__opening_discard(o);
        return rc;
    }
    rc = order_is_permutation(o->order, o->n, from);
    if (rc != 1) {
        memory__opening_discard(o);
        return rc < 0 ? memory__out_of_memory("running the opening lottery")
                      : concert_sys_error_set(CONCERT_EINTERNAL, "memory store: the lottery's "
                                                                 "shuffle lost or repeated a token");
    }
    return CONCERT_OK;
}

/* The lottery's order is in o->order (old indexes); token from + i is to
 * become the one that was at o->order[i]. Moving a token changes its index,
 * which token_ix and its user's last_ticket hold: pass 1 finds every moved
 * token's index slot (and whether its user's last_ticket names it) while
 * both still hold old indexes, pass 2 rewrites them, so an old index
 * rewritten early is never mistaken for one not yet moved. */
#define LAST_TICKET_FLAG (UINT64_C(1) << 63)

void memory__opening_commit(memory_store *s, mem_opening *o)
{
    size_t from = s->prequeue_from;

    if (!o->due)
        return;
    if (o->n) {
        memcpy(o->block, &s->tokens[from], o->n * sizeof(*o->block));
        for (size_t i = 0; i < o->n; i++) {
            size_t old = (size_t)o->order[i];
            mem_token *t = &s->tokens[from + i];
            uint32_t user;
            uint64_t found;

            *t = o->block[old - from];
            user = memory__user_find(s, t->user_id); /* users are never removed */
            found = mem_index_slot_of(&s->token_ix, memory__token_hash_of(s, (uint32_t)(from + i)),
                                      (uint32_t)old);
            if (user != MEM_NONE && s->users[user].last_ticket == old + 1)
                found |= LAST_TICKET_FLAG;
            o->order[i] = (int64_t)found;
        }
        for (size_t i = 0; i < o->n; i++) {
            uint64_t found = (uint64_t)o->order[i];
            size_t at = (size_t)(found & ~LAST_TICKET_FLAG);
            if (at < (size_t)s->token_ix.mask + 1) /* always: every token is indexed */
                mem_index_relabel(&s->token_ix, at, (uint32_t)(from + i));
            if (found & LAST_TICKET_FLAG)
                s->users[memory__user_find(s, s->tokens[from + i].user_id)].last_ticket =
                    (uint32_t)(from + i + 1);
        }
    }
    s->settings.state = CONCERT_QUEUE_OPEN;
    s->settings.opens_at = 0;
    s->prequeue_from = s->tokens_count;
    s->prequeue_ended = 0;
    memory__opening_discard(o);
}

/* ---- admission ---- */

int memory__admission_reserve(memory_store *s, size_t extra_tickets)
{
    /* pre-queued tokens included: an opening in this step makes them
     * tickets before admission runs */
    size_t waiting = s->tokens_count - s->admitted_through + extra_tickets;
    size_t most = (uint64_t)s->settings.max_active < waiting ? (size_t)s->settings.max_active
                                                              : waiting;
    return mem_ring_reserve(&s->active_fifo, most) == 0 ? 0 : memory__out_of_memory("admitting");
}

/* Expired ACTIVE tokens leave the count. Each sits in the FIFO in admission
 * order (same active_ttl), so this stops at the first live one. */
static void admission_settle(memory_store *s, int64_t now)
{
    while (s->active_fifo.count) {
        mem_token *t = &s->tokens[mem_ring_front(&s->active_fifo)];
        if (t->state == CONCERT_TOKEN_ACTIVE) {
            if (now < t->when)
                break;
            t->state = CONCERT_TOKEN_ENDED;
            s->active_count--;
        }
        /* ended some other way: its count was already given back */
        mem_ring_pop(&s->active_fifo);
    }
    if (s->active_grace > s->active_count)
        s->active_grace = s->active_count;
    if (s->active_count <= s->settings.max_active)
        s->active_grace = 0;
}

void memory__admission_run(memory_store *s, const concert_queue_params *p, int64_t now)
{
    size_t end = memory__ticket_end(s);
    int64_t room, budget, admitted = 0;

    admission_settle(s, now);
    room = s->settings.max_active - s->active_count;
    budget = concert_sys_admit_budget(&s->settings, s->pace_us, room > 0 ? room : 0, now);
    /* Each ticket is looked at once; dead ones are skipped without using
     * the budget. */
    while (admitted < budget && s->admitted_through < end) {
        uint32_t index = (uint32_t)s->admitted_through++;
        mem_token *t = &s->tokens[index];
        if (t->state != CONCERT_TOKEN_WAITING)
            continue;
        if (!memory__token_live(t, p, now)) {
            t->state = CONCERT_TOKEN_ENDED; /* dropped for idleness */
            continue;
        }
        t->state = CONCERT_TOKEN_ACTIVE;
        t->when = memory__add_sat(now, p->active_ttl_ms);
        s->active_count++;
        mem_ring_push(&s->active_fifo, index);
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

void memory__token_end(memory_store *s, mem_token *t)
{
    if (t->state == CONCERT_TOKEN_ACTIVE)
        s->active_count--;
    else if (t->state == CONCERT_TOKEN_WAITING && memory__prequeued(s, (size_t)(t - s->tokens)))
        s->prequeue_ended++;
    t->state = CONCERT_TOKEN_ENDED;
}
