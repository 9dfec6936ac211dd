/*
 * SQLite backend: charges, balances, the ledger, and the user list.
 * A charge is one durable BEGIN IMMEDIATE transaction: the credit, its ledger
 * entry and its idempotency record commit together or not at all.
 */
#ifdef CONCERT_HAVE_SQLITE

#include <stdint.h>
#include <string.h>

#include "sqlite_internal.h"

static const char SQL_IDEMPOTENT_CHARGE[] =
    "SELECT fingerprint, balance_after FROM idempotency"
    " WHERE user_id = ?1 AND operation = 'charge' AND key = ?2";
static const char SQL_BALANCE[] = "SELECT balance FROM users WHERE id = ?1";
static const char SQL_CREDIT[] = "UPDATE users SET balance = ?2 WHERE id = ?1";
static const char SQL_LEDGER_CHARGE[] =
    "INSERT INTO ledger (user_id, type, amount, balance_after, at, reservation_id)"
    " VALUES (?1, 1, ?2, ?3, ?4, NULL)";
static const char SQL_IDEMPOTENCY_INSERT[] =
    "INSERT INTO idempotency (user_id, operation, key, fingerprint, payment_id, balance_after,"
    " created_at) VALUES (?1, 'charge', ?2, ?3, NULL, ?4, ?5)";
static const char SQL_USER_EXISTS[] = "SELECT 1 FROM users WHERE id = ?1";
/* A page walks ledger_by_user (user_id, id) backwards from the cursor: time
 * proportional to the page, whatever the length of the history. ?2 is the
 * cursor (INT64_MAX for the newest page), ?3 the page size (-1: all). */
static const char SQL_HISTORY[] =
    "SELECT id, user_id, type, amount, balance_after, at, reservation_id FROM ledger"
    " WHERE user_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3";
static const char SQL_USERS[] = "SELECT id, balance, name FROM users ORDER BY id";

static sq_store *store_of(concert_storage *self)
{
    return (sq_store *)self;
}

static int user_missing(int64_t user_id)
{
    return concert_sys_error_set(CONCERT_EUSER_NOT_FOUND, "user %lld not found",
                                 (long long)user_id);
}

/* 1: a stored result was reported; 0: no record; < 0: error. */
static int charge_replay(sq_conn *c, const concert_charge_request *req, int64_t *balance_out)
{
    const char *what = "charge";
    char fingerprint[128];
    sqlite3_stmt *st;
    int rc;

    if (!req->idempotency_key)
        return 0;
    rc = sq_query(c, SQL_IDEMPOTENT_CHARGE, SQ_ARGS(SQ_I(req->user_id), SQ_T(req->idempotency_key)),
                  &st, what);
    if (rc != 0)
        return rc;
    if ((rc = sq_step(c, st, what)) != 1)
        return rc;
    sq_text_copy(fingerprint, sizeof(fingerprint), st, 0);
    *balance_out = sqlite3_column_int64(st, 1);
    sq_done(st);
    if (strcmp(fingerprint, req->fingerprint ? req->fingerprint : "") != 0)
        return concert_sys_error_set(CONCERT_EIDEMPOTENCY_KEY_REUSED,
                                     "idempotency key reused with another amount");
    return 1;
}

static int charge_step(sq_conn *c, const concert_charge_request *req, int64_t *balance_out)
{
    const char *what = "charge";
    int64_t balance = 0, after;
    int rc;

    if ((rc = charge_replay(c, req, balance_out)) != 0) {
        if (req->replayed)
            *req->replayed = rc == 1;
        return rc < 0 ? rc : CONCERT_OK;
    }
    rc = sq_one_i64(c, SQL_BALANCE, SQ_ARGS(SQ_I(req->user_id)), &balance, what);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return user_missing(req->user_id);
    if (req->amount > req->max_balance - balance)
        return concert_sys_error_set(CONCERT_EINVALID_AMOUNT,
                                     "invalid amount: the balance would pass %lld",
                                     (long long)req->max_balance);
    after = balance + req->amount;
    rc = sq_exec(c, SQL_CREDIT, SQ_ARGS(SQ_I(req->user_id), SQ_I(after)), what);
    if (rc == 0)
        rc = sq_exec(c, SQL_LEDGER_CHARGE,
                     SQ_ARGS(SQ_I(req->user_id), SQ_I(req->amount), SQ_I(after), SQ_I(req->now)),
                     what);
    if (rc == 0 && req->idempotency_key)
        rc = sq_exec(c, SQL_IDEMPOTENCY_INSERT,
                     SQ_ARGS(SQ_I(req->user_id), SQ_T(req->idempotency_key),
                             SQ_T(req->fingerprint ? req->fingerprint : ""), SQ_I(after),
                             SQ_I(req->now)),
                     what);
    if (rc == 0)
        *balance_out = after;
    return rc;
}

int sq_charge(concert_storage *self, const concert_charge_request *req, int64_t *balance_out)
{
    sq_store *s = store_of(self);
    sq_conn *c;
    int64_t balance = 0;
    /* Durable: COMMIT returns only after the WAL is fsynced. */
    int rc;

    if (req->replayed)
        *req->replayed = 0;
    rc = sq_write_begin(s, 1, &c, "charge");
    if (rc != 0)
        return rc;
    rc = charge_step(c, req, &balance);
    if (rc == 0)
        rc = sq_prune_incidental(c, 0, req->now, req->retention_ms, "charge");
    rc = sq_write_end(s, c, rc, "charge");
    if (rc == 0)
        *balance_out = balance;
    return rc;
}

int sq_balance_get(concert_storage *self, int64_t user_id, int64_t *balance_out)
{
    const char *what = "balance_get";
    sq_store *s = store_of(self);
    sq_conn *c;
    int rc;

    if ((rc = sq_read_begin(s, 0, &c, what)) != 0)
        return rc;
    rc = sq_one_i64(c, SQL_BALANCE, SQ_ARGS(SQ_I(user_id)), balance_out, what);
    if (rc == 0)
        rc = user_missing(user_id);
    else if (rc == 1)
        rc = 0;
    return sq_read_end(s, c, 0, rc, what);
}

typedef struct ledger_rows {
    concert_emit_ledger_fn emit;
    void *ctx;
} ledger_rows;

static int ledger_row(void *arg, sqlite3_stmt *st)
{
    ledger_rows *r = arg;
    concert_ledger_entry e;
    memset(&e, 0, sizeof(e));
    e.id = sqlite3_column_int64(st, 0);
    e.user_id = sqlite3_column_int64(st, 1);
    e.type = (int32_t)sqlite3_column_int64(st, 2);
    e.amount = sqlite3_column_int64(st, 3);
    e.balance_after = sqlite3_column_int64(st, 4);
    e.at = sqlite3_column_int64(st, 5);
    e.reservation_id = sqlite3_column_int64(st, 6); /* NULL reads as 0 */
    return r->emit(r->ctx, &e);
}

int sq_history_list(concert_storage *self, int64_t user_id, int64_t before_id, size_t limit,
                    concert_emit_ledger_fn emit, void *ctx)
{
    const char *what = "history_list";
    sq_store *s = store_of(self);
    ledger_rows rows = { emit, ctx };
    int64_t one = 0;
    /* 0 means "no bound" for both; SQLite reads a negative LIMIT as none. */
    const int64_t below = before_id > 0 ? before_id : INT64_MAX;
    const int64_t page = limit > 0 && limit < (size_t)INT64_MAX ? (int64_t)limit : -1;
    sq_conn *c;
    int rc;

    if ((rc = sq_read_begin(s, 1, &c, what)) != 0)
        return rc;
    rc = sq_one_i64(c, SQL_USER_EXISTS, SQ_ARGS(SQ_I(user_id)), &one, what);
    if (rc == 0)
        rc = user_missing(user_id);
    if (rc == 1)
        rc = sq_query_rows(c, SQL_HISTORY, SQ_ARGS(SQ_I(user_id), SQ_I(below), SQ_I(page)),
                           ledger_row, &rows, what);
    return sq_read_end(s, c, 1, rc, what);
}

typedef struct user_rows {
    concert_emit_user_fn emit;
    void *ctx;
} user_rows;

static int user_row(void *arg, sqlite3_stmt *st)
{
    user_rows *r = arg;
    concert_user u;
    memset(&u, 0, sizeof(u));
    u.id = sqlite3_column_int64(st, 0);
    u.balance = sqlite3_column_int64(st, 1);
    sq_text_copy(u.name, sizeof(u.name), st, 2);
    return r->emit(r->ctx, &u);
}

int sq_users_list(concert_storage *self, concert_emit_user_fn emit, void *ctx)
{
    const char *what = "users_list";
    sq_store *s = store_of(self);
    user_rows rows = { emit, ctx };
    sq_conn *c;
    int rc;

    if ((rc = sq_read_begin(s, 0, &c, what)) != 0)
        return rc;
    rc = sq_query_rows(c, SQL_USERS, NULL, 0, user_row, &rows, what);
    return sq_read_end(s, c, 0, rc, what);
}

#else
typedef int concert_sqlite_points_compiled_out;
#endif
