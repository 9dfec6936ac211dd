/*
 * SQLite backend: seat holds, reservations and payment.
 *
 * A seat row records which reservation holds it and until when; it is free
 * when unsold and hold_until <= now, so an expired hold frees the seat the
 * moment it expires. Selling is fenced on the seat still pointing at this
 * reservation. Every step runs inside one BEGIN IMMEDIATE transaction on the
 * writer, so the check and the write it guards cannot be split by another
 * thread or process.
 */
#ifdef CONCERT_HAVE_SQLITE

#include <string.h>

#include "sqlite_internal.h"

static const char SQL_SEAT_FOR_HOLD[] =
    "SELECT s.price, s.hold_reservation_id, s.hold_until, s.sold_reservation_id,"
    "       r.user_id, r.status, r.price, r.held_until"
    " FROM seats s LEFT JOIN reservations r ON r.id = s.hold_reservation_id"
    " WHERE s.schedule_id = ?1 AND s.number = ?2";
static const char SQL_RESERVATION_INSERT[] =
    "INSERT INTO reservations (user_id, schedule_id, seat_number, price, status, held_until,"
    " created_at) VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6)";
/* The compare-and-set on the free predicate. */
static const char SQL_SEAT_TAKE[] =
    "UPDATE seats SET hold_reservation_id = ?3, hold_until = ?4"
    " WHERE schedule_id = ?1 AND number = ?2 AND sold_reservation_id IS NULL"
    " AND hold_until <= ?5";
static const char SQL_RESERVATION[] =
    "SELECT id, user_id, schedule_id, seat_number, price, status, held_until"
    " FROM reservations WHERE id = ?1";

static const char SQL_IDEMPOTENT_PAY[] =
    "SELECT fingerprint, payment_id FROM idempotency"
    " WHERE user_id = ?1 AND operation = 'pay' AND key = ?2";
static const char SQL_PAYMENT[] =
    "SELECT id, reservation_id, user_id, amount, balance_after, paid_at FROM payments"
    " WHERE id = ?1";
static const char SQL_TOKEN_FOR_PAY[] =
    "SELECT token, user_id, state, expires_at FROM tokens WHERE token = ?1";
static const char SQL_SEAT_FENCE[] =
    "SELECT hold_reservation_id, sold_reservation_id FROM seats"
    " WHERE schedule_id = ?1 AND number = ?2";
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
static const char SQL_CONFIRM[] = "UPDATE reservations SET status = 2 WHERE id = ?1 AND status = 1";
static const char SQL_TOKEN_CONSUME[] =
    "UPDATE tokens SET state = 3 WHERE token = ?1 AND state = 2";
static const char SQL_ACTIVE_DECREMENT[] =
    "UPDATE queue_state SET active = active - 1 WHERE id = 1";
static const char SQL_IDEMPOTENCY_INSERT[] =
    "INSERT INTO idempotency (user_id, operation, key, fingerprint, payment_id, balance_after,"
    " created_at) VALUES (?1, 'pay', ?2, ?3, ?4, NULL, ?5)";

static sq_store *store_of(concert_storage *self)
{
    return (sq_store *)self;
}

/* ---- holds ---- */

static int hold_step(sq_conn *c, const concert_hold_request *req, concert_reservation *out)
{
    const char *what = "seat_hold";
    int64_t price, hold_id, hold_until, holder, holder_status, holder_price, holder_until;
    int sold, rc;
    sqlite3_stmt *st;

    rc = sq_query(c, SQL_SEAT_FOR_HOLD, SQ_ARGS(SQ_I(req->schedule_id), SQ_I(req->seat_number)),
                  &st, what);
    if (rc != 0)
        return rc;
    if ((rc = sq_step(c, st, what)) < 0)
        return rc;
    if (rc == 0)
        return concert_sys_error_set(CONCERT_ESEAT_NOT_FOUND, "seat %lld not found in schedule %lld",
                                     (long long)req->seat_number, (long long)req->schedule_id);
    price = sqlite3_column_int64(st, 0);
    hold_id = sqlite3_column_int64(st, 1);
    hold_until = sqlite3_column_int64(st, 2);
    sold = sqlite3_column_type(st, 3) != SQLITE_NULL;
    holder = sqlite3_column_int64(st, 4);
    holder_status = sqlite3_column_int64(st, 5);
    holder_price = sqlite3_column_int64(st, 6);
    holder_until = sqlite3_column_int64(st, 7);
    sq_done(st);

    memset(out, 0, sizeof(*out));
    if (sold)
        return concert_sys_error_set(CONCERT_ESEAT_TAKEN, "seat %lld of schedule %lld is sold",
                                     (long long)req->seat_number, (long long)req->schedule_id);
    if (hold_until > req->now) {
        if (holder == req->user_id && holder_status == CONCERT_RESERVATION_HELD) {
            out->id = hold_id;
            out->user_id = holder;
            out->schedule_id = req->schedule_id;
            out->seat_number = req->seat_number;
            out->price = holder_price;
            out->status = CONCERT_RESERVATION_HELD;
            out->is_new = 0;
            out->held_until = holder_until;
            return CONCERT_OK;
        }
        return concert_sys_error_set(CONCERT_ESEAT_TAKEN,
                                     "seat %lld of schedule %lld is held by another buyer",
                                     (long long)req->seat_number, (long long)req->schedule_id);
    }
    rc = sq_exec(c, SQL_RESERVATION_INSERT,
                 SQ_ARGS(SQ_I(req->user_id), SQ_I(req->schedule_id), SQ_I(req->seat_number),
                         SQ_I(price), SQ_I(req->hold_until), SQ_I(req->now)),
                 what);
    if (rc != 0)
        return rc;
    out->id = sq_last_id(c);
    rc = sq_exec(c, SQL_SEAT_TAKE,
                 SQ_ARGS(SQ_I(req->schedule_id), SQ_I(req->seat_number), SQ_I(out->id),
                         SQ_I(req->hold_until), SQ_I(req->now)),
                 what);
    if (rc != 0)
        return rc;
    if (sq_changes(c) != 1)
        return concert_sys_error_set(CONCERT_EINTERNAL,
                                     "sqlite: seat %lld of schedule %lld changed under a write "
                                     "transaction",
                                     (long long)req->seat_number, (long long)req->schedule_id);
    out->user_id = req->user_id;
    out->schedule_id = req->schedule_id;
    out->seat_number = req->seat_number;
    out->price = price;
    out->status = CONCERT_RESERVATION_HELD;
    out->is_new = 1;
    out->held_until = req->hold_until;
    return CONCERT_OK;
}

int sq_seat_hold(concert_storage *self, const concert_hold_request *req,
                 concert_reservation *out)
{
    sq_store *s = store_of(self);
    sq_conn *c;
    /* Not fsynced: a hold is no payment. It still survives a crash of the
     * process (WAL frames are in the OS before COMMIT returns) and the next
     * durable commit (a payment of it, at the latest) makes it power-safe. */
    int rc = sq_write_begin(s, 0, &c, "seat_hold");
    if (rc != 0)
        return rc;
    rc = hold_step(c, req, out);
    return sq_write_end(s, c, rc, "seat_hold");
}

static void reservation_read(sqlite3_stmt *st, concert_reservation *out)
{
    memset(out, 0, sizeof(*out));
    out->id = sqlite3_column_int64(st, 0);
    out->user_id = sqlite3_column_int64(st, 1);
    out->schedule_id = sqlite3_column_int64(st, 2);
    out->seat_number = sqlite3_column_int64(st, 3);
    out->price = sqlite3_column_int64(st, 4);
    out->status = (int32_t)sqlite3_column_int64(st, 5);
    out->held_until = sqlite3_column_int64(st, 6);
}

static int reservation_missing(int64_t id)
{
    return concert_sys_error_set(CONCERT_ERESERVATION_NOT_FOUND, "reservation %lld not found",
                                 (long long)id);
}

int sq_reservation_get(concert_storage *self, int64_t reservation_id, concert_reservation *out)
{
    const char *what = "reservation_get";
    sq_store *s = store_of(self);
    sqlite3_stmt *st;
    sq_conn *c;
    int rc;

    if ((rc = sq_read_begin(s, 0, &c, what)) != 0)
        return rc;
    if ((rc = sq_query(c, SQL_RESERVATION, SQ_ARGS(SQ_I(reservation_id)), &st, what)) == 0 &&
        (rc = sq_step(c, st, what)) == 1) {
        reservation_read(st, out);
        sq_done(st);
        rc = 0;
    } else if (rc == 0) {
        rc = reservation_missing(reservation_id);
    }
    return sq_read_end(s, c, 0, rc, what);
}

/* ---- payment ---- */

/* 1: a stored payment was reported; 0: no record; < 0: error (key reused). */
static int pay_replay(sq_conn *c, const concert_pay_request *req, concert_payment *out)
{
    const char *what = "pay";
    char fingerprint[128];
    int64_t payment_id;
    sqlite3_stmt *st;
    int rc;

    if (!req->idempotency_key)
        return 0;
    rc = sq_query(c, SQL_IDEMPOTENT_PAY, SQ_ARGS(SQ_I(req->user_id), SQ_T(req->idempotency_key)),
                  &st, what);
    if (rc != 0)
        return rc;
    if ((rc = sq_step(c, st, what)) != 1)
        return rc;
    sq_text_copy(fingerprint, sizeof(fingerprint), st, 0);
    payment_id = sqlite3_column_int64(st, 1);
    sq_done(st);
    if (strcmp(fingerprint, req->fingerprint ? req->fingerprint : "") != 0)
        return concert_sys_error_set(CONCERT_EIDEMPOTENCY_KEY_REUSED,
                                     "idempotency key reused: it paid for another reservation");
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

static int pay_token_check(sq_conn *c, const concert_pay_request *req)
{
    const char *what = "pay";
    char token[CONCERT_TOKEN_SIZE];
    int64_t user_id, state, expires_at;
    sqlite3_stmt *st;
    int rc = sq_query(c, SQL_TOKEN_FOR_PAY, SQ_ARGS(SQ_T(req->token)), &st, what);
    if (rc != 0)
        return rc;
    if ((rc = sq_step(c, st, what)) < 0)
        return rc;
    if (rc == 1) {
        sq_text_copy(token, sizeof(token), st, 0);
        user_id = sqlite3_column_int64(st, 1);
        state = sqlite3_column_int64(st, 2);
        expires_at = sqlite3_column_int64(st, 3);
        sq_done(st);
        if (concert_sys_token_equal(token, req->token) && state == SQ_TOKEN_ACTIVE &&
            req->now < expires_at && user_id == req->user_id)
            return CONCERT_OK;
    }
    return concert_sys_error_set(CONCERT_ETOKEN_INVALID,
                                 "token invalid: not a live ACTIVE token of user %lld",
                                 (long long)req->user_id);
}

/* Step 3 of the contract: the reservation is this user's, held, and the
 * seat still points at it. */
static int pay_reservation_check(sq_conn *c, const concert_pay_request *req,
                                 concert_reservation *r)
{
    const char *what = "pay";
    int64_t holder, sold_to;
    int sold;
    sqlite3_stmt *st;
    int rc = sq_query(c, SQL_RESERVATION, SQ_ARGS(SQ_I(req->reservation_id)), &st, what);
    if (rc != 0)
        return rc;
    if ((rc = sq_step(c, st, what)) < 0)
        return rc;
    if (rc == 0)
        return reservation_missing(req->reservation_id);
    reservation_read(st, r);
    sq_done(st);
    if (r->user_id != req->user_id)
        return concert_sys_error_set(CONCERT_EFORBIDDEN, "reservation %lld belongs to another user",
                                     (long long)r->id);
    if (r->status == CONCERT_RESERVATION_CONFIRMED)
        return concert_sys_error_set(CONCERT_EALREADY_PAID, "reservation %lld is already paid",
                                     (long long)r->id);
    if (r->held_until <= req->now)
        return concert_sys_error_set(CONCERT_EHOLD_EXPIRED, "the hold of reservation %lld expired",
                                     (long long)r->id);
    rc = sq_query(c, SQL_SEAT_FENCE, SQ_ARGS(SQ_I(r->schedule_id), SQ_I(r->seat_number)), &st,
                  what);
    if (rc != 0)
        return rc;
    if ((rc = sq_step(c, st, what)) < 0)
        return rc;
    if (rc == 0)
        return concert_sys_error_set(CONCERT_EINTERNAL, "sqlite: the seat of reservation %lld "
                                                        "is missing",
                                     (long long)r->id);
    holder = sqlite3_column_int64(st, 0);
    sold = sqlite3_column_type(st, 1) != SQLITE_NULL;
    sold_to = sqlite3_column_int64(st, 1);
    sq_done(st);
    if (holder != r->id || (sold && sold_to != r->id))
        return concert_sys_error_set(CONCERT_EHOLD_EXPIRED,
                                     "the hold of reservation %lld expired: the seat has moved on",
                                     (long long)r->id);
    return CONCERT_OK;
}

/* Step 5: every effect, each guarded so that a bug shows as an error. */
static int pay_apply(sq_conn *c, const concert_pay_request *req, const concert_reservation *r,
                     int64_t balance, concert_payment *out)
{
    const char *what = "pay";
    int64_t after = balance - r->price;
    int rc;

    if ((rc = sq_exec(c, SQL_DEBIT, SQ_ARGS(SQ_I(req->user_id), SQ_I(r->price)), what)) != 0)
        return rc;
    if (sq_changes(c) != 1)
        return concert_sys_error_set(CONCERT_EINTERNAL, "sqlite: conditional debit failed");
    rc = sq_exec(c, SQL_LEDGER_PAYMENT,
                 SQ_ARGS(SQ_I(req->user_id), SQ_I(-r->price), SQ_I(after), SQ_I(req->now),
                         SQ_I(r->id)),
                 what);
    if (rc != 0)
        return rc;
    rc = sq_exec(c, SQL_PAYMENT_INSERT,
                 SQ_ARGS(SQ_I(r->id), SQ_I(req->user_id), SQ_I(r->price), SQ_I(after),
                         SQ_I(req->now)),
                 what);
    if (rc != 0)
        return rc;
    out->id = sq_last_id(c);
    rc = sq_exec(c, SQL_SEAT_SELL, SQ_ARGS(SQ_I(r->schedule_id), SQ_I(r->seat_number), SQ_I(r->id)),
                 what);
    if (rc != 0)
        return rc;
    if (sq_changes(c) != 1)
        return concert_sys_error_set(CONCERT_EINTERNAL, "sqlite: the sale fence failed");
    if ((rc = sq_exec(c, SQL_CONFIRM, SQ_ARGS(SQ_I(r->id)), what)) != 0)
        return rc;
    if ((rc = sq_exec(c, SQL_TOKEN_CONSUME, SQ_ARGS(SQ_T(req->token)), what)) != 0)
        return rc;
    if (sq_changes(c) == 1 && (rc = sq_exec0(c, SQL_ACTIVE_DECREMENT, what)) != 0)
        return rc;
    if (req->idempotency_key) {
        rc = sq_exec(c, SQL_IDEMPOTENCY_INSERT,
                     SQ_ARGS(SQ_I(req->user_id), SQ_T(req->idempotency_key),
                             SQ_T(req->fingerprint ? req->fingerprint : ""), SQ_I(out->id),
                             SQ_I(req->now)),
                     what);
        if (rc != 0)
            return rc;
    }
    out->reservation_id = r->id;
    out->user_id = req->user_id;
    out->amount = r->price;
    out->balance = after;
    out->paid_at = req->now;
    return CONCERT_OK;
}

static int pay_step(sq_conn *c, const concert_pay_request *req, concert_payment *out)
{
    concert_reservation r;
    int64_t balance = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = pay_replay(c, req, out)) != 0)
        return rc < 0 ? rc : CONCERT_OK;
    if ((rc = pay_token_check(c, req)) != 0 || (rc = pay_reservation_check(c, req, &r)) != 0)
        return rc;
    rc = sq_one_i64(c, SQL_BALANCE, SQ_ARGS(SQ_I(req->user_id)), &balance, "pay");
    if (rc < 0)
        return rc;
    if (rc == 0)
        return concert_sys_error_set(CONCERT_EUSER_NOT_FOUND, "user %lld not found",
                                     (long long)req->user_id);
    if (balance < r.price)
        return concert_sys_error_set(CONCERT_EINSUFFICIENT_POINTS,
                                     "insufficient points: balance %lld, price %lld",
                                     (long long)balance, (long long)r.price);
    return pay_apply(c, req, &r, balance, out);
}

int sq_pay(concert_storage *self, const concert_pay_request *req, concert_payment *out)
{
    sq_store *s = store_of(self);
    sq_conn *c;
    /* Durable: COMMIT returns only after the WAL is fsynced. */
    int rc = sq_write_begin(s, 1, &c, "pay");
    if (rc != 0)
        return rc;
    rc = pay_step(c, req, out);
    rc = sq_write_end(s, c, rc, "pay");
    if (rc != 0)
        memset(out, 0, sizeof(*out));
    return rc;
}

#else
typedef int concert_sqlite_booking_compiled_out;
#endif
