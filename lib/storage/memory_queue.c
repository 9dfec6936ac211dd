/*
 * The memory backend's queue steps: issue, status, leave, stats and
 * configure. Admission and the opening lottery are memory_admission.c.
 * Every step that can open the queue prepares the opening first, makes
 * every other reservation, and only then commits it: a failing step changes
 * nothing, the opening included.
 */
#include <stdlib.h>
#include <string.h>

#include "memory_internal.h"

static void token_report(const memory_store *s, const concert_queue_params *p, uint64_t index,
                         int64_t now, int is_new, concert_storage_token *out)
{
    const mem_token *t = memory__token(s, index);
    int prequeued = memory__prequeued(s, index);

    memset(out, 0, sizeof(*out));
    memory__token_text(s, t, out->info.token);
    out->info.user_id = t->user_id;
    out->info.is_new = is_new;
    out->info.eta_ms = -1;
    out->admit_rate_mps = s->rate.rate_mps;
    out->ticket = prequeued ? 0 : (int64_t)index + 1;
    out->queue_state = s->settings.state;
    if (!memory__token_live(t, p, now)) {
        out->info.state = CONCERT_TOKEN_ENDED;
    } else if (t->state == CONCERT_TOKEN_WAITING) {
        out->info.state = CONCERT_TOKEN_WAITING;
        out->info.position = prequeued ? CONCERT_POSITION_PREQUEUE
                                       : (int64_t)index + 1 - (int64_t)s->admitted_through;
        out->info.expires_at = memory__add_sat(t->when, p->wait_ttl_ms);
    } else {
        out->info.state = CONCERT_TOKEN_ACTIVE;
        out->info.expires_at = t->when;
    }
}

/* A new token, checked and with all its memory reserved, not yet in the
 * store. */
typedef struct token_new {
    token_key key;
    char *copy; /* the text, when it is not the compact shape */
} token_new;

static int token_new_prepare(memory_store *s, const char *text, token_new *n)
{
    n->copy = NULL;
    if (memory__token_key_make(text, &n->key) != 0)
        return concert_sys_error_set(CONCERT_EINTERNAL, "memory store: malformed new token");
    if (memory__token_find_key(s, text, &n->key) != MEM_NO_TOKEN)
        return concert_sys_error_set(CONCERT_EINTERNAL,
                                     "memory store: new token collides with an existing one");
    if (mem_window_reserve(&s->tokens, 1, sizeof(mem_token)) != 0 ||
        mem_index_reserve(&s->token_ix, 1) != 0 || memory__admission_reserve(s, 1) != 0)
        return memory__out_of_memory("issuing a token");
    if (n->key.compact)
        return CONCERT_OK;
    /* a new slot only when none is free, and room to free every slot, so
     * that pruning never needs memory */
    if ((s->verbatim_free_count == 0 &&
         (RESERVE(s, verbatim, 1) != 0 || RESERVE(s, verbatim_free, s->verbatim_count + 1) != 0)) ||
        (n->copy = memory__text_dup(text)) == NULL)
        return memory__out_of_memory("issuing a token");
    return CONCERT_OK;
}

/* Append the prepared token, WAITING, at the back of the line (in the
 * pre-queue while SCHEDULED: it is the block's end). Cannot fail. */
static uint64_t token_new_commit(memory_store *s, uint32_t user, token_new *n, int64_t now)
{
    const uint64_t index = s->tokens.end++;
    mem_token *t = memory__token(s, index);

    memset(t, 0, sizeof(*t));
    t->when = now;
    t->user_id = s->users[user].id;
    t->user = user;
    t->state = CONCERT_TOKEN_WAITING;
    if (n->copy) {
        uint32_t slot = s->verbatim_free_count ? s->verbatim_free[--s->verbatim_free_count]
                                               : (uint32_t)s->verbatim_count++;
        s->verbatim[slot] = n->copy;
        n->copy = NULL;
        t->verbatim = 1;
        memcpy(t->text, &slot, sizeof(slot));
    } else {
        memcpy(t->text, n->key.bytes, sizeof(t->text));
    }
    mem_index_insert(&s->token_ix, n->key.hash, MEM_WINDOW_LOW(index));
    return index;
}

int memory__queue_issue(concert_storage *self, const concert_queue_params *params, int64_t user_id,
                        const char *new_token, int64_t now, concert_storage_token *out)
{
    memory_store *s = memory__store_of(self);
    token_new fresh = { 0 };
    mem_opening opening = { 0 };
    uint64_t index, old;
    uint32_t user;
    int rc, is_new;

    memory__store_lock(s);
    if ((rc = memory__user_lookup(s, user_id, &user)) != 0)
        goto done;
    old = memory__user_token(s, user);
    is_new = old == MEM_NO_TOKEN || !memory__token_live(memory__token(s, old), params, now);
    /* a user already in line keeps their place even when the queue closed */
    if (is_new && s->settings.state == CONCERT_QUEUE_CLOSED) {
        rc = concert_sys_error_set(CONCERT_EQUEUE_CLOSED, "queue closed: it takes no new joins");
        goto done;
    }
    if ((rc = memory__opening_prepare(s, params, now, 0, &opening)) != 0)
        goto done;
    rc = is_new ? token_new_prepare(s, new_token, &fresh) : memory__admission_reserve(s, 0);
    if (rc != 0)
        goto done;

    /* Nothing can fail from here on. The opening comes first, so that a
     * join after opens_at queues behind the lottery's order. */
    memory__opening_commit(s, &opening);
    old = memory__user_token(s, user); /* the lottery may have moved it */
    if (is_new) {
        index = token_new_commit(s, user, &fresh, now);
        /* not live: it ends for good, so the user has one token at most */
        if (old != MEM_NO_TOKEN)
            memory__token_end(s, old, params, now);
        s->users[user].last_ticket = MEM_WINDOW_LOW(index);
    } else {
        index = old;
        mem_token *t = memory__token(s, old);
        /* asking again counts as a poll; an earlier now never moves the
         * idle clock back (the deadline a buyer was told stays good) */
        if (t->state == CONCERT_TOKEN_WAITING && now > t->when)
            t->when = now;
    }
    memory__admission_run(s, params, now);
    token_report(s, params, index, now, is_new, out);
    /* last: the token just reported is live, and pruning needs no memory */
    memory__prune_step(s, params, params->retention_ms, now);
done:
    memory__opening_discard(&opening);
    free(fresh.copy);
    memory__store_unlock(s);
    return rc;
}

int memory__queue_status(concert_storage *self, const concert_queue_params *params,
                         const char *token, int64_t now, concert_storage_token *out)
{
    memory_store *s = memory__store_of(self);
    mem_token *t;
    uint64_t index;
    int rc;

    memory__store_lock(s);
    if ((rc = memory__admission_step(s, params, now)) != 0)
        goto done;
    index = memory__token_find(s, token);
    if (index == MEM_NO_TOKEN) {
        rc = concert_sys_error_set(CONCERT_ETOKEN_INVALID, "token invalid: unknown token");
        goto done;
    }
    t = memory__token(s, index);
    if (t->state == CONCERT_TOKEN_WAITING) {
        /* an idle one reported ENDED here ends for good: a poll at an
         * earlier `now` (storage.h) must not bring it back */
        if (memory__token_live(t, params, now)) {
            if (now > t->when) /* never back: the deadline already told stays */
                t->when = now;
        } else
            memory__token_end(s, index, params, now);
    }
    token_report(s, params, index, now, 0, out);
done:
    memory__store_unlock(s);
    return rc;
}

int memory__queue_leave(concert_storage *self, const concert_queue_params *params,
                        const char *token, int64_t now)
{
    memory_store *s = memory__store_of(self);
    mem_opening opening = { 0 };
    uint64_t index;
    int rc;

    memory__store_lock(s);
    /* checked before the opening so that a refused leave changes nothing;
     * the lottery moves tokens but never ends one, so the answer holds */
    index = memory__token_find(s, token);
    if (index == MEM_NO_TOKEN || !memory__token_live(memory__token(s, index), params, now)) {
        rc = concert_sys_error_set(CONCERT_ETOKEN_INVALID, "token invalid: %s",
                                   index == MEM_NO_TOKEN ? "unknown token" : "expired or ended");
        goto done;
    }
    if ((rc = memory__opening_prepare(s, params, now, 0, &opening)) != 0)
        goto done;
    if ((rc = memory__admission_reserve(s, 0)) != 0)
        goto done;
    memory__opening_commit(s, &opening);
    /* A pre-queued token simply ends: it keeps its place in the block and
     * admission skips it once the lottery has given it a ticket. */
    memory__token_end(s, memory__token_find(s, token), params, now);
    memory__admission_run(s, params, now);
done:
    memory__opening_discard(&opening);
    memory__store_unlock(s);
    return rc;
}

int memory__queue_stats(concert_storage *self, const concert_queue_params *params, int64_t now,
                        concert_queue_stats *out)
{
    memory_store *s = memory__store_of(self);
    uint64_t end;
    int rc;

    memory__store_lock(s);
    if ((rc = memory__admission_step(s, params, now)) == 0) {
        end = memory__ticket_end(s);
        memset(out, 0, sizeof(*out));
        out->active = s->active_count;
        out->waiting = (int64_t)(end - s->admitted_through);
        out->max_active = s->settings.max_active;
        out->admitted_through = (int64_t)s->admitted_through;
        out->last_ticket = (int64_t)end;
        out->admit_per_minute = s->settings.admit_per_minute;
        out->state = s->settings.state;
        out->opens_at = s->settings.opens_at;
        /* those that left are out; those idling past wait_ttl are counted
         * until the lottery, like tickets in `waiting` */
        out->prequeued = (int64_t)(s->tokens.end - end - s->prequeue_ended);
        out->admit_rate_mps = s->rate.rate_mps;
        out->eta_ms = -1; /* the core's */
    }
    memory__store_unlock(s);
    return rc;
}
