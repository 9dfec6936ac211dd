/*
 * Retention in the memory store (storage.h, "Retention"). Tokens and
 * idempotency records are windows numbered in the order they were created
 * (memory_internal.h); what retention lets go leaves its index and frees its
 * text, and the window's front moves past it, so its slot is reused by the
 * records created next. The store holds what is live plus what retention
 * keeps, however long it runs.
 *
 * A token is due once it is not live and its end lies retention_ms in the
 * past: an ENDED one's end is its when; a WAITING one that idled ended at
 * last_seen + wait_ttl. A live token is never due; an ACTIVE one is not due
 * until admission settles it (ENDED at its expiry), so the active count
 * stays exact.
 *
 * Pruning a token takes it out of the index (it is unknown from then on)
 * and leaves its record as a hole (MEM_TOKEN_GONE) wherever it is; the
 * front then moves past holes, up to admitted_through: admission reads the
 * line from there (and skips holes: they are not WAITING), and while
 * SCHEDULED the pre-queue block, which the lottery permutes, starts above
 * it. A hole in line is reclaimed once admission has passed it.
 *
 * Inside a step (queue_issue, pay, charge), pruning looks only at the
 * fronts: a few rows each, amortised O(1), nothing scanned. The token front
 * waits for an ACTIVE token (at most active_ttl), an ENDED one not yet due
 * (at most retention, and ends come close to ticket order) and the line, so
 * steps alone keep the store bounded while the queue moves; a line that
 * does not move (PAUSED, SCHEDULED, or full for long) keeps its idle
 * tokens until it moves or prune() runs. prune() walks the whole window.
 * Nothing here allocates but the optional shrink at the end of prune(): a
 * step prunes last, once it cannot fail.
 *
 * retention_ms <= 0 makes nothing due: the core always passes its own (at
 * least a second), so that can only be a caller of the table that knows no
 * retention, and keeping everything is what such a caller expects.
 */
#include <stdlib.h>

#include "memory_internal.h"

/* 1 if the token numbered i may go at now, with the instant retention
 * counts from (its end) in *since. */
static int token_due(const memory_store *s, const concert_queue_params *p, uint64_t i, int64_t now,
                     int64_t *since)
{
    const mem_token *t = memory__token(s, i);
    int64_t end;

    if (t->state == CONCERT_TOKEN_ENDED)
        end = t->when;
    else if (t->state == CONCERT_TOKEN_WAITING && !memory__token_live(t, p, now))
        end = memory__add_sat(t->when, p->wait_ttl_ms);
    else
        return 0;
    if (memory__add_sat(end, p->retention_ms) > now)
        return 0;
    *since = end;
    return 1;
}

/* Take the token numbered i out of the store: index, text, and (a WAITING
 * one) the queue's counts, as a leave would. Its record stays, a hole. */
static void token_prune(memory_store *s, uint64_t i)
{
    mem_token *t = memory__token(s, i);

    mem_index_remove(&s->token_ix, memory__token_hash(s, t), MEM_WINDOW_LOW(i));
    if (t->verbatim) {
        const uint32_t slot = memory__verbatim_slot(t);
        free(s->verbatim[slot]);
        s->verbatim[slot] = NULL;
        s->verbatim_free[s->verbatim_free_count++] = slot; /* room: see its field */
        t->verbatim = 0;
    }
    if (t->state == CONCERT_TOKEN_WAITING && memory__prequeued(s, i))
        s->prequeue_ended++;
    t->state = MEM_TOKEN_GONE;
}

/* Move the front past the holes before admitted_through. */
static void token_front_advance(memory_store *s)
{
    while (s->tokens.base < s->admitted_through &&
           memory__token(s, s->tokens.base)->state == MEM_TOKEN_GONE)
        s->tokens.base++;
}

/* 1 if the oldest idempotency record may go at now, with its creation in
 * *since. */
static int idem_due(const memory_store *s, int64_t retention_ms, int64_t now, int64_t *since)
{
    const mem_idem *rec;
    if (s->idem.base == s->idem.end)
        return 0;
    rec = memory__idem(s, s->idem.base);
    if (memory__add_sat(rec->created_at, retention_ms) > now)
        return 0;
    *since = rec->created_at;
    return 1;
}

static void idem_prune(memory_store *s)
{
    mem_idem *rec = memory__idem(s, s->idem.base);

    mem_index_remove(&s->idem_ix, memory__idem_hash(rec), MEM_WINDOW_LOW(s->idem.base));
    free(rec->text);
    rec->text = NULL;
    s->idem.base++;
}

void memory__prune_step(memory_store *s, const concert_queue_params *p, int64_t retention_ms,
                        int64_t now)
{
    int64_t since;
    if (retention_ms <= 0)
        return;
    if (p) {
        /* an ACTIVE token that ran out holds the front until it is settled */
        memory__admission_settle(s, now);
        token_front_advance(s); /* past holes admission has passed since */
        for (int k = 0; k < MEMORY_PRUNE_STEP && s->tokens.base < s->admitted_through &&
                        token_due(s, p, s->tokens.base, now, &since);
             k++) {
            token_prune(s, s->tokens.base);
            token_front_advance(s);
        }
    }
    for (int k = 0; k < MEMORY_PRUNE_STEP && idem_due(s, retention_ms, now, &since); k++)
        idem_prune(s);
}

/* After a big prune, a window whose ring (of 1,024 records or more) is
 * mostly empty gives the memory back: to the smallest power of two that
 * holds twice what is left (so that the next steps do not grow it at once),
 * when that is a quarter of the ring or less. Only in prune(), never in a
 * step: it copies the window. Out of memory keeps the ring as it is. */
static void window_shrink(mem_window *w, size_t size)
{
    const uint64_t count = mem_window_count(w);
    size_t cap = mem_window_cap(w), next = 16;
    unsigned char *smaller;

    while (next < 2 * count)
        next *= 2;
    if (cap < 1024 || next > cap / 4 || !(smaller = malloc(next * size)))
        return;
    for (uint64_t i = w->base; i < w->end; i++)
        memcpy(smaller + ((size_t)i & (next - 1)) * size,
               (unsigned char *)w->items + ((size_t)i & w->mask) * size, size);
    free(w->items);
    w->items = smaller;
    w->mask = next - 1;
}

/* The first token from *at on that is due, its number in *at and its end in
 * *since; 0 when there is none. */
static int token_next_due(const memory_store *s, const concert_queue_params *p, int64_t now,
                          uint64_t *at, int64_t *since)
{
    for (; *at < s->tokens.end; ++*at)
        if (token_due(s, p, *at, now, since))
            return 1;
    return 0;
}

int memory__prune(concert_storage *self, const concert_prune_request *req,
                  concert_prune_report *out)
{
    memory_store *s = memory__store_of(self);
    const concert_queue_params *p = &req->queue;
    const int64_t now = req->now;
    uint64_t at;
    int64_t token_since = 0, idem_since = 0;
    int token, idem;

    memset(out, 0, sizeof(*out));
    if (p->retention_ms <= 0)
        return CONCERT_OK;
    memory__store_lock(s);
    memory__admission_settle(s, now);
    /* Tokens in ticket order, records in creation order, the two merged by
     * the instant retention counts from: oldest first. */
    at = s->tokens.base;
    token = token_next_due(s, p, now, &at, &token_since);
    idem = idem_due(s, p->retention_ms, now, &idem_since);
    while (token || idem) {
        if (req->limit > 0 && (uint64_t)(out->tokens + out->idempotency) >= req->limit) {
            out->more = 1;
            break;
        }
        if (token && (!idem || token_since <= idem_since)) {
            token_prune(s, at++);
            out->tokens++;
            token = token_next_due(s, p, now, &at, &token_since);
        } else {
            idem_prune(s);
            out->idempotency++;
            idem = idem_due(s, p->retention_ms, now, &idem_since);
        }
    }
    token_front_advance(s);
    window_shrink(&s->tokens, sizeof(mem_token));
    window_shrink(&s->idem, sizeof(mem_idem));
    mem_index_shrink(&s->token_ix);
    mem_index_shrink(&s->idem_ix);
    memory__store_unlock(s);
    return CONCERT_OK;
}
