/*
 * SQLite backend: the schema, its version, and migrations.
 *
 * The version lives in PRAGMA user_version and the file is marked with
 * PRAGMA application_id. A fresh file runs every migration in order; an older
 * file runs the ones it lacks; a newer file is refused. All of it happens in
 * one BEGIN IMMEDIATE transaction, so two processes opening a new file at
 * once cannot both create it. docs/storage-sqlite.md documents the result.
 */
#ifdef CONCERT_HAVE_SQLITE

#include <stdio.h>
#include <string.h>

#include "sqlite_internal.h"

/*
 * Version 1: the tables. The database itself guards the invariants: one sale
 * per seat (UNIQUE), balances never negative (CHECK), one idempotency record
 * per (user, operation, key) (PRIMARY KEY), foreign keys everywhere.
 * Business times are plain integers (ms since the epoch, UTC) written from
 * the core's clock; no column defaults to SQL's own notion of now.
 */
static const char MIGRATION_1[] =
    "CREATE TABLE users ("
    "  id      INTEGER PRIMARY KEY CHECK (id >= 1),"
    "  name    TEXT NOT NULL,"
    "  balance INTEGER NOT NULL CHECK (balance >= 0 AND balance <= 9007199254740991)"
    ");"
    "CREATE TABLE concerts ("
    "  id     INTEGER PRIMARY KEY CHECK (id >= 1),"
    "  title  TEXT NOT NULL,"
    "  status INTEGER NOT NULL CHECK (status IN (1, 2, 3))"
    ");"
    "CREATE TABLE schedules ("
    "  id         INTEGER PRIMARY KEY CHECK (id >= 1),"
    "  concert_id INTEGER NOT NULL REFERENCES concerts (id),"
    "  starts_at  INTEGER NOT NULL"
    ");"
    "CREATE INDEX schedules_by_concert ON schedules (concert_id, starts_at, id);"
    /* The primary key is the (schedule_id, number) index seat listing walks. */
    "CREATE TABLE seats ("
    "  schedule_id         INTEGER NOT NULL REFERENCES schedules (id),"
    "  number              INTEGER NOT NULL CHECK (number >= 1),"
    "  grade               TEXT NOT NULL,"
    "  price               INTEGER NOT NULL CHECK (price >= 0),"
    "  hold_reservation_id INTEGER REFERENCES reservations (id),"
    "  hold_until          INTEGER NOT NULL DEFAULT 0,"
    "  sold_reservation_id INTEGER REFERENCES reservations (id),"
    "  PRIMARY KEY (schedule_id, number),"
    "  CHECK (sold_reservation_id IS NULL OR hold_until = 0)"
    ") WITHOUT ROWID;"
    /* A reservation is sold at most one seat. Partial, so that the unsold
     * seats of a big catalog cost nothing to insert. */
    "CREATE UNIQUE INDEX seats_sold_once ON seats (sold_reservation_id)"
    "  WHERE sold_reservation_id IS NOT NULL;"
    "CREATE TABLE reservations ("
    "  id          INTEGER PRIMARY KEY,"
    "  user_id     INTEGER NOT NULL REFERENCES users (id),"
    "  schedule_id INTEGER NOT NULL,"
    "  seat_number INTEGER NOT NULL,"
    "  price       INTEGER NOT NULL CHECK (price >= 0),"
    "  status      INTEGER NOT NULL CHECK (status IN (1, 2)),"
    "  held_until  INTEGER NOT NULL,"
    "  created_at  INTEGER NOT NULL,"
    "  FOREIGN KEY (schedule_id, seat_number) REFERENCES seats (schedule_id, number)"
    ");"
    "CREATE UNIQUE INDEX reservations_one_sale_per_seat"
    "  ON reservations (schedule_id, seat_number) WHERE status = 2;"
    "CREATE TABLE payments ("
    "  id             INTEGER PRIMARY KEY,"
    "  reservation_id INTEGER NOT NULL UNIQUE REFERENCES reservations (id),"
    "  user_id        INTEGER NOT NULL REFERENCES users (id),"
    "  amount         INTEGER NOT NULL CHECK (amount >= 0),"
    "  balance_after  INTEGER NOT NULL CHECK (balance_after >= 0),"
    "  paid_at        INTEGER NOT NULL"
    ");"
    "CREATE TABLE ledger ("
    "  id             INTEGER PRIMARY KEY,"
    "  user_id        INTEGER NOT NULL REFERENCES users (id),"
    "  type           INTEGER NOT NULL CHECK (type IN (1, 2)),"
    "  amount         INTEGER NOT NULL,"
    "  balance_after  INTEGER NOT NULL CHECK (balance_after >= 0),"
    "  at             INTEGER NOT NULL,"
    "  reservation_id INTEGER REFERENCES reservations (id),"
    "  CHECK ((type = 1 AND amount > 0 AND reservation_id IS NULL) OR"
    "         (type = 2 AND amount <= 0 AND reservation_id IS NOT NULL))"
    ");"
    "CREATE TABLE idempotency ("
    "  user_id        INTEGER NOT NULL REFERENCES users (id),"
    "  operation      TEXT NOT NULL CHECK (operation IN ('pay', 'charge')),"
    "  key            TEXT NOT NULL,"
    "  fingerprint    TEXT NOT NULL,"
    "  payment_id     INTEGER REFERENCES payments (id),"
    "  balance_after  INTEGER,"
    "  created_at     INTEGER NOT NULL,"
    "  PRIMARY KEY (user_id, operation, key),"
    "  CHECK ((operation = 'pay' AND payment_id IS NOT NULL) OR"
    "         (operation = 'charge' AND balance_after IS NOT NULL))"
    ") WITHOUT ROWID;"
    /* The queue's counters: one row, so position and admission never count rows. */
    "CREATE TABLE queue_state ("
    "  id                INTEGER PRIMARY KEY CHECK (id = 1),"
    "  last_ticket       INTEGER NOT NULL,"
    "  admitted_through  INTEGER NOT NULL CHECK (admitted_through <= last_ticket),"
    "  active            INTEGER NOT NULL CHECK (active >= 0),"
    "  rate_mps          INTEGER NOT NULL,"
    "  rate_window_start INTEGER NOT NULL,"
    "  rate_window_count INTEGER NOT NULL"
    ");"
    "INSERT INTO queue_state VALUES (1, 0, 0, 0, 0, 0, 0);"
    "CREATE TABLE tokens ("
    "  token      TEXT PRIMARY KEY,"
    "  ticket     INTEGER NOT NULL UNIQUE,"
    "  user_id    INTEGER NOT NULL REFERENCES users (id),"
    "  state      INTEGER NOT NULL CHECK (state IN (1, 2, 3)),"
    "  last_seen  INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    /* At most one WAITING or ACTIVE row per user (a stale one is ended first). */
    "CREATE UNIQUE INDEX tokens_one_open_per_user ON tokens (user_id) WHERE state < 3;";

/*
 * Version 2: indexes for the two scans that grow with the store's history:
 * a user's ledger (newest first) and settling expired ACTIVE tokens at
 * admission (only ACTIVE rows are indexed, so the index stays tiny).
 */
static const char MIGRATION_2[] =
    "CREATE INDEX ledger_by_user ON ledger (user_id, id);"
    "CREATE INDEX tokens_active_by_expiry ON tokens (expires_at) WHERE state = 2;";

/*
 * Version 3: the queue's shared settings and the pre-queue, on the one
 * queue_state row that every queue step already reads and writes:
 *  - max_active, admit_per_minute, state (1 OPEN, 2 PAUSED, 3 CLOSED,
 *    4 SCHEDULED) and opens_at (> 0 exactly when SCHEDULED). The defaults
 *    only satisfy the CHECKs: sq_schema_prepare seeds the real limits from
 *    the options in the same transaction.
 *  - pace_us: the admit_per_minute pacer (concert_sys_admit_budget).
 *  - prequeued: tokens waiting for the opening lottery; prequeue_seq: how
 *    many placeholders were ever handed out. A pre-queued token has no
 *    ticket yet, so its ticket column holds a placeholder -1, -2, ... (in
 *    join order, never reused): tokens.ticket stays NOT NULL UNIQUE, which
 *    spares rebuilding a table of possibly millions of rows, and the ticket
 *    index gives the lottery the pre-queue in join order (ticket < 0).
 *  - active_cap: an upper bound on ACTIVE tokens, for concert_admin_verify. It is
 *    max_active, except after max_active is lowered below the ACTIVE count,
 *    until those tokens drain.
 * Existing rows get the defaults; ALTER TABLE ... ADD COLUMN is O(1).
 */
static const char MIGRATION_3[] =
    "ALTER TABLE queue_state ADD COLUMN max_active INTEGER NOT NULL DEFAULT 1"
    "  CHECK (max_active BETWEEN 1 AND 100000000);"
    "ALTER TABLE queue_state ADD COLUMN admit_per_minute INTEGER NOT NULL DEFAULT 0"
    "  CHECK (admit_per_minute BETWEEN 0 AND 6000000);"
    "ALTER TABLE queue_state ADD COLUMN state INTEGER NOT NULL DEFAULT 1"
    "  CHECK (state IN (1, 2, 3, 4));"
    "ALTER TABLE queue_state ADD COLUMN opens_at INTEGER NOT NULL DEFAULT 0"
    "  CHECK ((state = 4) = (opens_at > 0));"
    "ALTER TABLE queue_state ADD COLUMN pace_us INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE queue_state ADD COLUMN prequeued INTEGER NOT NULL DEFAULT 0"
    "  CHECK (prequeued >= 0);"
    "ALTER TABLE queue_state ADD COLUMN prequeue_seq INTEGER NOT NULL DEFAULT 0"
    "  CHECK (prequeue_seq >= prequeued);"
    "ALTER TABLE queue_state ADD COLUMN active_cap INTEGER NOT NULL DEFAULT 1"
    "  CHECK (active_cap >= max_active);";

/*
 * Version 4 (issue 11): orders, releasing a hold, per-buyer limits.
 *  - reservations is rebuilt (SQLite cannot change a CHECK in place): status
 *    may be 4 (RELEASED), and payment_id names the payment of a CONFIRMED
 *    reservation, since one payment may now cover several (an order). The
 *    payment of an existing CONFIRMED reservation is the one whose
 *    reservation_id is it: before version 4 every payment covered exactly
 *    one. The guard is one-sided (a reservation that is not CONFIRMED never
 *    names a payment) so that the copy can never fail on an old store's
 *    data; concert_admin_verify checks the other side (CONFIRMED names exactly
 *    one payment, a payment's amount is the sum of its reservations').
 *    Ids are kept, so every reference to a reservation stays valid. This is
 *    the one migration that copies a table: O(reservations), once.
 *  - reservations_by_user (user_id, status, held_until): the per-buyer
 *    limits count a user's live HELD (a range on held_until) and CONFIRMED
 *    reservations inside the hold's write transaction, in time proportional
 *    to that user's reservations, not the store's.
 *  - reservations_by_payment: an order's reservations, for verify and for
 *    reading a payment back.
 *  - concerts.max_per_user: the catalog's per-concert limit (0: none).
 * sq_schema_prepare runs it with foreign_keys off (SQLite's documented way
 * to rebuild a table that others refer to; the rename must not rewrite or
 * check their references) and foreign_key_check before the commit.
 */
static const char MIGRATION_4[] =
    "CREATE TABLE reservations_v4 ("
    "  id          INTEGER PRIMARY KEY,"
    "  user_id     INTEGER NOT NULL REFERENCES users (id),"
    "  schedule_id INTEGER NOT NULL,"
    "  seat_number INTEGER NOT NULL,"
    "  price       INTEGER NOT NULL CHECK (price >= 0),"
    "  status      INTEGER NOT NULL CHECK (status IN (1, 2, 4)),"
    "  held_until  INTEGER NOT NULL,"
    "  created_at  INTEGER NOT NULL,"
    "  payment_id  INTEGER REFERENCES payments (id),"
    "  FOREIGN KEY (schedule_id, seat_number) REFERENCES seats (schedule_id, number),"
    "  CHECK (payment_id IS NULL OR status = 2)"
    ");"
    "INSERT INTO reservations_v4 (id, user_id, schedule_id, seat_number, price, status,"
    "  held_until, created_at, payment_id)"
    " SELECT r.id, r.user_id, r.schedule_id, r.seat_number, r.price, r.status, r.held_until,"
    "  r.created_at,"
    "  CASE WHEN r.status = 2 THEN (SELECT p.id FROM payments p WHERE p.reservation_id = r.id)"
    "  END"
    " FROM reservations r ORDER BY r.id;"
    "DROP TABLE reservations;"
    "ALTER TABLE reservations_v4 RENAME TO reservations;"
    "CREATE UNIQUE INDEX reservations_one_sale_per_seat"
    "  ON reservations (schedule_id, seat_number) WHERE status = 2;"
    "CREATE INDEX reservations_by_user ON reservations (user_id, status, held_until);"
    "CREATE INDEX reservations_by_payment ON reservations (payment_id)"
    "  WHERE payment_id IS NOT NULL;"
    "ALTER TABLE concerts ADD COLUMN max_per_user INTEGER NOT NULL DEFAULT 0"
    "  CHECK (max_per_user >= 0);";

/*
 * Version 5 (issue 12): list versions and retention.
 *  - store_identity.epoch: a random identity of this store's history
 *    (created with the file, or by this migration), so that a server's
 *    cached list from another file, whose counters may repeat, never
 *    matches a version of this one.
 *  - schedules.changes: bumped in the transaction of every hold, release
 *    and sale of one of its seats (SQLite serialises writers, so the bump
 *    costs one row write and no contention). list_version reads it.
 *  - seats_held_by_expiry (schedule_id, hold_until) WHERE hold_until > 0:
 *    the seats under a hold (live or run out; a sale or a release sets
 *    hold_until to 0). The latest hold_until <= now of a schedule is one
 *    probe of it, which tells a hold's expiry without a scan or a write.
 *    Partial, so that unsold, unheld seats (a catalog's bulk) cost nothing
 *    and the listing's plans cannot pick it.
 *  - tokens.ended_at: the instant an ENDED token stopped being live (the
 *    payment's or the leave's now, expires_at for one that ran out,
 *    last_seen + wait_ttl for one that idled); 0 while it is open. Tokens
 *    ended before this version get a bound that is never early (see
 *    SQL_LEGACY_ENDED_AT). tokens_ended_by_time and tokens_waiting_by_seen
 *    let retention find what is due oldest first, in time proportional to
 *    what it deletes.
 *  - idempotency_by_age (created_at): the same for idempotency records.
 */
static const char MIGRATION_5[] =
    "CREATE TABLE store_identity ("
    "  id    INTEGER PRIMARY KEY CHECK (id = 1),"
    "  epoch INTEGER NOT NULL"
    ");"
    "INSERT INTO store_identity VALUES (1, random());"
    "ALTER TABLE schedules ADD COLUMN changes INTEGER NOT NULL DEFAULT 0"
    "  CHECK (changes >= 0);"
    "CREATE INDEX seats_held_by_expiry ON seats (schedule_id, hold_until)"
    "  WHERE hold_until > 0;"
    "ALTER TABLE tokens ADD COLUMN ended_at INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX tokens_ended_by_time ON tokens (ended_at) WHERE state = 3;"
    "CREATE INDEX tokens_waiting_by_seen ON tokens (last_seen) WHERE state = 1;"
    "CREATE INDEX idempotency_by_age ON idempotency (created_at);";

/*
 * Version 6 (issue 15): tokens.paid_reservation_id, the first reservation of
 * the payment that ended the token (0: none, or ended before this version),
 * so that a second use of a spent token can say which payment used it.
 * ADD COLUMN with a constant default is O(1).
 */
static const char MIGRATION_6[] =
    "ALTER TABLE tokens ADD COLUMN paid_reservation_id INTEGER NOT NULL DEFAULT 0;";

static const char *const MIGRATIONS[SQ_SCHEMA_VERSION] = { MIGRATION_1, MIGRATION_2, MIGRATION_3,
                                                           MIGRATION_4, MIGRATION_5, MIGRATION_6 };

/* The version that records when a token ended. */
#define SQ_RETENTION_VERSION 5
/* Tokens a version-4 store had ended: when is not known. The latest
 * instant it can have been is expires_at for one that was ever ACTIVE
 * (paid, left or run out before it) and last_seen + wait_ttl for one that
 * was WAITING (left or idled before it): never early, so retention keeps
 * them at least as long as it would have. ?1 is wait_ttl. */
static const char SQL_LEGACY_ENDED_AT[] =
    "UPDATE tokens SET ended_at = max(expires_at, last_seen + ?1, 1) WHERE state = 3";

/* The first version whose queue_state holds settings: a file older than it
 * gets them from the options when it migrates. */
#define SQ_SETTINGS_VERSION 3
static const char SQL_SEED_SETTINGS[] =
    "UPDATE queue_state SET max_active = ?1, admit_per_minute = ?2, active_cap = ?1"
    " WHERE id = 1";

static const char SQL_USER_VERSION[] = "PRAGMA user_version";
static const char SQL_APPLICATION_ID[] = "PRAGMA application_id";
/* The version that rebuilt reservations (orders, RELEASED). */
#define SQ_ORDERS_VERSION 4
static const char SQL_FOREIGN_KEY_CHECK[] = "PRAGMA foreign_key_check(reservations)";
static const char SQL_OBJECT_COUNT[] =
    "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'";

static int exec_script(sq_conn *c, const char *sql, const char *what)
{
    char *err = NULL;
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, &err);
    sqlite3_free(err); /* sqlite3_errmsg() still holds the same text */
    return rc == SQLITE_OK ? CONCERT_OK : sq_error(c, rc, what);
}

static int wal_enable(sq_conn *c, const char *path)
{
    sqlite3_stmt *st = NULL;
    char mode[16] = "";
    int rc = sqlite3_prepare_v2(c->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            sq_text_copy(mode, sizeof(mode), st, 0);
            rc = SQLITE_OK;
        }
    }
    if (rc != SQLITE_OK) {
        rc = sq_error(c, rc, path);
        sqlite3_finalize(st);
        return rc;
    }
    sqlite3_finalize(st);
    if (strcmp(mode, "wal") != 0)
        return concert_sys_error_set(CONCERT_ESTORAGE,
                                     "sqlite: %s cannot use WAL mode (journal mode stays \"%s\"); "
                                     "use a file on a local disk",
                                     path, mode);
    return CONCERT_OK;
}

/* Decide what the file is, then bring it to SQ_SCHEMA_VERSION. Runs inside
 * the BEGIN IMMEDIATE transaction. */
static int schema_upgrade(sq_conn *c, const char *path, const concert_queue_settings *seed,
                          int64_t wait_ttl_ms)
{
    int64_t version = 0, app_id = 0, objects = 0, dangling = 0;
    char pragma[64];
    int rc;

    if ((rc = sq_one_i64(c, SQL_USER_VERSION, NULL, 0, &version, path)) < 0 ||
        (rc = sq_one_i64(c, SQL_APPLICATION_ID, NULL, 0, &app_id, path)) < 0 ||
        (rc = sq_one_i64(c, SQL_OBJECT_COUNT, NULL, 0, &objects, path)) < 0)
        return rc;
    if (app_id != 0 && app_id != SQ_APPLICATION_ID)
        return concert_sys_error_set(CONCERT_ESTORAGE,
                                     "sqlite: %s belongs to another application "
                                     "(application_id %lld), not libconcert",
                                     path, (long long)app_id);
    if (version == 0 && objects > 0)
        return concert_sys_error_set(CONCERT_ESTORAGE,
                                     "sqlite: %s is an SQLite database but not a libconcert "
                                     "store (it has tables and no libconcert schema version)",
                                     path);
    if (version > SQ_SCHEMA_VERSION)
        return concert_sys_error_set(CONCERT_ESCHEMA,
                                     "sqlite: %s has schema version %lld, written by a newer "
                                     "libconcert; this one (%s) knows versions up to %d: "
                                     "upgrade libconcert to open it",
                                     path, (long long)version, concert_version_string(),
                                     SQ_SCHEMA_VERSION);
    if (version < 0)
        return concert_sys_error_set(CONCERT_ESTORAGE,
                                     "sqlite: %s has an impossible schema version %lld", path,
                                     (long long)version);
    for (int64_t v = version; v < SQ_SCHEMA_VERSION; v++) {
        if ((rc = exec_script(c, MIGRATIONS[v], path)) != 0)
            return rc;
    }
    /* Foreign keys were off for the rebuild: prove that the copy refers only
     * to rows that exist (a row here means the migration is wrong; nothing
     * is committed). Ids were kept, so what refers to reservations is as
     * valid as before; the check stays on the rebuilt table, O(its rows). */
    if (version < SQ_ORDERS_VERSION &&
        (rc = sq_one_i64(c, SQL_FOREIGN_KEY_CHECK, NULL, 0, &dangling, path)) < 0)
        return rc;
    if (version < SQ_ORDERS_VERSION && rc == 1)
        return concert_sys_error_set(CONCERT_ESCHEMA,
                                     "sqlite: %s: cannot migrate to schema version %d: its "
                                     "reservations refer to rows that do not exist (PRAGMA "
                                     "foreign_key_check(reservations)); the file was left as "
                                     "it was",
                                     path, SQ_SCHEMA_VERSION);
    if (version < SQ_RETENTION_VERSION &&
        (rc = sq_exec(c, SQL_LEGACY_ENDED_AT, SQ_ARGS(SQ_I(wait_ttl_ms)), path)) != 0)
        return rc;
    /* Only a store that had no settings gets the options' limits. */
    if (version < SQ_SETTINGS_VERSION &&
        (rc = sq_exec(c, SQL_SEED_SETTINGS,
                      SQ_ARGS(SQ_I(seed->max_active), SQ_I(seed->admit_per_minute)), path)) != 0)
        return rc;
    if (version == SQ_SCHEMA_VERSION && app_id == SQ_APPLICATION_ID)
        return CONCERT_OK;
    /* PRAGMAs take no parameters; both values are this file's constants. */
    snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", SQ_SCHEMA_VERSION);
    if ((rc = exec_script(c, pragma, path)) != 0)
        return rc;
    snprintf(pragma, sizeof(pragma), "PRAGMA application_id = %d", SQ_APPLICATION_ID);
    return exec_script(c, pragma, path);
}

/* 1 when the file is already a current libconcert store: the common case,
 * decided without taking the write lock that running writers hold. */
static int schema_current(sq_conn *c, const char *path)
{
    int64_t version = 0, app_id = 0;
    int rc;
    if ((rc = sq_one_i64(c, SQL_USER_VERSION, NULL, 0, &version, path)) < 0 ||
        (rc = sq_one_i64(c, SQL_APPLICATION_ID, NULL, 0, &app_id, path)) < 0)
        return rc;
    return version == SQ_SCHEMA_VERSION && app_id == SQ_APPLICATION_ID;
}

int sq_schema_prepare(sq_conn *c, const char *path, const concert_queue_settings *seed,
                      int64_t wait_ttl_ms)
{
    int rc;

    if ((rc = wal_enable(c, path)) != 0)
        return rc;
    if ((rc = schema_current(c, path)) != 0)
        return rc < 0 ? rc : CONCERT_OK;
    /* The schema is written at most once per file, durably. Foreign keys
     * are off while a migration rebuilds a table (they can only be switched
     * outside a transaction); foreign_key_check stands in for them. */
    if ((rc = exec_script(c, "PRAGMA synchronous = FULL", path)) != 0 ||
        (rc = exec_script(c, "PRAGMA foreign_keys = OFF", path)) != 0)
        return rc;
    /* Decided again under the lock: another process may have just done it. */
    if ((rc = exec_script(c, "BEGIN IMMEDIATE", path)) == 0) {
        rc = schema_upgrade(c, path, seed, wait_ttl_ms);
        if (rc == 0)
            rc = exec_script(c, "COMMIT", path);
        if (rc != 0 && !sqlite3_get_autocommit(c->db))
            sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    }
    /* Back on whatever happened: every later step relies on them. */
    if (sqlite3_exec(c->db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL) != SQLITE_OK && rc == 0)
        rc = sq_error(c, sqlite3_errcode(c->db), path);
    if (rc == 0)
        rc = exec_script(c, "PRAGMA synchronous = NORMAL", path);
    c->durable = 0;
    return rc;
}

#else
typedef int concert_sqlite_schema_compiled_out;
#endif
