/*
 * SQLite backend: the invariant checker behind concert_admin_verify(). Runs in one
 * read snapshot on a pooled reader, so it sees one consistent state while
 * sales go on, and reports what it finds; it never repairs anything.
 */
#ifdef CONCERT_HAVE_SQLITE

#include <stdio.h>
#include <string.h>

#include "sqlite_internal.h"

static const char SQL_USERS[] =
    "SELECT u.id, u.balance,"
    "  (SELECT coalesce(sum(l.amount), 0) FROM ledger l WHERE l.user_id = u.id),"
    "  (SELECT l.balance_after FROM ledger l WHERE l.user_id = u.id ORDER BY l.id DESC LIMIT 1)"
    " FROM users u ORDER BY u.id";
static const char SQL_SOLD_SEATS[] =
    "SELECT s.schedule_id, s.number, s.sold_reservation_id, s.hold_until,"
    "  r.id, r.status, r.schedule_id, r.seat_number, r.price,"
    "  (SELECT count(*) FROM reservations x WHERE x.schedule_id = s.schedule_id"
    "     AND x.seat_number = s.number AND x.status = 2),"
    "  (SELECT count(*) FROM payments p WHERE p.id = r.payment_id)"
    " FROM seats s LEFT JOIN reservations r ON r.id = s.sold_reservation_id"
    " WHERE s.sold_reservation_id IS NOT NULL ORDER BY s.schedule_id, s.number";
static const char SQL_CONFIRMED_UNSOLD[] =
    "SELECT r.id, r.schedule_id, r.seat_number FROM reservations r"
    " LEFT JOIN seats s ON s.schedule_id = r.schedule_id AND s.number = r.seat_number"
    " WHERE r.status = 2 AND (s.sold_reservation_id IS NULL OR s.sold_reservation_id <> r.id)"
    " ORDER BY r.id";
/* Each payment and the reservations that name it (an order pays for
 * several): how many, what they cost, the first id, how many are not
 * CONFIRMED or another user's. Through reservations_by_payment. */
static const char SQL_PAYMENTS[] =
    "SELECT p.id, p.reservation_id, p.amount, count(r.id), coalesce(sum(r.price), 0),"
    "  min(r.id), coalesce(sum(r.status <> 2), 0), coalesce(sum(r.user_id <> p.user_id), 0)"
    " FROM payments p LEFT JOIN reservations r ON r.payment_id = p.id"
    " GROUP BY p.id ORDER BY p.id";
/* A RELEASED reservation has let its seat go (a seat sold to one is the
 * sold-seat check's to report). */
static const char SQL_RELEASED_HOLDING[] =
    "SELECT r.id, r.schedule_id, r.seat_number FROM reservations r"
    " JOIN seats s ON s.schedule_id = r.schedule_id AND s.number = r.seat_number"
    " WHERE r.status = 4 AND s.hold_reservation_id = r.id AND s.sold_reservation_id IS NULL"
    " ORDER BY r.id";
static const char SQL_COUNT_LEDGER[] = "SELECT count(*) FROM ledger";
static const char SQL_COUNT_SEATS[] = "SELECT count(*) FROM seats";
static const char SQL_COUNT_RESERVATIONS[] = "SELECT count(*) FROM reservations";
static const char SQL_COUNT_PAYMENTS[] = "SELECT count(*) FROM payments";
static const char SQL_COUNT_LIVE_ACTIVE[] =
    "SELECT count(*) FROM tokens WHERE state = 2 AND expires_at > ?1";
static const char SQL_COUNT_ACTIVE_ROWS[] = "SELECT count(*) FROM tokens WHERE state = 2";
static const char SQL_QUEUE_ROW[] =
    "SELECT active, max_active, admit_per_minute, state, opens_at, prequeued, active_cap,"
    " last_ticket FROM queue_state WHERE id = 1";
/* Pre-queued tokens hold a negative placeholder instead of a ticket. */
static const char SQL_COUNT_PREQUEUED[] =
    "SELECT count(*) FROM tokens WHERE ticket < 0 AND state < 3";
static const char SQL_PREQUEUED_NOT_WAITING[] =
    "SELECT count(*) FROM tokens WHERE ticket < 0 AND state = 2";
static const char SQL_MAX_TICKET[] = "SELECT coalesce(max(ticket), 0) FROM tokens";
/* Retention counts from ended_at: an ENDED token without one would be kept
 * forever (or, written wrong, pruned early). Through tokens_ended_by_time. */
static const char SQL_ENDED_UNDATED[] =
    "SELECT count(*) FROM tokens WHERE state = 3 AND ended_at <= 0";
static const char SQL_OPEN_DATED[] =
    "SELECT count(*) FROM tokens WHERE state < 3 AND ended_at <> 0";

typedef struct checker {
    sq_conn *c;
    concert_emit_text_fn emit;
    void *ctx;
} checker;

static int report_line(checker *k, const char *text)
{
    int rc = k->emit(k->ctx, text);
    return rc != 0 ? concert_sys_error_set(rc, "verify: could not record a violation") : 0;
}

static int check_users(checker *k, concert_verify_report *rep)
{
    const char *what = "verify";
    char line[256];
    sqlite3_stmt *st;
    int rc = sq_query(k->c, SQL_USERS, NULL, 0, &st, what);
    if (rc != 0)
        return rc;
    while ((rc = sq_step(k->c, st, what)) == 1) {
        int64_t id = sqlite3_column_int64(st, 0), balance = sqlite3_column_int64(st, 1);
        int64_t sum = sqlite3_column_int64(st, 2), last = sqlite3_column_int64(st, 3);
        int has_entries = sqlite3_column_type(st, 3) != SQLITE_NULL;
        rep->users++;
        line[0] = '\0';
        if (balance < 0)
            snprintf(line, sizeof(line), "user %lld: negative balance %lld", (long long)id,
                     (long long)balance);
        else if (balance != sum)
            snprintf(line, sizeof(line), "user %lld: balance %lld but the ledger sums to %lld",
                     (long long)id, (long long)balance, (long long)sum);
        else if (has_entries && last != balance)
            snprintf(line, sizeof(line),
                     "user %lld: balance %lld but the newest ledger entry ends at %lld",
                     (long long)id, (long long)balance, (long long)last);
        if (line[0] && (rc = report_line(k, line)) != 0) {
            sq_done(st);
            return rc;
        }
    }
    return rc;
}

static int check_sold_seats(checker *k, int64_t now, concert_verify_report *rep)
{
    const char *what = "verify";
    char line[256];
    sqlite3_stmt *st;
    int rc = sq_query(k->c, SQL_SOLD_SEATS, NULL, 0, &st, what);
    if (rc != 0)
        return rc;
    while ((rc = sq_step(k->c, st, what)) == 1) {
        long long sched = sqlite3_column_int64(st, 0), number = sqlite3_column_int64(st, 1);
        long long sold_to = sqlite3_column_int64(st, 2);
        int64_t hold_until = sqlite3_column_int64(st, 3);
        int missing = sqlite3_column_type(st, 4) == SQLITE_NULL;
        int64_t status = sqlite3_column_int64(st, 5);
        int64_t r_sched = sqlite3_column_int64(st, 6), r_number = sqlite3_column_int64(st, 7);
        long long confirmed = sqlite3_column_int64(st, 9), payments = sqlite3_column_int64(st, 10);
        rep->seats_sold++;
        line[0] = '\0';
        if (missing)
            snprintf(line, sizeof(line), "seat %lld/%lld: sold to missing reservation %lld", sched,
                     number, sold_to);
        else if (status != CONCERT_RESERVATION_CONFIRMED || r_sched != sched || r_number != number)
            snprintf(line, sizeof(line),
                     "seat %lld/%lld: sold to reservation %lld, which is not a CONFIRMED "
                     "reservation of this seat",
                     sched, number, sold_to);
        else if (confirmed != 1)
            snprintf(line, sizeof(line), "seat %lld/%lld: %lld CONFIRMED reservations, not 1",
                     sched, number, confirmed);
        else if (payments != 1)
            snprintf(line, sizeof(line),
                     "seat %lld/%lld: %lld payments for reservation %lld, not exactly 1", sched,
                     number, payments, sold_to);
        else if (hold_until > now)
            snprintf(line, sizeof(line), "seat %lld/%lld: sold and under a live hold", sched,
                     number);
        if (line[0] && (rc = report_line(k, line)) != 0) {
            sq_done(st);
            return rc;
        }
    }
    return rc;
}

/* One line per row of sql (a reservation id, its schedule and seat):
 * "reservation R: <status> but seat S/N <problem>". */
static int report_rows(checker *k, const char *sql, const char *status, const char *problem)
{
    const char *what = "verify";
    char line[256];
    sqlite3_stmt *st;
    int rc = sq_query(k->c, sql, NULL, 0, &st, what);
    if (rc != 0)
        return rc;
    while ((rc = sq_step(k->c, st, what)) == 1) {
        snprintf(line, sizeof(line), "reservation %lld: %s but seat %lld/%lld %s",
                 (long long)sqlite3_column_int64(st, 0), status,
                 (long long)sqlite3_column_int64(st, 1), (long long)sqlite3_column_int64(st, 2),
                 problem);
        if ((rc = report_line(k, line)) != 0) {
            sq_done(st);
            return rc;
        }
    }
    return rc;
}

/* Reservations the seat side cannot see: confirmed but not sold to, and
 * released but still pointed at by their seat. */
static int check_orphans(checker *k)
{
    int rc = report_rows(k, SQL_CONFIRMED_UNSOLD, "CONFIRMED", "is not sold to it");
    if (rc < 0)
        return rc;
    return report_rows(k, SQL_RELEASED_HOLDING, "RELEASED", "still points at it");
}

/* Every payment covers at least one reservation, all CONFIRMED and of its
 * user; its amount is the sum of their prices and it names the first. */
static int check_payments(checker *k)
{
    const char *what = "verify";
    char line[256];
    sqlite3_stmt *st;
    int rc = sq_query(k->c, SQL_PAYMENTS, NULL, 0, &st, what);
    if (rc != 0)
        return rc;
    while ((rc = sq_step(k->c, st, what)) == 1) {
        long long id = sqlite3_column_int64(st, 0), named = sqlite3_column_int64(st, 1);
        long long amount = sqlite3_column_int64(st, 2), count = sqlite3_column_int64(st, 3);
        long long sum = sqlite3_column_int64(st, 4), first = sqlite3_column_int64(st, 5);
        long long unconfirmed = sqlite3_column_int64(st, 6), foreign = sqlite3_column_int64(st, 7);
        line[0] = '\0';
        if (count == 0)
            snprintf(line, sizeof(line), "payment %lld: no reservation refers to it", id);
        else if (unconfirmed > 0)
            snprintf(line, sizeof(line), "payment %lld: %lld of its reservations are not CONFIRMED",
                     id, unconfirmed);
        else if (foreign > 0)
            snprintf(line, sizeof(line),
                     "payment %lld: %lld of its reservations belong to another user", id, foreign);
        else if (amount != sum)
            snprintf(line, sizeof(line),
                     "payment %lld: amount %lld but its %lld reservations cost %lld", id, amount,
                     count, sum);
        else if (named != first)
            snprintf(line, sizeof(line),
                     "payment %lld: names reservation %lld, not the first of its order (%lld)", id,
                     named, first);
        if (line[0] && (rc = report_line(k, line)) != 0) {
            sq_done(st);
            return rc;
        }
    }
    return rc;
}

typedef struct queue_row {
    int64_t active, max_active, admit_per_minute, state, opens_at, prequeued, active_cap;
    int64_t last_ticket;
} queue_row;

static int queue_row_read(checker *k, queue_row *r)
{
    const char *what = "verify";
    sqlite3_stmt *st;
    int rc;

    memset(r, 0, sizeof(*r));
    if ((rc = sq_query(k->c, SQL_QUEUE_ROW, NULL, 0, &st, what)) != 0)
        return rc;
    if ((rc = sq_step(k->c, st, what)) <= 0)
        return rc < 0
                   ? rc
                   : concert_sys_error_set(CONCERT_EINTERNAL, "sqlite: queue_state row is missing");
    r->active = sqlite3_column_int64(st, 0);
    r->max_active = sqlite3_column_int64(st, 1);
    r->admit_per_minute = sqlite3_column_int64(st, 2);
    r->state = sqlite3_column_int64(st, 3);
    r->opens_at = sqlite3_column_int64(st, 4);
    r->prequeued = sqlite3_column_int64(st, 5);
    r->active_cap = sqlite3_column_int64(st, 6);
    r->last_ticket = sqlite3_column_int64(st, 7);
    sq_done(st);
    return CONCERT_OK;
}

/* The shared settings must be ones the library could have written. */
static int check_settings(checker *k, const queue_row *r)
{
    char line[256];
    line[0] = '\0';
    if (r->max_active < 1 || r->max_active > CONCERT_MAX_ACTIVE_LIMIT)
        snprintf(line, sizeof(line), "queue: max_active %lld is out of range",
                 (long long)r->max_active);
    else if (r->admit_per_minute < 0 || r->admit_per_minute > CONCERT_ADMIT_PER_MINUTE_LIMIT)
        snprintf(line, sizeof(line), "queue: admit_per_minute %lld is out of range",
                 (long long)r->admit_per_minute);
    else if (r->state < CONCERT_QUEUE_OPEN || r->state > CONCERT_QUEUE_SCHEDULED)
        snprintf(line, sizeof(line), "queue: unknown state %lld", (long long)r->state);
    else if ((r->state == CONCERT_QUEUE_SCHEDULED) != (r->opens_at > 0))
        snprintf(line, sizeof(line), "queue: state %s with opens_at %lld",
                 concert_queue_state_name((int)r->state), (long long)r->opens_at);
    else if (r->active_cap < r->max_active)
        snprintf(line, sizeof(line), "queue: active bound %lld below max_active %lld",
                 (long long)r->active_cap, (long long)r->max_active);
    return line[0] ? report_line(k, line) : CONCERT_OK;
}

/* Pre-queued tokens have no ticket, are never ACTIVE, match the counter,
 * and exist only while SCHEDULED (the step that notices the opening gives
 * them tickets in the same transaction). */
static int check_prequeue(checker *k, const queue_row *r)
{
    const char *what = "verify";
    int64_t rows = 0, active = 0, max_ticket = 0;
    char line[256];
    int rc;

    if ((rc = sq_one_i64(k->c, SQL_COUNT_PREQUEUED, NULL, 0, &rows, what)) < 0 ||
        (rc = sq_one_i64(k->c, SQL_PREQUEUED_NOT_WAITING, NULL, 0, &active, what)) < 0 ||
        (rc = sq_one_i64(k->c, SQL_MAX_TICKET, NULL, 0, &max_ticket, what)) < 0)
        return rc;
    line[0] = '\0';
    if (active > 0)
        snprintf(line, sizeof(line), "queue: %lld tokens are ACTIVE without a ticket",
                 (long long)active);
    else if (rows != r->prequeued)
        snprintf(line, sizeof(line),
                 "queue: the pre-queue counter says %lld but %lld tokens are pre-queued",
                 (long long)r->prequeued, (long long)rows);
    else if (rows > 0 && r->state != CONCERT_QUEUE_SCHEDULED)
        snprintf(line, sizeof(line), "queue: %lld pre-queued tokens but the queue is %s",
                 (long long)rows,
                 concert_queue_state_name((int)r->state) ? concert_queue_state_name((int)r->state)
                                                         : "in an unknown state");
    else if (max_ticket > r->last_ticket)
        snprintf(line, sizeof(line), "queue: ticket %lld is beyond last_ticket %lld",
                 (long long)max_ticket, (long long)r->last_ticket);
    return line[0] ? report_line(k, line) : CONCERT_OK;
}

/* ENDED tokens say when they ended; open ones do not. */
static int check_token_ends(checker *k)
{
    const char *what = "verify";
    int64_t undated = 0, dated = 0;
    char line[256];
    int rc;

    if ((rc = sq_one_i64(k->c, SQL_ENDED_UNDATED, NULL, 0, &undated, what)) < 0 ||
        (rc = sq_one_i64(k->c, SQL_OPEN_DATED, NULL, 0, &dated, what)) < 0)
        return rc;
    line[0] = '\0';
    if (undated > 0)
        snprintf(line, sizeof(line), "tokens: %lld ENDED tokens have no end time",
                 (long long)undated);
    else if (dated > 0)
        snprintf(line, sizeof(line), "tokens: %lld open tokens have an end time", (long long)dated);
    return line[0] ? report_line(k, line) : CONCERT_OK;
}

static int check_queue(checker *k, int64_t now, concert_verify_report *rep)
{
    const char *what = "verify";
    int64_t rows = 0, bound;
    queue_row r;
    char line[256];
    int rc;

    if ((rc = sq_one_i64(k->c, SQL_COUNT_LIVE_ACTIVE, SQ_ARGS(SQ_I(now)), &rep->active_tokens,
                         what)) < 0 ||
        (rc = sq_one_i64(k->c, SQL_COUNT_ACTIVE_ROWS, NULL, 0, &rows, what)) < 0 ||
        (rc = queue_row_read(k, &r)) < 0)
        return rc;
    /* max_active, unless it was lowered below the ACTIVE tokens of that
     * moment, which keep their slots until they end. */
    bound = r.active_cap > r.max_active ? r.active_cap : r.max_active;
    if (rep->active_tokens > bound) {
        snprintf(line, sizeof(line), "queue: %lld tokens are ACTIVE, more than max_active %lld",
                 (long long)rep->active_tokens, (long long)bound);
        if ((rc = report_line(k, line)) != 0)
            return rc;
    }
    if (rows != r.active) {
        snprintf(line, sizeof(line),
                 "queue: the active counter says %lld but %lld tokens are ACTIVE",
                 (long long)r.active, (long long)rows);
        if ((rc = report_line(k, line)) != 0)
            return rc;
    }
    if ((rc = check_settings(k, &r)) != 0)
        return rc;
    if ((rc = check_prequeue(k, &r)) != 0)
        return rc;
    return check_token_ends(k);
}

static int verify_all(checker *k, int64_t now, concert_verify_report *rep)
{
    const char *what = "verify";
    int rc;

    if ((rc = check_users(k, rep)) < 0 || (rc = check_sold_seats(k, now, rep)) < 0 ||
        (rc = check_orphans(k)) < 0 || (rc = check_payments(k)) < 0 ||
        (rc = check_queue(k, now, rep)) < 0)
        return rc;
    if ((rc = sq_one_i64(k->c, SQL_COUNT_LEDGER, NULL, 0, &rep->ledger_entries, what)) < 0 ||
        (rc = sq_one_i64(k->c, SQL_COUNT_SEATS, NULL, 0, &rep->seats, what)) < 0 ||
        (rc = sq_one_i64(k->c, SQL_COUNT_RESERVATIONS, NULL, 0, &rep->reservations, what)) < 0 ||
        (rc = sq_one_i64(k->c, SQL_COUNT_PAYMENTS, NULL, 0, &rep->payments, what)) < 0)
        return rc;
    return CONCERT_OK;
}

int sq_verify(concert_storage *self, const concert_queue_params *params, int64_t now,
              concert_emit_text_fn violation, void *ctx, concert_verify_report *report)
{
    sq_store *s = (sq_store *)self;
    checker k;
    int rc;

    (void)params; /* the limits are the store's own settings */
    report->users = report->ledger_entries = report->seats = report->seats_sold = 0;
    report->reservations = report->payments = report->active_tokens = 0;
    if ((rc = sq_read_begin(s, 1, &k.c, "verify")) != 0)
        return rc;
    k.emit = violation;
    k.ctx = ctx;
    rc = verify_all(&k, now, report);
    return sq_read_end(s, k.c, 1, rc, "verify");
}

#else
typedef int concert_sqlite_verify_compiled_out;
#endif
