/*
 * The memory backend's waiting queue: issue, status, leave, stats, and the
 * admission that settles ACTIVE tokens and admits WAITING ones in order.
 */
#include <stdlib.h>
#include <string.h>

#include "memory_internal.h"

static int token_live(const mem_token *t, const concert_queue_params *p, int64_t now)
{
    if (t->state == CONCERT_TOKEN_WAITING)
        return now < memory__add_sat(t->when, p->wait_ttl_ms);
    if (t->state == CONCERT_TOKEN_ACTIVE)
        return now < t->when;
    return 0;
}

/* Make sure admission can push every token it may admit: at most
 * max_active, and at most the tickets not yet reached (plus extra_tickets
 * about to be issued). */
static int admission_reserve(memory_store *s, const concert_queue_params *p,
                             size_t extra_tickets)
{
    size_t waiting = s->tokens_count - s->admitted_through + extra_tickets;
    size_t most = p->max_active > 0 && (uint64_t)p->max_active < waiting ? (size_t)p->max_active
                                                                          : waiting;
    return mem_ring_reserve(&s->active_fifo, most) == 0 ? 0 : memory__out_of_memory("admitting");
}

/* Settle ACTIVE tokens that ran out, then admit live WAITING ones in ticket
 * order while there is room. Each ticket is looked at once. Cannot fail
 * after admission_reserve(). */
static void admission_run(memory_store *s, const concert_queue_params *p, int64_t now)
{
    int64_t admitted = 0;

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
    while (s->active_count < p->max_active && s->admitted_through < s->tokens_count) {
        uint32_t index = (uint32_t)s->admitted_through++;
        mem_token *t = &s->tokens[index];
        if (t->state != CONCERT_TOKEN_WAITING)
            continue;
        if (!token_live(t, p, now)) {
            t->state = CONCERT_TOKEN_ENDED; /* dropped for idleness */
            continue;
        }
        t->state = CONCERT_TOKEN_ACTIVE;
        t->when = memory__add_sat(now, p->active_ttl_ms);
        s->active_count++;
        mem_ring_push(&s->active_fifo, index);
        admitted++;
    }
    concert_sys_rate_observe(&s->rate, admitted, now);
}

/* End a token; an ACTIVE one gives its slot back, once. */
void memory__token_end(memory_store *s, mem_token *t)
{
    if (t->state == CONCERT_TOKEN_ACTIVE)
        s->active_count--;
    t->state = CONCERT_TOKEN_ENDED;
}

static void token_report(const memory_store *s, const concert_queue_params *p, uint32_t index,
                         int64_t now, int is_new, concert_storage_token *out)
{
    const mem_token *t = &s->tokens[index];

    memset(out, 0, sizeof(*out));
    memory__token_text(s, t, out->info.token);
    out->info.user_id = t->user_id;
    out->info.is_new = is_new;
    out->info.eta_ms = -1;
    out->admit_rate_mps = s->rate.rate_mps;
    if (!token_live(t, p, now)) {
        out->info.state = CONCERT_TOKEN_ENDED;
    } else if (t->state == CONCERT_TOKEN_WAITING) {
        out->info.state = CONCERT_TOKEN_WAITING;
        out->info.position = (int64_t)index + 1 - (int64_t)s->admitted_through;
        out->info.expires_at = memory__add_sat(t->when, p->wait_ttl_ms);
    } else {
        out->info.state = CONCERT_TOKEN_ACTIVE;
        out->info.expires_at = t->when;
    }
}

/* Append a new WAITING token for user; every reservation is made before
 * anything changes. On success *index_out is the new token's index. */
static int token_append(memory_store *s, const concert_queue_params *p, uint32_t user,
                        const char *text, int64_t now, uint32_t *index_out)
{
    token_key k;
    char *copy = NULL;
    mem_token *t;
    uint32_t index;

    if (memory__token_key_make(text, &k) != 0)
        return concert_sys_error_set(CONCERT_EINTERNAL, "memory store: malformed new token");
    if (memory__token_find_key(s, text, &k) != MEM_NONE)
        return concert_sys_error_set(CONCERT_EINTERNAL,
                                     "memory store: new token collides with an existing one");
    if (RESERVE(s, tokens, 1) != 0 ||
        mem_index_reserve(&s->token_ix, 1, memory__token_hash_of, s) != 0 ||
        admission_reserve(s, p, 1) != 0)
        return memory__out_of_memory("issuing a token");
    if (!k.compact &&
        (RESERVE(s, verbatim, 1) != 0 || (copy = memory__text_dup(text)) == NULL))
        return memory__out_of_memory("issuing a token");

    index = (uint32_t)s->tokens_count++;
    t = &s->tokens[index];
    memset(t, 0, sizeof(*t));
    t->when = now;
    t->user_id = s->users[user].id;
    t->state = CONCERT_TOKEN_WAITING;
    if (copy) {
        uint32_t slot = (uint32_t)s->verbatim_count++;
        s->verbatim[slot] = copy;
        t->verbatim = 1;
        memcpy(t->text, &slot, sizeof(slot));
    } else {
        memcpy(t->text, k.bytes, sizeof(t->text));
    }
    mem_index_insert(&s->token_ix, k.hash, index);
    *index_out = index;
    return CONCERT_OK;
}

int memory__queue_issue(concert_storage *self, const concert_queue_params *params,
                        int64_t user_id, const char *new_token, int64_t now,
                        concert_storage_token *out)
{
    memory_store *s = memory__store_of(self);
    uint32_t user, index = 0, old = MEM_NONE;
    int rc = CONCERT_OK, is_new = 0;

    memory__store_lock(s);
    if ((rc = memory__user_lookup(s, user_id, &user)) != 0)
        goto done;
    if (s->users[user].last_ticket)
        old = s->users[user].last_ticket - 1;
    if (old != MEM_NONE && token_live(&s->tokens[old], params, now)) {
        if ((rc = admission_reserve(s, params, 0)) != 0)
            goto done;
        index = old;
        if (s->tokens[old].state == CONCERT_TOKEN_WAITING)
            s->tokens[old].when = now; /* asking again counts as a poll */
    } else {
        if ((rc = token_append(s, params, user, new_token, now, &index)) != 0)
            goto done;
        /* not live: it ends for good, so the user has one token at most */
        if (old != MEM_NONE)
            memory__token_end(s, &s->tokens[old]);
        s->users[user].last_ticket = index + 1;
        is_new = 1;
    }
    admission_run(s, params, now);
    token_report(s, params, index, now, is_new, out);
done:
    memory__store_unlock(s);
    return rc;
}

int memory__queue_status(concert_storage *self, const concert_queue_params *params,
                         const char *token, int64_t now, concert_storage_token *out)
{
    memory_store *s = memory__store_of(self);
    uint32_t index;
    int rc;

    memory__store_lock(s);
    if ((rc = admission_reserve(s, params, 0)) != 0)
        goto done;
    admission_run(s, params, now);
    index = memory__token_find(s, token);
    if (index == MEM_NONE) {
        rc = concert_sys_error_set(CONCERT_ETOKEN_INVALID, "token invalid: unknown token");
        goto done;
    }
    if (s->tokens[index].state == CONCERT_TOKEN_WAITING && token_live(&s->tokens[index], params, now))
        s->tokens[index].when = now;
    token_report(s, params, index, now, 0, out);
done:
    memory__store_unlock(s);
    return rc;
}

int memory__queue_leave(concert_storage *self, const concert_queue_params *params,
                        const char *token, int64_t now)
{
    memory_store *s = memory__store_of(self);
    uint32_t index;
    int rc;

    memory__store_lock(s);
    index = memory__token_find(s, token);
    if (index == MEM_NONE || !token_live(&s->tokens[index], params, now)) {
        rc = concert_sys_error_set(CONCERT_ETOKEN_INVALID, "token invalid: %s",
                                   index == MEM_NONE ? "unknown token" : "expired or ended");
        goto done;
    }
    if ((rc = admission_reserve(s, params, 0)) != 0)
        goto done;
    memory__token_end(s, &s->tokens[index]);
    admission_run(s, params, now);
done:
    memory__store_unlock(s);
    return rc;
}

int memory__queue_stats(concert_storage *self, const concert_queue_params *params,
                        int64_t now, concert_queue_stats *out)
{
    memory_store *s = memory__store_of(self);
    int rc;

    memory__store_lock(s);
    if ((rc = admission_reserve(s, params, 0)) == 0) {
        admission_run(s, params, now);
        memset(out, 0, sizeof(*out));
        out->active = s->active_count;
        out->waiting = (int64_t)(s->tokens_count - s->admitted_through);
        out->max_active = params->max_active;
        out->admitted_through = (int64_t)s->admitted_through;
        out->last_ticket = (int64_t)s->tokens_count;
    }
    memory__store_unlock(s);
    return rc;
}
