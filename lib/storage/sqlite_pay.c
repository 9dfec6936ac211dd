/*
 * SQLite backend: payment of an order (one reservation or several) in one
 * durable BEGIN IMMEDIATE transaction: the token resolved and fenced, the
 * idempotency record, every reservation checked in ascending id order, then
 * one debit of the total, one PAYMENT ledger entry, one payment row that
 * every reservation of the order names (reservations.payment_id), each seat
 * sold to its reservation (fenced on the seat still pointing at it), the
 * token ended. Any failure rolls all of it back.
 */
#ifdef CONCERT_HAVE_SQLITE

#include <string.h>

#include "sqlite_internal.h"

static const char SQL_IDEMPOTENT_PAY[] = "SELECT fingerprint, payment_id FROM idempotency"
                                         " WHERE user_id = ?1 AND operation = 'pay' AND key = ?2";
static const char SQL_PAYMENT[] =
    "SELECT id, reservation_id, user_id, amount, balance_after, paid_at FROM payments"
    " WHERE id = ?1";
/* The reservation and, in the same row, what its seat points at (the fence). */
static const char SQL_RESERVATION_FENCE[] =
    "SELECT r.id, r.user_id, r.schedule_id, r.seat_number, r.price, r.status, r.held_until,"
    "       s.hold_reservation_id, s.sold_reservation_id, s.number IS NOT NULL"
    " FROM reservations r"
    " LEFT JOIN seats s ON s.schedule_id = r.schedule_id AND s.number = r.seat_number"
    " WHERE r.id = ?1";
static const char SQL_BALANCE[] = "SELECT balance FROM users WHERE id = ?1";
static const char SQL_DEBIT[] =
    "UPDATE users SET balance = balance - ?2 WHERE id = ?1 AND balance >= ?2";
static const char SQL_LEDGER_PAYMENT[] =
    "INSERT INTO ledger (user_id, type, amount, balance_after, at, reservation_id)"
    " VALUES (?1, 2, ?2, ?3, ?4, ?5)";
static const char SQL_PAYMENT_INSERT[] =
    "INSERT INTO payments (reservation_id, user_id, amount, balance_after, paid_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5)";
static const char SQL_SEAT_SELL[] =
    "UPDATE seats SET sold_reservation_id = ?3, hold_until = 0"
    " WHERE schedule_id = ?1 AND number = ?2 AND hold_reservation_id = ?3"
    " AND sold_reservation_id IS NULL";
static const char SQL_CONFIRM[] =
    "UPDATE reservations SET status = 2, payment_id = ?2 WHERE id = ?1 AND status = 1";
static const char SQL_TOKEN_CONSUME[] =
    "UPDATE tokens SET state = 3, ended_at = ?2, paid_reservation_id = ?3"
    " WHERE token = ?1 AND state = 2";
static const char SQL_ACTIVE_DECREMENT[] =
    "UPDATE queue_state SET active = active - 1 WHERE id = 1";
static const char SQL_IDEMPOTENCY_INSERT[] =
    "INSERT INTO idempotency (user_id, operation, key, fingerprint, payment_id, balance_after,"
    " created_at) VALUES (?1, 'pay', ?2, ?3, ?4, NULL, ?5)";

/* An order being paid: its reservations as checked, and their total. */
typedef struct order {
    concert_reservation items[CONCERT_ORDER_MAX];
    size_t count;
    int64_t total;
    int64_t user_id;
} order;

/* Step 1: 1 a stored payment was reported; 0 no record; < 0 error. */
static int pay_replay(sq_conn *c, const concert_pay_request *req, int64_t user_id,
                      concert_payment *out)
{
    const char *what = "pay";
    /* Longer than any fingerprint the core builds (64 ids), so that a
     * truncated copy can never compare equal by accident. */
    char fingerprint[32 + CONCERT_ORDER_MAX * 21 + 16];
    int64_t payment_id;
    sqlite3_stmt *st;
    int rc;

    if (!req->idempotency_key)
        return 0;
    rc = sq_query(c, SQL_IDEMPOTENT_PAY, SQ_ARGS(SQ_I(user_id), SQ_T(req->idempotency_key)), &st,
                  what);
    if (rc != 0)
        return rc;
    if ((rc = sq_step(c, st, what)) != 1)
        return rc;
    sq_text_copy(fingerprint, sizeof(fingerprint), st, 0);
    payment_id = sqlite3_column_int64(st, 1);
    sq_done(st);
    if (strcmp(fingerprint, req->fingerprint ? req->fingerprint : "") != 0)
        return concert_sys_error_set(CONCERT_EIDEMPOTENCY_KEY_REUSED,
                                     "idempotency key reused: it paid for other reservations");
    if ((rc = sq_query(c, SQL_PAYMENT, SQ_ARGS(SQ_I(payment_id)), &st, what)) != 0)
        return rc;
    if ((rc = sq_step(c, st, what)) < 0)
        return rc;
    if (rc == 0)
        return concert_sys_error_set(CONCERT_EINTERNAL,
                                     "sqlite: idempotency record names missing payment %lld",
                                     (long long)payment_id);
    out->id = sqlite3_column_int64(st, 0);
    out->reservation_id = sqlite3_column_int64(st, 1);
    out->user_id = sqlite3_column_int64(st, 2);
    out->amount = sqlite3_column_int64(st, 3);
    out->balance = sqlite3_column_int64(st, 4);
    out->paid_at = sqlite3_column_int64(st, 5);
    sq_done(st);
    return 1;
}

/* Step 3 for one reservation: this user's, HELD, live, and its seat still
 * points at it. */
static int order_item_check(sq_conn *c, const concert_pay_request *req, int64_t id, int64_t user_id,
                            concert_reservation *r)
{
    const char *what = "pay";
    int64_t holder, sold_to;
    int sold, seat_found;
    sqlite3_stmt *st;
    int rc = sq_query(c, SQL_RESERVATION_FENCE, SQ_ARGS(SQ_I(id)), &st, what);
    if (rc != 0)
        return rc;
    if ((rc = sq_step(c, st, what)) < 0)
        return rc;
    if (rc == 0)
        return sq_reservation_missing(id);
    sq_reservation_read(st, r);
    holder = sqlite3_column_int64(st, 7); /* NULL (released) reads as 0 */
    sold = sqlite3_column_type(st, 8) != SQLITE_NULL;
    sold_to = sqlite3_column_int64(st, 8);
    seat_found = sqlite3_column_int(st, 9);
    sq_done(st);
    if (r->user_id != user_id)
        return concert_sys_error_set(CONCERT_EFORBIDDEN, "reservation %lld belongs to another user",
                                     (long long)r->id);
    if (r->status == SQ_RES_CONFIRMED)
        return concert_sys_error_set(CONCERT_EALREADY_PAID, "reservation %lld is already paid",
                                     (long long)r->id);
    if (r->status == SQ_RES_RELEASED)
        return concert_sys_error_set(CONCERT_EHOLD_EXPIRED,
                                     "the hold of reservation %lld was released", (long long)r->id);
    if (r->held_until <= req->now)
        return concert_sys_error_set(CONCERT_EHOLD_EXPIRED, "the hold of reservation %lld expired",
                                     (long long)r->id);
    if (!seat_found)
        return concert_sys_error_set(
            CONCERT_EINTERNAL, "sqlite: the seat of reservation %lld is missing", (long long)r->id);
    if (holder != r->id || (sold && sold_to != r->id))
        return concert_sys_error_set(CONCERT_EHOLD_EXPIRED,
                                     "the hold of reservation %lld expired: the seat has moved on",
                                     (long long)r->id);
    return CONCERT_OK;
}

/* Step 3 for the whole order, in the ascending id order the core gives. */
static int order_check(sq_conn *c, const concert_pay_request *req, order *o)
{
    int rc;

    if (req->count < 1 || req->count > CONCERT_ORDER_MAX || !req->reservation_ids)
        return concert_sys_error_set(CONCERT_EINVAL, "an order pays for 1 to %d reservations",
                                     CONCERT_ORDER_MAX);
    o->count = req->count;
    o->total = 0;
    for (size_t i = 0; i < req->count; i++) {
        if (i > 0 && req->reservation_ids[i] <= req->reservation_ids[i - 1])
            return concert_sys_error_set(CONCERT_EINVAL,
                                         "an order's reservation ids must be distinct and "
                                         "ascending");
        rc = order_item_check(c, req, req->reservation_ids[i], o->user_id, &o->items[i]);
        if (rc != 0)
            return rc;
        /* Prices are at most CONCERT_MAX_BALANCE (2^53 - 1): 64 of them fit. */
        o->total += o->items[i].price;
    }
    return CONCERT_OK;
}

/* Step 5: every effect, each guarded so that a bug shows as an error. */
static int order_apply(sq_conn *c, const concert_pay_request *req, const order *o, int64_t balance,
                       concert_payment *out)
{
    const char *what = "pay";
    const int64_t first = o->items[0].id, after = balance - o->total;
    int64_t payment_id;
    int rc;

    if ((rc = sq_exec(c, SQL_DEBIT, SQ_ARGS(SQ_I(o->user_id), SQ_I(o->total)), what)) != 0)
        return rc;
    if (sq_changes(c) != 1)
        return concert_sys_error_set(CONCERT_EINTERNAL, "sqlite: conditional debit failed");
    rc = sq_exec(
        c, SQL_LEDGER_PAYMENT,
        SQ_ARGS(SQ_I(o->user_id), SQ_I(-o->total), SQ_I(after), SQ_I(req->now), SQ_I(first)), what);
    if (rc != 0)
        return rc;
    rc = sq_exec(
        c, SQL_PAYMENT_INSERT,
        SQ_ARGS(SQ_I(first), SQ_I(o->user_id), SQ_I(o->total), SQ_I(after), SQ_I(req->now)), what);
    if (rc != 0)
        return rc;
    payment_id = sq_last_id(c);
    for (size_t i = 0; i < o->count; i++) {
        const concert_reservation *r = &o->items[i];
        rc = sq_exec(c, SQL_SEAT_SELL,
                     SQ_ARGS(SQ_I(r->schedule_id), SQ_I(r->seat_number), SQ_I(r->id)), what);
        if (rc != 0)
            return rc;
        if (sq_changes(c) != 1)
            return concert_sys_error_set(CONCERT_EINTERNAL, "sqlite: the sale fence failed");
        if ((rc = sq_exec(c, SQL_CONFIRM, SQ_ARGS(SQ_I(r->id), SQ_I(payment_id)), what)) != 0 ||
            (rc = sq_schedule_changed(c, r->schedule_id, what)) != 0)
            return rc;
        if (sq_changes(c) != 1)
            return concert_sys_error_set(CONCERT_EINTERNAL,
                                         "sqlite: reservation %lld changed under a write "
                                         "transaction",
                                         (long long)r->id);
    }
    /* The fence let only a live ACTIVE token this far: it leaves the active
     * count here, once. */
    if ((rc = sq_exec(c, SQL_TOKEN_CONSUME,
                      SQ_ARGS(SQ_T(req->token), SQ_I(req->now), SQ_I(req->reservation_ids[0])),
                      what)) != 0)
        return rc;
    if (sq_changes(c) != 1)
        return concert_sys_error_set(CONCERT_EINTERNAL, "sqlite: the paying token changed");
    if ((rc = sq_exec0(c, SQL_ACTIVE_DECREMENT, what)) != 0)
        return rc;
    if (req->idempotency_key) {
        rc = sq_exec(c, SQL_IDEMPOTENCY_INSERT,
                     SQ_ARGS(SQ_I(o->user_id), SQ_T(req->idempotency_key),
                             SQ_T(req->fingerprint ? req->fingerprint : ""), SQ_I(payment_id),
                             SQ_I(req->now)),
                     what);
        if (rc != 0)
            return rc;
    }
    out->id = payment_id;
    out->reservation_id = first;
    out->user_id = o->user_id;
    out->amount = o->total;
    out->balance = after;
    out->paid_at = req->now;
    return CONCERT_OK;
}

static int pay_step(sq_conn *c, const concert_pay_request *req, order *o, concert_payment *out)
{
    const char *what = "pay";
    int64_t balance = 0;
    int ended, rc;

    memset(out, 0, sizeof(*out));
    /* 0: resolve the token. An ENDED one may still replay a keyed payment. */
    rc = sq_token_fence(c, req->token, &req->queue, req->now, 1, &o->user_id, what);
    if (rc < 0)
        return rc;
    ended = rc == 1;
    /* 1: the idempotency record. */
    if ((rc = pay_replay(c, req, o->user_id, out)) != 0)
        return rc < 0 ? rc : CONCERT_OK;
    /* 2: a live ACTIVE token. */
    if (ended)
        return concert_sys_error_set(CONCERT_ETOKEN_INVALID,
                                     "token invalid: expired, dropped or already ended");
    /* 3 and 4. */
    if ((rc = order_check(c, req, o)) != 0)
        return rc;
    rc = sq_one_i64(c, SQL_BALANCE, SQ_ARGS(SQ_I(o->user_id)), &balance, what);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return concert_sys_error_set(CONCERT_EUSER_NOT_FOUND, "user %lld not found",
                                     (long long)o->user_id);
    if (balance < o->total)
        return concert_sys_error_set(CONCERT_EINSUFFICIENT_POINTS,
                                     "insufficient points: balance %lld, price %lld",
                                     (long long)balance, (long long)o->total);
    return order_apply(c, req, o, balance, out);
}

int sq_pay(concert_storage *self, const concert_pay_request *req, concert_payment *out)
{
    sq_store *s = (sq_store *)self;
    order o;
    sq_conn *c;
    /* Durable: COMMIT returns only after the WAL is fsynced. */
    int rc = sq_write_begin(s, 1, &c, "pay");
    if (rc != 0)
        return rc;
    rc = pay_step(c, req, &o, out);
    /* A payment ends a token and may write a record: retention keeps pace
     * (after the step, so that a replay due this very moment still
     * replays once). */
    if (rc == 0)
        rc = sq_prune_incidental(c, 1, req->now, req->queue.retention_ms, "pay");
    rc = sq_write_end(s, c, rc, "pay");
    if (rc != 0)
        memset(out, 0, sizeof(*out));
    return rc;
}

#else
typedef int concert_sqlite_pay_compiled_out;
#endif
