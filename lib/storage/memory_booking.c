/*
 * The memory backend's bookings: seat holds, reservations, payment, and the
 * idempotency records that pay and charge replay.
 */
#include <stdlib.h>
#include <string.h>

#include "memory_internal.h"

/* Holds whose time ran out leave their schedule's held count, earliest
 * deadline first: the heap's front is the first to run out whatever order
 * the holds were made in. A hold settled here stays expired at any later
 * step, whatever its `now` (memory__hold_live reads counted). */
void memory__holds_settle(memory_store *s, int64_t now)
{
    while (s->hold_heap.count && mem_heap_top(&s->hold_heap)->at <= now) {
        mem_reservation *r = &s->reservations[mem_heap_top(&s->hold_heap)->id];
        mem_heap_pop(&s->hold_heap);
        /* paid, released or superseded: its count was already given back */
        if (!r->counted)
            continue;
        r->counted = 0;
        s->schedules[r->schedule].held_count--;
        s->schedules[r->schedule].changes++; /* its seat is free again */
    }
}

/* The seat's index in the schedule's seat array, or MEM_NONE: binary search
 * over the few ranges, then one subtraction. */
static uint32_t seat_locate(const mem_schedule *sc, int64_t number)
{
    uint32_t lo = 0, hi = sc->range_count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (sc->ranges[mid].from <= number)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0 || number > sc->ranges[lo - 1].to)
        return MEM_NONE;
    return sc->ranges[lo - 1].base + (uint32_t)(number - sc->ranges[lo - 1].from);
}

/* 0 if reservation id exists, else RESERVATION_NOT_FOUND (set and returned). */
static int reservation_check(const memory_store *s, int64_t id)
{
    if (id <= 0 || (uint64_t)id > s->reservations_count)
        return memory__not_found(CONCERT_ERESERVATION_NOT_FOUND, "reservation", id);
    return CONCERT_OK;
}

static void reservation_fill(const memory_store *s, uint32_t index, int is_new,
                             concert_reservation *out)
{
    const mem_reservation *r = &s->reservations[index];
    memset(out, 0, sizeof(*out));
    out->id = (int64_t)index + 1;
    out->user_id = r->user_id;
    out->schedule_id = s->schedules[r->schedule].id;
    out->seat_number = r->seat_number;
    out->price = r->price;
    out->status = r->status;
    out->is_new = is_new;
    out->held_until = r->held_until;
}

static int64_t seat_price(const mem_schedule *sc, uint32_t seat)
{
    uint32_t lo = 0, hi = sc->range_count;
    while (lo + 1 < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (sc->ranges[mid].base <= seat)
            lo = mid;
        else
            hi = mid;
    }
    return sc->ranges[lo].price;
}

int memory__seat_hold(concert_storage *self, const concert_hold_request *req,
                      concert_reservation *out)
{
    memory_store *s = memory__store_of(self);
    mem_schedule *sc;
    mem_reservation *r;
    uint32_t si, seat, ref, index, user;
    uint64_t ti;
    int64_t user_id, limit;
    int rc = CONCERT_OK;

    memory__store_lock(s);
    /* settled first, so that what this step sees run out stays run out */
    memory__admission_settle(s, req->now);
    memory__holds_settle(s, req->now);
    /* the fence: the token is checked in the same step that holds */
    if ((rc = memory__token_require_active(s, req->token, &req->queue, req->now, &ti)) != 0)
        goto done;
    user_id = memory__token(s, ti)->user_id;
    user = memory__token(s, ti)->user;
    if ((rc = memory__schedule_lookup(s, req->schedule_id, &si)) != 0)
        goto done;
    sc = &s->schedules[si];
    seat = seat_locate(sc, req->seat_number);
    if (seat == MEM_NONE) {
        rc = concert_sys_error_set(CONCERT_ESEAT_NOT_FOUND, "seat %lld not found in schedule %lld",
                                   (long long)req->seat_number, (long long)req->schedule_id);
        goto done;
    }
    ref = sc->seats[seat];
    if (ref) {
        r = &s->reservations[ref - 1];
        if (r->status == CONCERT_RESERVATION_CONFIRMED) {
            rc = concert_sys_error_set(CONCERT_ESEAT_TAKEN, "seat %lld of schedule %lld is sold",
                                       (long long)req->seat_number, (long long)req->schedule_id);
            goto done;
        }
        if (memory__hold_live(r, req->now)) {
            if (r->user_id == user_id) {
                reservation_fill(s, ref - 1, 0, out);
                goto done;
            }
            rc = concert_sys_error_set(CONCERT_ESEAT_TAKEN,
                                       "seat %lld of schedule %lld is held by another buyer",
                                       (long long)req->seat_number, (long long)req->schedule_id);
            goto done;
        }
    }
    /* Under the store's lock, so concurrent holds of one user are counted
     * one after another and none passes the limit. */
    limit = req->max_per_concert > 0 ? req->max_per_concert : req->max_holds;
    if (limit > 0 &&
        memory__limit_count(s, user, req->now, req->max_per_concert > 0, sc->concert) >= limit) {
        rc = concert_sys_error_set(CONCERT_EHOLD_LIMIT, "hold limit reached: %lld",
                                   (long long)limit);
        goto done;
    }
    if (RESERVE(s, reservations, 1) != 0 || mem_heap_reserve(&s->hold_heap, 1) != 0) {
        rc = memory__out_of_memory("holding a seat");
        goto done;
    }
    if (ref && s->reservations[ref - 1].counted) {
        /* the previous hold ran out but was not settled yet */
        s->reservations[ref - 1].counted = 0;
        sc->held_count--;
    }
    index = (uint32_t)s->reservations_count++;
    r = &s->reservations[index];
    memset(r, 0, sizeof(*r));
    r->user_id = user_id;
    r->seat_number = req->seat_number;
    r->price = seat_price(sc, seat);
    r->held_until = req->hold_until;
    r->schedule = si;
    r->seat = seat;
    r->status = CONCERT_RESERVATION_HELD;
    r->counted = 1;
    sc->held_count++;
    sc->changes++;
    sc->seats[seat] = index + 1; /* the fence: payment checks it still points here */
    mem_heap_push(&s->hold_heap, r->held_until, index);
    memory__hold_chain_push(s, user, index);
    reservation_fill(s, index, 1, out);
done:
    memory__store_unlock(s);
    return rc;
}

int memory__reservation_get(concert_storage *self, int64_t reservation_id, concert_reservation *out)
{
    memory_store *s = memory__store_of(self);
    int rc = CONCERT_OK;

    memory__store_lock(s);
    if ((rc = reservation_check(s, reservation_id)) == 0)
        reservation_fill(s, (uint32_t)(reservation_id - 1), 0, out);
    memory__store_unlock(s);
    return rc;
}

/* ---- idempotency records ---- */

static uint64_t idem_key_hash(int64_t user_id, int32_t op, const char *key)
{
    return mem_hash_bytes(key, strlen(key), mem_hash_mix((uint64_t)user_id * 4 + (uint64_t)op));
}

uint64_t memory__idem_hash(const mem_idem *rec)
{
    return idem_key_hash(rec->user_id, rec->op, rec->text);
}

static const mem_idem *idem_find(const memory_store *s, int64_t user_id, int32_t op,
                                 const char *key)
{
    mem_probe p;
    for (uint32_t slot = mem_index_first(&s->idem_ix, idem_key_hash(user_id, op, key), &p); slot;
         slot = mem_index_next(&s->idem_ix, &p)) {
        const mem_idem *rec = memory__idem(s, mem_window_number(&s->idem, slot - 1));
        if (rec->user_id == user_id && rec->op == op && strcmp(rec->text, key) == 0)
            return rec;
    }
    return NULL;
}

static const char *idem_fingerprint(const mem_idem *rec)
{
    return rec->text + strlen(rec->text) + 1;
}

/* Step 1 of pay and charge: NULL when there is no key or no record yet,
 * else the record, or *rc = KEY_REUSED when the arguments differ. */
const mem_idem *memory__idem_replay(const memory_store *s, int64_t user_id, int32_t op,
                                    const char *key, const char *fingerprint, int *rc)
{
    const mem_idem *rec;
    *rc = CONCERT_OK;
    if (!key)
        return NULL;
    rec = idem_find(s, user_id, op, key);
    if (rec && strcmp(idem_fingerprint(rec), fingerprint ? fingerprint : "") != 0) {
        *rc = concert_sys_error_set(CONCERT_EIDEMPOTENCY_KEY_REUSED,
                                    "idempotency key already used with other arguments");
        return NULL;
    }
    return rec;
}

/* Allocate the record's text and make room for it; *text_out is owned by the
 * caller until memory__idem_commit. */
int memory__idem_prepare(memory_store *s, const char *key, const char *fingerprint, char **text_out)
{
    size_t nk, nf;
    *text_out = NULL;
    if (!key)
        return CONCERT_OK;
    if (!fingerprint)
        fingerprint = "";
    nk = strlen(key) + 1;
    nf = strlen(fingerprint) + 1;
    if (mem_window_reserve(&s->idem, 1, sizeof(mem_idem)) != 0 ||
        mem_index_reserve(&s->idem_ix, 1) != 0 || !(*text_out = malloc(nk + nf)))
        return memory__out_of_memory("storing an idempotency key");
    memcpy(*text_out, key, nk);
    memcpy(*text_out + nk, fingerprint, nf);
    return CONCERT_OK;
}

void memory__idem_commit(memory_store *s, int64_t user_id, int32_t op, char *text, int64_t result,
                         int64_t now)
{
    uint64_t index;
    mem_idem *rec;
    if (!text)
        return;
    index = s->idem.end++;
    rec = memory__idem(s, index);
    memset(rec, 0, sizeof(*rec));
    rec->user_id = user_id;
    rec->op = op;
    rec->text = text;
    rec->result = result;
    rec->created_at = now;
    mem_index_insert(&s->idem_ix, idem_key_hash(user_id, op, text), MEM_WINDOW_LOW(index));
}

static void payment_fill(const memory_store *s, uint32_t index, concert_payment *out)
{
    const mem_payment *pm = &s->payments[index];
    memset(out, 0, sizeof(*out));
    out->id = (int64_t)index + 1;
    out->reservation_id = pm->reservation_id;
    out->user_id = pm->user_id;
    out->amount = pm->amount;
    out->balance = pm->balance;
    out->paid_at = pm->paid_at;
}

/* Steps 2-4 of pay: everything that can refuse it. *sum_out is the total,
 * *limited_out how many of the reservations are of a concert with a
 * per-buyer limit (their purchase is counted). */
static int pay_check(memory_store *s, const concert_pay_request *req, uint64_t ti, uint32_t user,
                     int64_t *sum_out, size_t *limited_out)
{
    int64_t user_id = memory__token(s, ti)->user_id, sum = 0;
    size_t limited = 0;
    int rc;

    if ((rc = memory__token_refusal(s, ti, &req->queue, req->now)) != 0)
        return rc;
    for (size_t i = 0; i < req->count; i++) {
        int64_t id = req->reservation_ids[i];
        const mem_reservation *r;
        /* the core sorts and dedups; a repeated id would be sold twice */
        if (i > 0 && id <= req->reservation_ids[i - 1])
            return concert_sys_error_set(CONCERT_EINVAL,
                                         "an order's reservation ids must be ascending and "
                                         "distinct");
        if ((rc = reservation_check(s, id)) != 0)
            return rc;
        r = &s->reservations[id - 1];
        if (r->user_id != user_id)
            return concert_sys_error_set(CONCERT_EFORBIDDEN,
                                         "reservation %lld belongs to another user", (long long)id);
        if (r->status == CONCERT_RESERVATION_CONFIRMED)
            return concert_sys_error_set(CONCERT_EALREADY_PAID, "reservation %lld is already paid",
                                         (long long)id);
        if (r->status != CONCERT_RESERVATION_HELD)
            return concert_sys_error_set(
                CONCERT_EHOLD_EXPIRED, "the hold of reservation %lld was released", (long long)id);
        if (!memory__hold_live(r, req->now) ||
            s->schedules[r->schedule].seats[r->seat] != (uint32_t)id)
            return concert_sys_error_set(CONCERT_EHOLD_EXPIRED,
                                         "the hold of reservation %lld expired", (long long)id);
        /* prices are non-negative: a sum past INT64_MAX is more than any
         * balance */
        sum = r->price > INT64_MAX - sum ? INT64_MAX : sum + r->price;
        limited += s->concerts[s->schedules[r->schedule].concert].max_per_user > 0;
    }
    if (s->users[user].balance < sum)
        return concert_sys_error_set(CONCERT_EINSUFFICIENT_POINTS,
                                     "insufficient points: balance %lld, total %lld",
                                     (long long)s->users[user].balance, (long long)sum);
    *sum_out = sum;
    *limited_out = limited;
    return CONCERT_OK;
}

/* Step 0 of pay: the token's index; an ENDED one may still replay. */
static int pay_token(const memory_store *s, const concert_pay_request *req, uint64_t *ti_out)
{
    uint64_t ti = memory__token_find(s, req->token);
    const mem_token *t;
    if (ti == MEM_NO_TOKEN)
        return concert_sys_error_set(CONCERT_ETOKEN_INVALID, "token invalid: unknown token");
    t = memory__token(s, ti);
    if (t->state == CONCERT_TOKEN_WAITING && memory__token_live(t, &req->queue, req->now))
        return memory__token_refusal(s, ti, &req->queue, req->now);
    *ti_out = ti;
    return CONCERT_OK;
}

int memory__pay(concert_storage *self, const concert_pay_request *req, concert_payment *out)
{
    memory_store *s = memory__store_of(self);
    const mem_idem *rec;
    mem_payment *pm;
    uint64_t ti = 0;
    uint32_t user = 0, pi;
    int64_t user_id, sum = 0;
    size_t limited = 0;
    char *idem_text = NULL;
    int rc;

    if (!req->reservation_ids || req->count < 1 || req->count > CONCERT_ORDER_MAX)
        return concert_sys_error_set(CONCERT_EINVAL, "an order pays for 1 to %d reservations",
                                     CONCERT_ORDER_MAX);
    memory__store_lock(s);
    /* settled first, so that what this step sees run out stays run out */
    memory__admission_settle(s, req->now);
    memory__holds_settle(s, req->now);
    if ((rc = pay_token(s, req, &ti)) != 0)
        goto done;
    user_id = memory__token(s, ti)->user_id;
    rec = memory__idem_replay(s, user_id, IDEM_PAY, req->idempotency_key, req->fingerprint, &rc);
    if (rc != 0)
        goto done;
    if (rec) {
        payment_fill(s, (uint32_t)(rec->result - 1), out);
        goto done;
    }
    user = memory__token(s, ti)->user;
    if ((rc = pay_check(s, req, ti, user, &sum, &limited)) != 0)
        goto done;
    if (memory__ledger_reserve(s, user, 1) != 0 || RESERVE(s, payments, 1) != 0 ||
        (limited > 0 && memory__bought_reserve(s, user, limited) != 0)) {
        rc = memory__out_of_memory("paying");
        goto done;
    }
    if ((rc = memory__idem_prepare(s, req->idempotency_key, req->fingerprint, &idem_text)) != 0)
        goto done;

    /* Nothing can fail from here on. */
    memory__ledger_append(s, user, CONCERT_LEDGER_PAYMENT, -sum, req->now, req->reservation_ids[0]);
    pi = (uint32_t)s->payments_count++;
    pm = &s->payments[pi];
    pm->reservation_id = req->reservation_ids[0];
    pm->user_id = user_id;
    pm->amount = sum;
    pm->balance = s->users[user].balance;
    pm->paid_at = req->now;
    pm->token = ti + 1;
    for (size_t i = 0; i < req->count; i++) {
        mem_reservation *r = &s->reservations[req->reservation_ids[i] - 1];
        mem_schedule *sc = &s->schedules[r->schedule];
        r->status = CONCERT_RESERVATION_CONFIRMED;
        r->payment = pi + 1;
        if (r->counted) {
            r->counted = 0;
            sc->held_count--;
        }
        sc->sold_count++;
        sc->changes++;
        memory__bought_add(s, user, sc->concert);
        memory__hold_chain_remove(s, user, (uint32_t)(req->reservation_ids[i] - 1));
    }
    memory__token_end(s, ti, &req->queue, req->now);
    memory__idem_commit(s, user_id, IDEM_PAY, idem_text, (int64_t)pi + 1, req->now);
    idem_text = NULL;
    payment_fill(s, pi, out);
    /* last: the payment is reported; pruning needs no memory */
    memory__prune_step(s, &req->queue, req->queue.retention_ms, req->now);
done:
    free(idem_text);
    memory__store_unlock(s);
    return rc;
}

int memory__reservation_release(concert_storage *self, const concert_release_request *req,
                                concert_reservation *out)
{
    memory_store *s = memory__store_of(self);
    mem_reservation *r;
    mem_schedule *sc;
    uint64_t ti;
    int rc;

    memory__store_lock(s);
    memory__admission_settle(s, req->now);
    memory__holds_settle(s, req->now);
    if ((rc = memory__token_require_active(s, req->token, &req->queue, req->now, &ti)) != 0)
        goto done;
    if ((rc = reservation_check(s, req->reservation_id)) != 0)
        goto done;
    r = &s->reservations[req->reservation_id - 1];
    if (r->user_id != memory__token(s, ti)->user_id) {
        rc = concert_sys_error_set(CONCERT_EFORBIDDEN, "reservation %lld belongs to another user",
                                   (long long)req->reservation_id);
        goto done;
    }
    if (r->status == CONCERT_RESERVATION_CONFIRMED) {
        rc = concert_sys_error_set(CONCERT_EALREADY_PAID, "reservation %lld is already paid",
                                   (long long)req->reservation_id);
        goto done;
    }
    if (r->status == CONCERT_RESERVATION_HELD) {
        sc = &s->schedules[r->schedule];
        r->status = CONCERT_RESERVATION_RELEASED;
        sc->changes++;
        memory__hold_chain_remove(s, memory__token(s, ti)->user,
                                  (uint32_t)(req->reservation_id - 1));
        if (r->counted) {
            r->counted = 0;
            sc->held_count--;
        }
        /* fenced: a later hold of the seat is not this one's to clear */
        if (sc->seats[r->seat] == (uint32_t)req->reservation_id)
            sc->seats[r->seat] = 0;
    }
    reservation_fill(s, (uint32_t)(req->reservation_id - 1), 0, out);
done:
    memory__store_unlock(s);
    return rc;
}

int memory__token_paid(concert_storage *self, const char *token, int64_t *reservation_id)
{
    memory_store *s = memory__store_of(self);
    uint64_t ti;
    int rc = CONCERT_OK;

    *reservation_id = 0;
    memory__store_lock(s);
    ti = memory__token_find(s, token);
    if (ti == MEM_NO_TOKEN) {
        rc = concert_sys_error_set(CONCERT_ETOKEN_INVALID, "token invalid: unknown token");
    } else if (memory__token(s, ti)->state == CONCERT_TOKEN_ENDED) {
        /* Newest first: the core asks right after a refusal, usually of a
         * second payment just after the first. A scan keeps the token's
         * record small (issue 6's budget); only a refusal pays for it. */
        for (size_t i = s->payments_count; i > 0; i--) {
            if (s->payments[i - 1].token == ti + 1) {
                *reservation_id = s->payments[i - 1].reservation_id;
                break;
            }
        }
    }
    memory__store_unlock(s);
    return rc;
}

int memory__token_owner(concert_storage *self, const char *token, int64_t *user_id)
{
    memory_store *s = memory__store_of(self);
    uint64_t ti;
    int rc = CONCERT_OK;

    memory__store_lock(s);
    ti = memory__token_find(s, token);
    if (ti == MEM_NO_TOKEN)
        rc = concert_sys_error_set(CONCERT_ETOKEN_INVALID, "token invalid: unknown token");
    else
        *user_id = memory__token(s, ti)->user_id;
    memory__store_unlock(s);
    return rc;
}
