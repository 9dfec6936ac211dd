/*
 * The memory backend's invariant checker (verify): sold seats, reservations,
 * balances against the ledger, and the queue's active count and pre-queue.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memory_internal.h"

/* verify's output: one formatted line per violation, kept until the
 * store's lock is released (the callback may call into the db). */
typedef struct verify_line {
    char text[256];
} verify_line;

typedef struct verify_out {
    verify_line *lines;
    size_t count, cap;
    int oom; /* a line could not be kept */
} verify_out;

static int violation(verify_out *v, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static int violation(verify_out *v, const char *fmt, ...)
{
    va_list ap;
    void *lines = v->lines;
    if (mem_array_reserve(&lines, &v->cap, v->count, 1, sizeof(*v->lines), SIZE_MAX / 512) != 0) {
        v->oom = 1;
        return CONCERT_OK;
    }
    v->lines = lines;
    va_start(ap, fmt);
    /* a cut message is still a message */
    vsnprintf(v->lines[v->count++].text, sizeof(v->lines->text), fmt, ap);
    va_end(ap);
    return CONCERT_OK;
}

/* Each schedule's held count is its HELD reservations not settled as
 * expired, and each live one owns its seat. counts: scratch of
 * schedules_count zeroed entries. */
static int verify_held(const memory_store *s, int64_t now, uint32_t *counts, verify_out *v)
{
    int rc = CONCERT_OK;
    for (size_t i = 0; i < s->reservations_count; i++) {
        const mem_reservation *r = &s->reservations[i];
        if (!r->counted)
            continue;
        if (r->status != CONCERT_RESERVATION_HELD ||
            (memory__hold_live(r, now) && s->schedules[r->schedule].seats[r->seat] != i + 1))
            return violation(v,
                             "reservation %zu: counted as held but not the HELD owner of "
                             "its seat",
                             i + 1);
        counts[r->schedule]++;
    }
    for (size_t si = 0; si < s->schedules_count && rc == 0; si++)
        if (counts[si] != s->schedules[si].held_count)
            rc = violation(v, "schedule %lld: held count %u but %u holds are counted",
                           (long long)s->schedules[si].id, s->schedules[si].held_count, counts[si]);
    return rc;
}

/* Seats: a seat points at a reservation for that very seat, never at a
 * released one, and a sold seat's reservation was sold at the seat's price. */
static int verify_seats(const memory_store *s, verify_out *v, concert_verify_report *report)
{
    int rc = CONCERT_OK;
    for (size_t si = 0; si < s->schedules_count; si++) {
        const mem_schedule *sc = &s->schedules[si];
        for (uint32_t r = 0; r < sc->range_count; r++) {
            const mem_range *range = &sc->ranges[r];
            for (int64_t n = range->from; n <= range->to && rc == 0; n++) {
                uint32_t seat = range->base + (uint32_t)(n - range->from);
                uint32_t ref = sc->seats[seat];
                const mem_reservation *res;
                report->seats++;
                if (!ref)
                    continue;
                res = &s->reservations[ref - 1];
                if (res->schedule != si || res->seat != seat) {
                    rc = violation(v,
                                   "schedule %lld seat %lld points at reservation %u, "
                                   "which is for another seat",
                                   (long long)sc->id, (long long)n, ref);
                    continue;
                }
                if (res->status == CONCERT_RESERVATION_RELEASED) {
                    rc = violation(v,
                                   "schedule %lld seat %lld points at reservation %u, "
                                   "which was released",
                                   (long long)sc->id, (long long)n, ref);
                    continue;
                }
                if (res->status != CONCERT_RESERVATION_CONFIRMED)
                    continue;
                report->seats_sold++;
                if (res->price != range->price)
                    rc = violation(v,
                                   "schedule %lld seat %lld: sold at %lld points, price is "
                                   "%lld",
                                   (long long)sc->id, (long long)n, (long long)res->price,
                                   (long long)range->price);
            }
        }
    }
    return rc;
}

/* What verify_payments adds up per payment from its reservations. */
typedef struct payment_sum {
    int64_t amount;
    int64_t first; /* the lowest reservation id referring to it */
    uint32_t count;
} payment_sum;

/* Payments: every CONFIRMED reservation refers to exactly one payment (its
 * order's, the same user's), nothing else refers to one, and each payment
 * covers at least one reservation, names the first, and is the sum of their
 * prices. */
static int verify_payments(const memory_store *s, payment_sum *sums, verify_out *v)
{
    int rc = CONCERT_OK;
    for (size_t i = 0; i < s->reservations_count && rc == 0; i++) {
        const mem_reservation *r = &s->reservations[i];
        payment_sum *p;
        if (r->status != CONCERT_RESERVATION_CONFIRMED) {
            if (r->payment)
                rc = violation(v, "reservation %zu: not CONFIRMED but refers to payment %u", i + 1,
                               r->payment);
            continue;
        }
        if (!r->payment || r->payment > s->payments_count) {
            rc = violation(v, "reservation %zu: CONFIRMED without a payment", i + 1);
            continue;
        }
        if (s->payments[r->payment - 1].user_id != r->user_id)
            rc = violation(v, "reservation %zu: user %lld's, paid by payment %u of user %lld",
                           i + 1, (long long)r->user_id, r->payment,
                           (long long)s->payments[r->payment - 1].user_id);
        p = &sums[r->payment - 1];
        if (!p->count++)
            p->first = (int64_t)i + 1;
        p->amount += r->price;
    }
    for (size_t i = 0; i < s->payments_count && rc == 0; i++) {
        const mem_payment *pm = &s->payments[i];
        if (!sums[i].count)
            rc = violation(v, "payment %zu: no reservation refers to it", i + 1);
        else if (pm->reservation_id != sums[i].first)
            rc = violation(v, "payment %zu: names reservation %lld, its first is %lld", i + 1,
                           (long long)pm->reservation_id, (long long)sums[i].first);
        else if (pm->amount != sums[i].amount)
            rc = violation(v, "payment %zu: amount %lld, its %u reservations cost %lld", i + 1,
                           (long long)pm->amount, sums[i].count, (long long)sums[i].amount);
    }
    return rc;
}

/* CONFIRMED reservations sold their seat; live holds are not on sold seats. */
static int verify_reservations(const memory_store *s, int64_t now, verify_out *v,
                               concert_verify_report *report)
{
    int rc = CONCERT_OK;
    for (size_t i = 0; i < s->reservations_count && rc == 0; i++) {
        const mem_reservation *r = &s->reservations[i];
        const mem_schedule *sc = &s->schedules[r->schedule];
        uint32_t ref = sc->seats[r->seat];
        int seat_sold = ref && s->reservations[ref - 1].status == CONCERT_RESERVATION_CONFIRMED;
        report->reservations++;
        if (r->status == CONCERT_RESERVATION_CONFIRMED && ref != i + 1)
            rc = violation(v,
                           "reservation %zu: CONFIRMED but seat %lld of schedule %lld is not "
                           "sold to it",
                           i + 1, (long long)r->seat_number, (long long)sc->id);
        else if (memory__hold_live(r, now) && seat_sold)
            rc = violation(v,
                           "seat %lld of schedule %lld: sold to reservation %u and under a "
                           "live hold by reservation %zu",
                           (long long)r->seat_number, (long long)sc->id, ref, i + 1);
    }
    return rc;
}

/* Balances are the sum of their ledger, and each user's ledger index lists
 * exactly their entries, in order. */
static int verify_balances(const memory_store *s, verify_out *v, concert_verify_report *report)
{
    size_t indexed = 0;
    int rc = CONCERT_OK;
    for (size_t i = 0; i < s->users_count && rc == 0; i++) {
        const mem_user *u = &s->users[i];
        int64_t sum = 0;
        for (uint32_t k = 0; k < u->ledger_count && rc == 0; k++) {
            uint32_t id = u->ledger[k];
            if (!id || id > s->ledger_count || s->ledger[id - 1].user != i ||
                (k > 0 && id <= u->ledger[k - 1]))
                rc = violation(v,
                               "user %lld: ledger index names entry %u out of order or "
                               "not theirs",
                               (long long)u->id, id);
            else
                sum += s->ledger[id - 1].amount;
        }
        indexed += u->ledger_count;
        report->ledger_entries += u->ledger_count;
        report->users++;
        if (rc != 0)
            break;
        if (u->balance != sum)
            rc = violation(v, "user %lld: balance %lld but the ledger sums to %lld",
                           (long long)u->id, (long long)u->balance, (long long)sum);
        else if (u->balance < 0)
            rc = violation(v, "user %lld: negative balance %lld", (long long)u->id,
                           (long long)u->balance);
    }
    if (rc == 0 && indexed != s->ledger_count)
        rc = violation(v, "ledger: %zu entries but the users' indexes list %zu", s->ledger_count,
                       indexed);
    return rc;
}

/* The per-buyer limits count from each user's own lists: every live hold is
 * in its user's chain of holds, and each user's purchase counts are those of
 * their CONFIRMED reservations of concerts with a limit. mark: scratch of
 * reservations_count bytes; offset: of users_count + 1; seen: of as many as
 * the users' purchase counts (offset[users_count]); all zeroed. */
static int verify_limits(const memory_store *s, int64_t now, unsigned char *mark,
                         const size_t *offset, uint32_t *seen, verify_out *v)
{
    int rc = CONCERT_OK;
    for (size_t i = 0; i < s->users_count && rc == 0; i++) {
        const mem_user *u = &s->users[i];
        uint32_t newer = 0;
        for (uint32_t id = u->hold_head; id; newer = id, id = s->reservations[id - 1].next_hold) {
            /* marked already: a cycle, or in two users' chains */
            if (id > s->reservations_count || s->reservations[id - 1].user_id != u->id ||
                mark[id - 1] || s->reservations[id - 1].prev_hold != newer) {
                rc = violation(v, "user %lld: chain of holds broken at reservation %u",
                               (long long)u->id, id);
                if (id <= s->reservations_count)
                    mark[id - 1] = 1; /* one violation for one break */
                break;
            }
            mark[id - 1] = 1;
        }
    }
    for (size_t i = 0; i < s->reservations_count && rc == 0; i++) {
        const mem_reservation *r = &s->reservations[i];
        uint32_t concert = s->schedules[r->schedule].concert, user, at;
        if (memory__hold_live(r, now) && !mark[i]) {
            rc =
                violation(v, "reservation %zu: a live hold its user's limit does not count", i + 1);
            continue;
        }
        if (r->status != CONCERT_RESERVATION_CONFIRMED || s->concerts[concert].max_per_user <= 0)
            continue;
        user = memory__user_find(s, r->user_id);
        at = user == MEM_NONE ? MEM_NONE : memory__bought_find(&s->users[user], concert);
        if (at == MEM_NONE)
            rc = violation(v, "reservation %zu: a purchase its user's limit does not count", i + 1);
        else
            seen[offset[user] + at]++;
    }
    for (size_t i = 0; i < s->users_count && rc == 0; i++) {
        const mem_user *u = &s->users[i];
        for (uint32_t k = 0; k < u->bought_count && rc == 0; k++) {
            if (seen[offset[i] + k] != u->bought[k].confirmed)
                rc =
                    violation(v, "user %lld: %u purchases of concert %lld counted, %u made",
                              (long long)u->id, u->bought[k].confirmed,
                              (long long)s->concerts[u->bought[k].concert].id, seen[offset[i] + k]);
        }
    }
    return rc;
}

/* The window holds what admission has not passed, and fits its ring. */
static int verify_token_window(const memory_store *s, verify_out *v)
{
    const mem_window *w = &s->tokens;
    if (w->base > s->admitted_through || s->admitted_through > w->end)
        return violation(v, "tokens: tickets %llu to %llu are kept, admission is at %llu",
                         (unsigned long long)w->base + 1, (unsigned long long)w->end,
                         (unsigned long long)s->admitted_through);
    if (mem_window_count(w) > mem_window_cap(w))
        return violation(v, "tokens: %llu kept in a ring of %zu",
                         (unsigned long long)mem_window_count(w), mem_window_cap(w));
    return CONCERT_OK;
}

/* Every kept token names its user by id and by index, and the two agree
 * (the booking steps act for the user at that index); it is in the index
 * under its text, once (the index holds as many entries as the window
 * holds tokens that were not pruned); a verbatim one's text is there; and
 * one that has not ended is its user's newest (a user has one token that
 * can be live). */
static int verify_tokens(const memory_store *s, verify_out *v)
{
    size_t verbatim = 0;
    uint64_t gone = 0;
    int rc = CONCERT_OK, broken = 0;
    for (uint64_t i = s->tokens.base; i < s->tokens.end && rc == 0; i++) {
        const mem_token *t = memory__token(s, i);
        const unsigned long long ticket = (unsigned long long)i + 1;
        if (t->state == MEM_TOKEN_GONE) {
            gone++;
            continue;
        }
        if (t->user >= s->users_count || s->users[t->user].id != t->user_id)
            rc = violation(v, "token %llu: user %lld, but its user index names another", ticket,
                           (long long)t->user_id);
        else if (t->verbatim && (memory__verbatim_slot(t) >= s->verbatim_count ||
                                 !s->verbatim[memory__verbatim_slot(t)]))
            rc = violation(v, "token %llu: its text is gone", ticket);
        else if (mem_index_locate(&s->token_ix, memory__token_hash(s, t), MEM_WINDOW_LOW(i)) ==
                 SIZE_MAX)
            rc = violation(v, "token %llu: not in the token index under its text", ticket);
        else if (t->state != CONCERT_TOKEN_ENDED && memory__user_token(s, t->user) != i)
            rc = violation(v, "token %llu: not ended, but not user %lld's newest", ticket,
                           (long long)t->user_id);
        else {
            verbatim += t->verbatim;
            continue;
        }
        broken = 1;
    }
    /* the counts only when every token checked out: one break, one line */
    if (rc != 0 || broken)
        return rc;
    if (s->token_ix.count != mem_window_count(&s->tokens) - gone)
        rc = violation(v, "tokens: %zu in the index, %llu kept", s->token_ix.count,
                       (unsigned long long)(mem_window_count(&s->tokens) - gone));
    else if (s->verbatim_count - s->verbatim_free_count != verbatim)
        rc = violation(v, "tokens: %zu verbatim texts kept, %zu tokens have one",
                       s->verbatim_count - s->verbatim_free_count, verbatim);
    return rc;
}

/* Every kept idempotency record is in the index once, with its text. */
static int verify_idempotency(const memory_store *s, verify_out *v)
{
    int rc = CONCERT_OK, broken = 0;
    for (uint64_t i = s->idem.base; i < s->idem.end && rc == 0; i++) {
        const mem_idem *rec = memory__idem(s, i);
        if (!rec->text)
            rc =
                violation(v, "idempotency record %llu: its key is gone", (unsigned long long)i + 1);
        else if (mem_index_locate(&s->idem_ix, memory__idem_hash(rec), MEM_WINDOW_LOW(i)) ==
                 SIZE_MAX)
            rc = violation(v, "idempotency record %llu: not in the index under its key",
                           (unsigned long long)i + 1);
        else
            continue;
        broken = 1;
    }
    if (rc == 0 && !broken && s->idem_ix.count != mem_window_count(&s->idem))
        rc = violation(v, "idempotency: %zu in the index, %llu kept", s->idem_ix.count,
                       (unsigned long long)mem_window_count(&s->idem));
    return rc;
}

/*
 * The queue: the active count is exact, and live ACTIVE tokens are within
 * max_active -- or, right after max_active was lowered below the active
 * count, within active_grace: lowering the limit evicts nobody, and
 * admission admits nobody until the count is under the new limit, so that
 * bound only shrinks. While SCHEDULED nobody in the pre-queue has been
 * reached by admission.
 */
static int verify_queue(const memory_store *s, int64_t now, verify_out *v,
                        concert_verify_report *report)
{
    int64_t live = 0, active_state = 0;
    int64_t bound =
        s->settings.max_active > s->active_grace ? s->settings.max_active : s->active_grace;
    /* every ACTIVE token entered the heap when admitted and leaves it only
     * once it is no longer ACTIVE (each ticket is admitted once, so it is
     * there once), so the heap holds all of them; pruning never passes
     * one */
    for (size_t i = 0; i < s->active_heap.count; i++) {
        const mem_deadline *e = &s->active_heap.items[i];
        const mem_token *t;
        if (i > 0 && e->at < s->active_heap.items[(i - 1) / 2].at)
            return violation(v, "queue: the active heap is out of order at entry %zu", i);
        if (e->id >= s->tokens.end)
            return violation(v, "queue: the active heap names ticket %llu, never issued",
                             (unsigned long long)e->id + 1);
        if (e->id < s->tokens.base)
            continue;
        t = memory__token(s, e->id);
        if (t->state != CONCERT_TOKEN_ACTIVE)
            continue;
        if (t->when != e->at)
            return violation(v, "queue: ticket %llu expires at %lld, its heap entry says %lld",
                             (unsigned long long)e->id + 1, (long long)t->when, (long long)e->at);
        active_state++;
        live += now < t->when;
    }
    report->active_tokens = live;
    if (live > bound) {
        if (s->active_grace > s->settings.max_active)
            return violation(v,
                             "queue: %lld live active tokens, max_active is %lld and %lld "
                             "were active when it was lowered",
                             (long long)live, (long long)s->settings.max_active,
                             (long long)s->active_grace);
        return violation(v, "queue: %lld live active tokens, max_active is %lld", (long long)live,
                         (long long)s->settings.max_active);
    }
    if (active_state != s->active_count)
        return violation(v, "queue: active count %lld but %lld tokens are ACTIVE",
                         (long long)s->active_count, (long long)active_state);
    if (s->settings.state == CONCERT_QUEUE_SCHEDULED) {
        if (s->prequeue_from > s->tokens.end || s->admitted_through > s->prequeue_from)
            return violation(v,
                             "queue: admission reached ticket %llu, into the pre-queue "
                             "starting at %llu",
                             (unsigned long long)s->admitted_through,
                             (unsigned long long)s->prequeue_from + 1);
        size_t ended = 0;
        for (uint64_t i = s->prequeue_from; i < s->tokens.end; i++) {
            if (memory__token(s, i)->state == CONCERT_TOKEN_ACTIVE)
                return violation(v, "queue: pre-queued token %llu is ACTIVE before the opening",
                                 (unsigned long long)i + 1);
            ended += memory__token(s, i)->state == CONCERT_TOKEN_ENDED ||
                     memory__token(s, i)->state == MEM_TOKEN_GONE;
        }
        if (ended != s->prequeue_ended)
            return violation(v, "queue: %zu pre-queued tokens ended but %zu counted", ended,
                             s->prequeue_ended);
    }
    return CONCERT_OK;
}

int memory__verify(concert_storage *self, const concert_queue_params *params, int64_t now,
                   concert_emit_text_fn emit, void *ctx, concert_verify_report *report)
{
    memory_store *s = memory__store_of(self);
    verify_out v = { NULL, 0, 0, 0 };
    payment_sum *sums = NULL;
    uint32_t *held = NULL;
    unsigned char *mark = NULL;
    size_t *offset = NULL;
    uint32_t *seen = NULL;
    int rc = CONCERT_OK;

    (void)params; /* the limits are the store's own settings */
    memory__store_lock(s);
    sums = calloc(s->payments_count + 1, sizeof(*sums));
    mark = calloc(s->reservations_count + 1, 1);
    offset = calloc(s->users_count + 1, sizeof(*offset));
    held = calloc(s->schedules_count + 1, sizeof(*held));
    if (sums && mark && offset && held) {
        for (size_t i = 0; i < s->users_count; i++)
            offset[i + 1] = offset[i] + s->users[i].bought_count;
        seen = calloc(offset[s->users_count] + 1, sizeof(*seen));
    }
    if (!seen) {
        rc = memory__out_of_memory("verifying");
        goto done;
    }
    report->users = report->ledger_entries = report->seats = report->seats_sold = 0;
    report->reservations = report->active_tokens = 0;
    report->payments = (int64_t)s->payments_count;
    rc = verify_seats(s, &v, report);
    if (rc == 0)
        rc = verify_payments(s, sums, &v);
    if (rc == 0)
        rc = verify_reservations(s, now, &v, report);
    if (rc == 0)
        rc = verify_balances(s, &v, report);
    if (rc == 0)
        rc = verify_limits(s, now, mark, offset, seen, &v);
    if (rc == 0)
        rc = verify_token_window(s, &v);
    if (rc == 0)
        rc = verify_tokens(s, &v);
    if (rc == 0)
        rc = verify_idempotency(s, &v);
    if (rc == 0)
        rc = verify_queue(s, now, &v, report);
    /* last, and only on an otherwise sound store: a broken reservation
     * would break the counts too, and is already one line */
    if (rc == 0 && v.count == 0)
        rc = verify_held(s, now, held, &v);
done:
    free(sums);
    free(mark);
    free(offset);
    free(seen);
    free(held);
    memory__store_unlock(s);
    for (size_t i = 0; i < v.count && rc == 0; i++)
        rc = emit(ctx, v.lines[i].text);
    if (rc == 0 && v.oom)
        rc = emit(ctx, "(more violations: out of memory keeping their text)");
    free(v.lines);
    return rc;
}
