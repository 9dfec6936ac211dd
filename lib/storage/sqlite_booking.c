/*
 * SQLite backend: the token fence, seat holds with the per-buyer limits,
 * reservations, releasing a hold, and token_owner. Payment is in
 * sqlite_pay.c.
 *
 * A seat row records which reservation holds it and until when; it is free
 * when unsold and hold_until <= now, so an expired hold frees the seat the
 * moment it expires. Selling and releasing are fenced on the seat still
 * pointing at this reservation. Every step that writes runs inside one
 * BEGIN IMMEDIATE transaction on the writer, token check first, so the
 * checks and the writes they guard cannot be split by another thread or
 * process: a payment or a leave that ends the token either commits before
 * the hold's transaction starts (the hold sees an ENDED token) or after it
 * commits. The same transaction serialises one user's concurrent holds, so
 * the limit counted in it cannot be passed by a race.
 */
#ifdef CONCERT_HAVE_SQLITE

#include <string.h>

#include "sqlite_internal.h"

static const char SQL_TOKEN_FENCE[] =
    "SELECT token, user_id, state, last_seen, expires_at FROM tokens WHERE token = ?1";
static const char SQL_TOKEN_OWNER[] = "SELECT token, user_id FROM tokens WHERE token = ?1";
static const char SQL_TOKEN_PAID[] =
    "SELECT token, paid_reservation_id FROM tokens WHERE token = ?1";
static const char SQL_SEAT_FOR_HOLD[] =
    "SELECT s.price, s.hold_reservation_id, s.hold_until, s.sold_reservation_id,"
    "       r.user_id, r.status, r.price, r.held_until"
    " FROM seats s LEFT JOIN reservations r ON r.id = s.hold_reservation_id"
    " WHERE s.schedule_id = ?1 AND s.number = ?2";
/* The limits, through reservations_by_user (user_id, status, held_until):
 * live holds are a range of it; a user's CONFIRMED reservations are joined
 * to their schedule for the concert. Expired and RELEASED holds never
 * count. Counting stops at the limit (the last parameter): only "is it
 * reached" matters, so a buyer with many holds (a store without a limit,
 * or with a higher one before) costs no more than the limit. */
/* A live hold also still owns its seat: one that ran out and was taken by
 * another buyer is not live again when a step brings an earlier `now`
 * (storage.h, "Time may go backwards"); one primary-key probe per hold. */
#define SQ_STILL_OWNS_SEAT(r)                                                                      \
    " AND EXISTS (SELECT 1 FROM seats o WHERE o.schedule_id = " r ".schedule_id"                   \
    "  AND o.number = " r ".seat_number AND o.hold_reservation_id = " r ".id)"
static const char SQL_COUNT_LIVE_HELD[] =
    "SELECT count(*) FROM (SELECT 1 FROM reservations"
    " WHERE user_id = ?1 AND status = 1 AND held_until > ?2" SQ_STILL_OWNS_SEAT(
        "reservations") " LIMIT ?3)";
static const char SQL_COUNT_CONCERT[] =
    "SELECT count(*) FROM ("
    " SELECT 1 FROM reservations r JOIN schedules s ON s.id = r.schedule_id"
    "  WHERE r.user_id = ?1 AND r.status = 1 AND r.held_until > ?3 AND s.concert_id = "
    "?2" SQ_STILL_OWNS_SEAT(
        "r") " UNION ALL"
             " SELECT 1 FROM reservations r JOIN schedules s ON s.id = r.schedule_id"
             "  WHERE r.user_id = ?1 AND r.status = 2 AND s.concert_id = ?2"
             " LIMIT ?4)";
static const char SQL_RESERVATION_INSERT[] =
    "INSERT INTO reservations (user_id, schedule_id, seat_number, price, status, held_until,"
    " created_at) VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6)";
/* The compare-and-set on the free predicate. */
static const char SQL_SEAT_TAKE[] =
    "UPDATE seats SET hold_reservation_id = ?3, hold_until = ?4"
    " WHERE schedule_id = ?1 AND number = ?2 AND sold_reservation_id IS NULL"
    " AND hold_until <= ?5";
static const char SQL_RESERVATION[] =
    "SELECT " SQ_RESERVATION_COLUMNS " FROM reservations WHERE id = ?1";
static const char SQL_RELEASE[] = "UPDATE reservations SET status = 4 WHERE id = ?1 AND status = 1";
/* Fenced: a seat that a later reservation holds (or that is sold) is not
 * touched. */
static const char SQL_SEAT_UNHOLD[] =
    "UPDATE seats SET hold_reservation_id = NULL, hold_until = 0"
    " WHERE schedule_id = ?1 AND number = ?2 AND hold_reservation_id = ?3"
    " AND sold_reservation_id IS NULL";

static sq_store *store_of(concert_storage *self)
{
    return (sq_store *)self;
}

/* ---- the token fence ---- */

static int token_unknown(void)
{
    return concert_sys_error_set(CONCERT_ETOKEN_INVALID, "token invalid: unknown token");
}

int sq_token_fence(sq_conn *c, const char *token, const concert_queue_params *p, int64_t now,
                   int allow_ended, int64_t *user_id, const char *what)
{
    char stored[CONCERT_TOKEN_SIZE];
    int64_t state, last_seen, expires_at;
    sqlite3_stmt *st;
    int rc;

    *user_id = 0;
    if ((rc = sq_query(c, SQL_TOKEN_FENCE, SQ_ARGS(SQ_T(token)), &st, what)) != 0)
        return rc;
    if ((rc = sq_step(c, st, what)) < 0)
        return rc;
    if (rc == 0)
        return token_unknown();
    sq_text_copy(stored, sizeof(stored), st, 0);
    *user_id = sqlite3_column_int64(st, 1);
    state = sqlite3_column_int64(st, 2);
    last_seen = sqlite3_column_int64(st, 3);
    expires_at = sqlite3_column_int64(st, 4);
    sq_done(st);
    /* The index found the candidate; the text is confirmed in constant time. */
    if (!concert_sys_token_equal(stored, token)) {
        *user_id = 0;
        return token_unknown();
    }
    if (state == SQ_TOKEN_ACTIVE && now < expires_at)
        return CONCERT_OK;
    if (state == SQ_TOKEN_WAITING && now < last_seen + p->wait_ttl_ms)
        return concert_sys_error_set(CONCERT_ETOKEN_NOT_ACTIVE,
                                     "token not active: still waiting in the queue");
    if (allow_ended)
        return 1;
    return concert_sys_error_set(CONCERT_ETOKEN_INVALID,
                                 "token invalid: expired, dropped or already ended");
}

/* ---- holds ---- */

/* Step 5 of seat_hold: would one more live hold pass the limit? */
static int hold_limit_check(sq_conn *c, const concert_hold_request *req, int64_t user_id)
{
    const char *what = "seat_hold";
    int64_t count = 0, limit;
    int rc;

    if (req->max_per_concert > 0) {
        limit = req->max_per_concert;
        rc = sq_one_i64(c, SQL_COUNT_CONCERT,
                        SQ_ARGS(SQ_I(user_id), SQ_I(req->concert_id), SQ_I(req->now), SQ_I(limit)),
                        &count, what);
    } else if (req->max_holds > 0) {
        limit = req->max_holds;
        rc = sq_one_i64(c, SQL_COUNT_LIVE_HELD, SQ_ARGS(SQ_I(user_id), SQ_I(req->now), SQ_I(limit)),
                        &count, what);
    } else {
        return CONCERT_OK;
    }
    if (rc < 0)
        return rc;
    /* The bare code: the core words the message (it knows which limit). */
    return count >= limit ? CONCERT_EHOLD_LIMIT : CONCERT_OK;
}

static void hold_report(concert_reservation *out, int64_t id, int64_t user_id,
                        const concert_hold_request *req, int64_t price, int64_t held_until,
                        int is_new)
{
    memset(out, 0, sizeof(*out));
    out->id = id;
    out->user_id = user_id;
    out->schedule_id = req->schedule_id;
    out->seat_number = req->seat_number;
    out->price = price;
    out->status = CONCERT_RESERVATION_HELD;
    out->is_new = is_new;
    out->held_until = held_until;
}

static int hold_step(sq_conn *c, const concert_hold_request *req, concert_reservation *out)
{
    const char *what = "seat_hold";
    int64_t user_id, price, hold_id, hold_until, holder, holder_status, holder_price, holder_until,
        id;
    int sold, rc;
    sqlite3_stmt *st;

    memset(out, 0, sizeof(*out));
    if ((rc = sq_token_fence(c, req->token, &req->queue, req->now, 0, &user_id, what)) != 0)
        return rc;
    rc = sq_query(c, SQL_SEAT_FOR_HOLD, SQ_ARGS(SQ_I(req->schedule_id), SQ_I(req->seat_number)),
                  &st, what);
    if (rc != 0)
        return rc;
    if ((rc = sq_step(c, st, what)) < 0)
        return rc;
    if (rc == 0)
        return concert_sys_error_set(CONCERT_ESEAT_NOT_FOUND,
                                     "seat %lld not found in schedule %lld",
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

    if (sold)
        return concert_sys_error_set(CONCERT_ESEAT_TAKEN, "seat %lld of schedule %lld is sold",
                                     (long long)req->seat_number, (long long)req->schedule_id);
    if (hold_until > req->now) {
        if (holder == user_id && holder_status == SQ_RES_HELD) {
            hold_report(out, hold_id, user_id, req, holder_price, holder_until, 0);
            return CONCERT_OK;
        }
        return concert_sys_error_set(CONCERT_ESEAT_TAKEN,
                                     "seat %lld of schedule %lld is held by another buyer",
                                     (long long)req->seat_number, (long long)req->schedule_id);
    }
    if ((rc = hold_limit_check(c, req, user_id)) != 0)
        return rc;
    rc = sq_exec(c, SQL_RESERVATION_INSERT,
                 SQ_ARGS(SQ_I(user_id), SQ_I(req->schedule_id), SQ_I(req->seat_number), SQ_I(price),
                         SQ_I(req->hold_until), SQ_I(req->now)),
                 what);
    if (rc != 0)
        return rc;
    id = sq_last_id(c);
    rc = sq_exec(c, SQL_SEAT_TAKE,
                 SQ_ARGS(SQ_I(req->schedule_id), SQ_I(req->seat_number), SQ_I(id),
                         SQ_I(req->hold_until), SQ_I(req->now)),
                 what);
    if (rc != 0)
        return rc;
    if (sq_changes(c) != 1)
        return concert_sys_error_set(CONCERT_EINTERNAL,
                                     "sqlite: seat %lld of schedule %lld changed under a write "
                                     "transaction",
                                     (long long)req->seat_number, (long long)req->schedule_id);
    if ((rc = sq_schedule_changed(c, req->schedule_id, what)) != 0)
        return rc;
    hold_report(out, id, user_id, req, price, req->hold_until, 1);
    return CONCERT_OK;
}

int sq_seat_hold(concert_storage *self, const concert_hold_request *req, concert_reservation *out)
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
    rc = sq_write_end(s, c, rc, "seat_hold");
    if (rc != 0)
        memset(out, 0, sizeof(*out));
    return rc;
}

/* ---- reservations ---- */

void sq_reservation_read(sqlite3_stmt *st, concert_reservation *out)
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

int sq_reservation_missing(int64_t reservation_id)
{
    return concert_sys_error_set(CONCERT_ERESERVATION_NOT_FOUND, "reservation %lld not found",
                                 (long long)reservation_id);
}

/* 0 and *out filled, or an error (CONCERT_ERESERVATION_NOT_FOUND). */
static int reservation_load(sq_conn *c, int64_t reservation_id, concert_reservation *out,
                            const char *what)
{
    sqlite3_stmt *st;
    int rc = sq_query(c, SQL_RESERVATION, SQ_ARGS(SQ_I(reservation_id)), &st, what);
    if (rc != 0)
        return rc;
    if ((rc = sq_step(c, st, what)) < 0)
        return rc;
    if (rc == 0)
        return sq_reservation_missing(reservation_id);
    sq_reservation_read(st, out);
    sq_done(st);
    return CONCERT_OK;
}

int sq_reservation_get(concert_storage *self, int64_t reservation_id, concert_reservation *out)
{
    const char *what = "reservation_get";
    sq_store *s = store_of(self);
    sq_conn *c;
    int rc;

    if ((rc = sq_read_begin(s, 0, &c, what)) != 0)
        return rc;
    rc = reservation_load(c, reservation_id, out, what);
    return sq_read_end(s, c, 0, rc, what);
}

/* ---- release ---- */

static int release_step(sq_conn *c, const concert_release_request *req, concert_reservation *out)
{
    const char *what = "reservation_release";
    concert_reservation r;
    int64_t user_id;
    int rc;

    if ((rc = sq_token_fence(c, req->token, &req->queue, req->now, 0, &user_id, what)) != 0 ||
        (rc = reservation_load(c, req->reservation_id, &r, what)) != 0)
        return rc;
    if (r.user_id != user_id)
        return concert_sys_error_set(CONCERT_EFORBIDDEN, "reservation %lld belongs to another user",
                                     (long long)r.id);
    if (r.status == SQ_RES_CONFIRMED)
        return concert_sys_error_set(CONCERT_EALREADY_PAID, "reservation %lld is already paid",
                                     (long long)r.id);
    if (r.status == SQ_RES_HELD) {
        /* Live or expired alike: the reservation ends; the seat is freed
         * only while it is still this reservation's. */
        if ((rc = sq_exec(c, SQL_RELEASE, SQ_ARGS(SQ_I(r.id)), what)) != 0)
            return rc;
        if (sq_changes(c) != 1)
            return concert_sys_error_set(CONCERT_EINTERNAL,
                                         "sqlite: reservation %lld changed under a write "
                                         "transaction",
                                         (long long)r.id);
        rc = sq_exec(c, SQL_SEAT_UNHOLD,
                     SQ_ARGS(SQ_I(r.schedule_id), SQ_I(r.seat_number), SQ_I(r.id)), what);
        if (rc != 0)
            return rc;
        /* The seat row changed (even a hold that had run out leaves the
         * seat's expiry bound): a new version. A seat that had moved on is
         * untouched, and so is the list. */
        if (sq_changes(c) == 1 && (rc = sq_schedule_changed(c, r.schedule_id, what)) != 0)
            return rc;
        r.status = SQ_RES_RELEASED;
    }
    *out = r;
    return CONCERT_OK;
}

int sq_reservation_release(concert_storage *self, const concert_release_request *req,
                           concert_reservation *out)
{
    sq_store *s = store_of(self);
    concert_reservation r;
    sq_conn *c;
    /* Not fsynced, like the hold it ends: lost to a power cut, the hold
     * comes back until it expires, which its buyer had accepted anyway. */
    int rc = sq_write_begin(s, 0, &c, "reservation_release");
    if (rc != 0)
        return rc;
    memset(&r, 0, sizeof(r));
    rc = release_step(c, req, &r);
    rc = sq_write_end(s, c, rc, "reservation_release");
    if (rc == 0)
        *out = r;
    return rc;
}

/* ---- token_owner ---- */

/* One column of a token's row (sql selects token, value), a pure read on a
 * pooled reader: no last_seen, no admission. */
static int token_column(concert_storage *self, const char *sql, const char *token, int64_t *value,
                        const char *what)
{
    sq_store *s = store_of(self);
    char stored[CONCERT_TOKEN_SIZE];
    sqlite3_stmt *st;
    int64_t found = 0;
    sq_conn *c;
    int rc;

    if ((rc = sq_read_begin(s, 0, &c, what)) != 0)
        return rc;
    if ((rc = sq_query(c, sql, SQ_ARGS(SQ_T(token)), &st, what)) == 0 &&
        (rc = sq_step(c, st, what)) == 1) {
        sq_text_copy(stored, sizeof(stored), st, 0);
        found = sqlite3_column_int64(st, 1);
        sq_done(st);
        rc = concert_sys_token_equal(stored, token) ? CONCERT_OK : token_unknown();
    } else if (rc == 0) {
        rc = token_unknown();
    }
    rc = sq_read_end(s, c, 0, rc, what);
    if (rc == 0)
        *value = found;
    return rc;
}

int sq_token_owner(concert_storage *self, const char *token, int64_t *user_id)
{
    return token_column(self, SQL_TOKEN_OWNER, token, user_id, "token_owner");
}

int sq_token_paid(concert_storage *self, const char *token, int64_t *reservation_id)
{
    *reservation_id = 0;
    return token_column(self, SQL_TOKEN_PAID, token, reservation_id, "token_paid");
}

#else
typedef int concert_sqlite_booking_compiled_out;
#endif
