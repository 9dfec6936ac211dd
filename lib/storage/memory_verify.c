/*
 * The memory backend's invariant checker (verify): sold seats, reservations,
 * balances against the ledger, and the queue's active count and pre-queue.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memory_internal.h"

/* verify's output: one formatted line per violation. */
typedef struct verify_out {
    concert_emit_text_fn emit;
    void *ctx;
} verify_out;

static int violation(const verify_out *v, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static int violation(const verify_out *v, const char *fmt, ...)
{
    char text[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap); /* a cut message is still a message */
    va_end(ap);
    return v->emit(v->ctx, text);
}

/* Sold seats: exactly one CONFIRMED reservation (the one the seat points at,
 * which points back) with exactly one payment of the seat's price. */
static int verify_seats(const memory_store *s, const uint32_t *payments_per_reservation,
                        const verify_out *v, concert_verify_report *report)
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
                    rc = violation(v, "schedule %lld seat %lld points at reservation %u, "
                                      "which is for another seat",
                                   (long long)sc->id, (long long)n, ref);
                    continue;
                }
                if (res->status != CONCERT_RESERVATION_CONFIRMED)
                    continue;
                report->seats_sold++;
                if (payments_per_reservation[ref - 1] != 1)
                    rc = violation(v, "schedule %lld seat %lld: sold to reservation %u, which "
                                      "has %u payments",
                                   (long long)sc->id, (long long)n, ref,
                                   payments_per_reservation[ref - 1]);
                else if (!res->payment || s->payments[res->payment - 1].amount != range->price)
                    rc = violation(v, "schedule %lld seat %lld: paid %lld points, price is %lld",
                                   (long long)sc->id, (long long)n,
                                   res->payment ? (long long)s->payments[res->payment - 1].amount
                                                : 0LL,
                                   (long long)range->price);
            }
        }
    }
    return rc;
}

/* CONFIRMED reservations sold their seat; live holds are not on sold seats. */
static int verify_reservations(const memory_store *s, int64_t now, const verify_out *v,
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
            rc = violation(v, "reservation %zu: CONFIRMED but seat %lld of schedule %lld is not "
                              "sold to it",
                           i + 1, (long long)r->seat_number, (long long)sc->id);
        else if (r->status == CONCERT_RESERVATION_HELD && r->held_until > now && seat_sold)
            rc = violation(v, "seat %lld of schedule %lld: sold to reservation %u and under a "
                              "live hold by reservation %zu",
                           (long long)r->seat_number, (long long)sc->id, ref, i + 1);
    }
    return rc;
}

static int verify_balances(const memory_store *s, const verify_out *v,
                           concert_verify_report *report)
{
    int rc = CONCERT_OK;
    for (size_t i = 0; i < s->users_count && rc == 0; i++) {
        const mem_user *u = &s->users[i];
        int64_t sum = 0;
        for (uint32_t id = u->ledger_head; id; id = s->ledger[id - 1].prev) {
            sum += s->ledger[id - 1].amount;
            report->ledger_entries++;
        }
        report->users++;
        if (u->balance != sum)
            rc = violation(v, "user %lld: balance %lld but the ledger sums to %lld",
                           (long long)u->id, (long long)u->balance, (long long)sum);
        else if (u->balance < 0)
            rc = violation(v, "user %lld: negative balance %lld", (long long)u->id,
                           (long long)u->balance);
    }
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
static int verify_queue(const memory_store *s, int64_t now, const verify_out *v,
                        concert_verify_report *report)
{
    int64_t live = 0, active_state = 0;
    int64_t bound = s->settings.max_active > s->active_grace ? s->settings.max_active
                                                             : s->active_grace;
    /* every ACTIVE token entered the FIFO when admitted and leaves it only
     * once it is no longer ACTIVE, so the FIFO holds all of them */
    for (size_t i = 0; i < s->active_fifo.count; i++) {
        const mem_token *t = &s->tokens[mem_ring_at(&s->active_fifo, i)];
        if (t->state != CONCERT_TOKEN_ACTIVE)
            continue;
        active_state++;
        live += now < t->when;
    }
    report->active_tokens = live;
    if (live > bound) {
        if (s->active_grace > s->settings.max_active)
            return violation(v, "queue: %lld live active tokens, max_active is %lld and %lld "
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
        if (s->prequeue_from > s->tokens_count || s->admitted_through > s->prequeue_from)
            return violation(v, "queue: admission reached ticket %zu, into the pre-queue "
                                "starting at %zu",
                             s->admitted_through, s->prequeue_from + 1);
        size_t ended = 0;
        for (size_t i = s->prequeue_from; i < s->tokens_count; i++) {
            if (s->tokens[i].state == CONCERT_TOKEN_ACTIVE)
                return violation(v, "queue: pre-queued token %zu is ACTIVE before the opening",
                                 i + 1);
            ended += s->tokens[i].state == CONCERT_TOKEN_ENDED;
        }
        if (ended != s->prequeue_ended)
            return violation(v, "queue: %zu pre-queued tokens ended but %zu counted",
                             ended, s->prequeue_ended);
    }
    return CONCERT_OK;
}

int memory__verify(concert_storage *self, const concert_queue_params *params, int64_t now,
                   concert_emit_text_fn emit, void *ctx, concert_verify_report *report)
{
    memory_store *s = memory__store_of(self);
    verify_out v = {emit, ctx};
    uint32_t *payments_per_reservation;
    int rc = CONCERT_OK;

    (void)params; /* the limits are the store's own settings */
    memory__store_lock(s);
    payments_per_reservation = calloc(s->reservations_count + 1, sizeof(uint32_t));
    if (!payments_per_reservation) {
        rc = memory__out_of_memory("verifying");
        goto done;
    }
    report->users = report->ledger_entries = report->seats = report->seats_sold = 0;
    report->reservations = report->active_tokens = 0;
    report->payments = (int64_t)s->payments_count;
    for (size_t i = 0; i < s->payments_count && rc == 0; i++) {
        int64_t rid = s->payments[i].reservation_id;
        if (rid <= 0 || (uint64_t)rid > s->reservations_count)
            rc = violation(&v, "payment %zu: for reservation %lld, which does not exist", i + 1,
                           (long long)rid);
        else
            payments_per_reservation[rid - 1]++;
    }
    if (rc == 0)
        rc = verify_seats(s, payments_per_reservation, &v, report);
    if (rc == 0)
        rc = verify_reservations(s, now, &v, report);
    if (rc == 0)
        rc = verify_balances(s, &v, report);
    if (rc == 0)
        rc = verify_queue(s, now, &v, report);
    free(payments_per_reservation);
done:
    memory__store_unlock(s);
    return rc;
}
