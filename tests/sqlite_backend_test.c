/*
 * SQLite backend: what the shared behaviour suite cannot see. The schema and
 * its versions, reopening, durability across kill -9, read-only and full
 * disks, a busy store, two handles on one file, and a big catalog.
 * Run with ctest (registered in tests/sqlite.cmake).
 */
#define _DEFAULT_SOURCE /* mkdtemp, setgroups */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <concert/concert.h>
#include <concert/sys/storage.h>

#define T0 INT64_C(1800000000000)
#define DAY INT64_C(86400000)

static _Atomic int64_t fake_now = T0;
static char dir[256];
static char path[320];
static char uri[340];

static int64_t fake_clock(void *ctx)
{
    (void)ctx;
    return atomic_load(&fake_now);
}

static concert_options options(void)
{
    concert_options o;
    concert_options_init(&o, CONCERT_OPTIONS_VERSION);
    o.clock = fake_clock;
    return o;
}

static void make_dir(void)
{
    const char *tmp = getenv("TMPDIR");
    atomic_store(&fake_now, T0);
    snprintf(dir, sizeof(dir), "%s/concert-sqlite-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    cr_assert(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
    snprintf(path, sizeof(path), "%s/store.db", dir);
    snprintf(uri, sizeof(uri), "sqlite:%s", path);
}

/* A store name that SQLite would read as a URI if it were given as is. */
#define URI_LOOKALIKE "file:store.db?mode=memory&nolock=1"

static void remove_dir(void)
{
    static const char *const SUFFIXES[] = { "", "-wal", "-shm", "-journal" };
    char p[400];
    chmod(dir, 0700);
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof(p), "%s%s", path, SUFFIXES[i]);
        unlink(p);
        snprintf(p, sizeof(p), "%s/%s%s", dir, URI_LOOKALIKE, SUFFIXES[i]);
        unlink(p);
    }
    rmdir(dir);
}

TestSuite(sqlite, .init = make_dir, .fini = remove_dir, .timeout = 120);

static concert_db *open_store(void)
{
    concert_options o = options();
    concert_db *db = NULL;
    int rc = concert_db_open(&db, uri, &o);
    cr_assert_eq(rc, 0, "concert_db_open(%s): %s", uri, concert_error_last()->message);
    cr_assert_str_eq(concert_db_backend_name(db), "sqlite");
    return db;
}

static void load_small_catalog(concert_db *db)
{
    const concert_catalog_user users[] = { { 1, "Kim", 100000 },
                                           { 2, "Lee", 0 },
                                           { 3, "Park", 50000 } };
    const concert_catalog_seat_range seats[] = { { 1, 10, "VIP", 1000 } };
    const concert_catalog_schedule schedules[] = { { 10, T0 + DAY, seats, 1 },
                                                   { 11, T0 + 2 * DAY, seats, 1 } };
    const concert_catalog_concert concerts[] = { { 1, "Winter Gala", CONCERT_STATUS_OPEN, 0,
                                                   schedules, 2 } };
    const concert_catalog cat = { CONCERT_CATALOG_VERSION, users, 3, concerts, 1 };
    int rc = concert_catalog_load(db, &cat);
    cr_assert_eq(rc, 0, "catalog: %s", concert_error_last()->message);
}

/* Open the file directly, bypassing libconcert, to look at what it wrote. */
static sqlite3 *raw_open(void)
{
    sqlite3 *raw = NULL;
    cr_assert_eq(sqlite3_open(path, &raw), SQLITE_OK);
    return raw;
}

static int64_t raw_int(sqlite3 *raw, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    cr_assert_eq(sqlite3_prepare_v2(raw, sql, -1, &st, NULL), SQLITE_OK, "%s: %s", sql,
                 sqlite3_errmsg(raw));
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void raw_exec(sqlite3 *raw, const char *sql)
{
    char *err = NULL;
    int rc = sqlite3_exec(raw, sql, NULL, NULL, &err);
    cr_assert_eq(rc, SQLITE_OK, "%s: %s", sql, err ? err : "");
}

static void expect_verify_clean(concert_db *db)
{
    concert_verify_report *rep = NULL;
    int rc = concert_admin_verify(&rep, db);
    cr_assert_eq(rc, 0, "verify: %s", concert_error_last()->message);
    cr_assert_eq(rep->violation_count, 0, "violation: %s",
                 rep->violation_count ? rep->violations[0] : "");
    concert_verify_report_free(rep);
}

static void expect_integrity_ok(void)
{
    sqlite3 *raw = raw_open();
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_prepare_v2(raw, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_str_eq((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    cr_assert_eq(raw_int(raw, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
    sqlite3_close(raw);
}

Test(sqlite, first_open_creates_a_versioned_wal_schema)
{
    concert_db *db = open_store();
    sqlite3 *raw;
    char mode[16] = "";
    sqlite3_stmt *st;

    concert_db_close(db);
    raw = raw_open();
    cr_assert_eq(raw_int(raw, "PRAGMA user_version"), 6);
    cr_assert_eq(raw_int(raw, "PRAGMA application_id"), 0x434E4354);
    cr_assert_eq(sqlite3_prepare_v2(raw, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    snprintf(mode, sizeof(mode), "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    cr_assert_str_eq(mode, "wal");
    cr_assert_eq(raw_int(raw, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN "
                              "('users','concerts','schedules','seats','reservations','payments',"
                              "'ledger','idempotency','queue_state','tokens')"),
                 10);
    cr_assert_eq(raw_int(raw, "SELECT count(*) FROM queue_state"), 1);
    cr_assert_eq(raw_int(raw, "SELECT max_active FROM queue_state"), 1000,
                 "a new store takes the options' (default) limits");
    cr_assert_eq(raw_int(raw, "SELECT state FROM queue_state"), CONCERT_QUEUE_OPEN);
    sqlite3_close(raw);
}

Test(sqlite, the_database_itself_refuses_broken_invariants)
{
    concert_db *db = open_store();
    sqlite3 *raw;
    load_small_catalog(db);
    concert_db_close(db);
    raw = raw_open();
    raw_exec(raw, "PRAGMA foreign_keys = ON");
    /* Negative balance, a second sale of a seat, a dangling reference, a
     * second idempotency record: each refused by the schema, not the code. */
    cr_assert_neq(sqlite3_exec(raw, "UPDATE users SET balance = -1 WHERE id = 1", 0, 0, 0),
                  SQLITE_OK);
    raw_exec(raw, "INSERT INTO reservations VALUES (1, 1, 10, 1, 1000, 2, 0, 0, NULL)");
    cr_assert_neq(sqlite3_exec(raw,
                               "INSERT INTO reservations VALUES (2, 3, 10, 1, 1000, 2, 0, 0, NULL)",
                               0, 0, 0),
                  SQLITE_OK, "two CONFIRMED reservations of one seat");
    cr_assert_neq(sqlite3_exec(raw,
                               "INSERT INTO reservations VALUES (3, 99, 10, 1, 1, 1, 0, 0, NULL)",
                               0, 0, 0),
                  SQLITE_OK, "a reservation of a user who does not exist");
    /* Schema 4: EXPIRED is derived, never stored; only a CONFIRMED
     * reservation names a payment; a concert's limit is never negative. */
    cr_assert_neq(sqlite3_exec(raw,
                               "INSERT INTO reservations VALUES (4, 1, 10, 2, 1, 3, 0, 0, NULL)", 0,
                               0, 0),
                  SQLITE_OK, "status EXPIRED stored");
    raw_exec(raw, "INSERT INTO reservations VALUES (5, 1, 10, 3, 1, 4, 0, 0, NULL)");
    raw_exec(raw, "INSERT INTO payments VALUES (1, 1, 1, 1000, 99000, 0)");
    cr_assert_neq(sqlite3_exec(raw, "UPDATE reservations SET payment_id = 1 WHERE id = 5", 0, 0, 0),
                  SQLITE_OK, "a RELEASED reservation naming a payment");
    cr_assert_neq(sqlite3_exec(raw, "UPDATE concerts SET max_per_user = -1", 0, 0, 0), SQLITE_OK,
                  "a negative per-buyer limit");
    raw_exec(raw, "INSERT INTO idempotency VALUES (1, 'charge', 'k', 'amount=1', NULL, 1, 0)");
    cr_assert_neq(sqlite3_exec(raw,
                               "INSERT INTO idempotency VALUES (1, 'charge', 'k', 'x', NULL, 2, 0)",
                               0, 0, 0),
                  SQLITE_OK);
    cr_assert_neq(sqlite3_exec(raw,
                               "UPDATE seats SET sold_reservation_id = 1, hold_until = 5 "
                               "WHERE schedule_id = 10 AND number = 1",
                               0, 0, 0),
                  SQLITE_OK, "sold and held at once");
    sqlite3_close(raw);
}

Test(sqlite, reopening_keeps_every_effect)
{
    concert_db *db = open_store();
    concert_token_info t;
    concert_reservation r, again;
    concert_payment p;
    concert_seat_list *seats = NULL;
    concert_ledger_list *h = NULL;
    int64_t bal;

    load_small_catalog(db);
    cr_assert_eq(concert_charge_points(&bal, db, 2, 5000, "topup"), 0);
    cr_assert_eq(concert_queue_issue(&t, db, 2), 0);
    cr_assert_eq(concert_reserve_seat(&r, db, t.token, 10, 4), 0);
    cr_assert_eq(concert_pay(&p, db, t.token, r.id, "order-1"), 0);
    concert_db_close(db);

    db = open_store();
    cr_assert_eq(concert_points_balance_get(&bal, db, 2), 0);
    cr_assert_eq(bal, 4000);
    cr_assert_eq(concert_ledger_list_get(&h, db, 2), 0);
    cr_assert_eq(h->count, 2);
    concert_ledger_list_free(h);
    /* The idempotency records survived too. */
    cr_assert_eq(concert_charge_points(&bal, db, 2, 5000, "topup"), 0);
    cr_assert_eq(bal, 5000, "a replay reports the original result");
    cr_assert_eq(concert_points_balance_get(&bal, db, 2), 0);
    cr_assert_eq(bal, 4000, "and charges nothing");
    cr_assert_eq(concert_queue_issue(&t, db, 2), 0);
    cr_assert_eq(t.is_new, 1, "the paid token stayed ended");
    cr_assert_eq(concert_reservation_get(&again, db, t.token, r.id), 0);
    cr_assert_eq(again.status, CONCERT_RESERVATION_CONFIRMED);
    cr_assert_eq(concert_seats_available(&seats, db, t.token, 10), 0);
    cr_assert_eq(seats->count, 9);
    concert_seat_list_free(seats);
    expect_verify_clean(db);
    concert_db_close(db);
}

/* The version-1 layout, frozen here as an old libconcert wrote it. */
static const char V1_SCHEMA[] =
    "CREATE TABLE users (id INTEGER PRIMARY KEY CHECK (id >= 1), name TEXT NOT NULL,"
    "  balance INTEGER NOT NULL CHECK (balance >= 0 AND balance <= 9007199254740991));"
    "CREATE TABLE concerts (id INTEGER PRIMARY KEY CHECK (id >= 1), title TEXT NOT NULL,"
    "  status INTEGER NOT NULL CHECK (status IN (1, 2, 3)));"
    "CREATE TABLE schedules (id INTEGER PRIMARY KEY CHECK (id >= 1),"
    "  concert_id INTEGER NOT NULL REFERENCES concerts (id), starts_at INTEGER NOT NULL);"
    "CREATE INDEX schedules_by_concert ON schedules (concert_id, starts_at, id);"
    "CREATE TABLE seats (schedule_id INTEGER NOT NULL REFERENCES schedules (id),"
    "  number INTEGER NOT NULL CHECK (number >= 1), grade TEXT NOT NULL,"
    "  price INTEGER NOT NULL CHECK (price >= 0),"
    "  hold_reservation_id INTEGER REFERENCES reservations (id),"
    "  hold_until INTEGER NOT NULL DEFAULT 0,"
    "  sold_reservation_id INTEGER REFERENCES reservations (id),"
    "  PRIMARY KEY (schedule_id, number),"
    "  CHECK (sold_reservation_id IS NULL OR hold_until = 0)) WITHOUT ROWID;"
    "CREATE UNIQUE INDEX seats_sold_once ON seats (sold_reservation_id)"
    "  WHERE sold_reservation_id IS NOT NULL;"
    "CREATE TABLE reservations (id INTEGER PRIMARY KEY,"
    "  user_id INTEGER NOT NULL REFERENCES users (id), schedule_id INTEGER NOT NULL,"
    "  seat_number INTEGER NOT NULL, price INTEGER NOT NULL CHECK (price >= 0),"
    "  status INTEGER NOT NULL CHECK (status IN (1, 2)), held_until INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  FOREIGN KEY (schedule_id, seat_number) REFERENCES seats (schedule_id, number));"
    "CREATE UNIQUE INDEX reservations_one_sale_per_seat"
    "  ON reservations (schedule_id, seat_number) WHERE status = 2;"
    "CREATE TABLE payments (id INTEGER PRIMARY KEY,"
    "  reservation_id INTEGER NOT NULL UNIQUE REFERENCES reservations (id),"
    "  user_id INTEGER NOT NULL REFERENCES users (id),"
    "  amount INTEGER NOT NULL CHECK (amount >= 0),"
    "  balance_after INTEGER NOT NULL CHECK (balance_after >= 0), paid_at INTEGER NOT NULL);"
    "CREATE TABLE ledger (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users (id),"
    "  type INTEGER NOT NULL CHECK (type IN (1, 2)), amount INTEGER NOT NULL,"
    "  balance_after INTEGER NOT NULL CHECK (balance_after >= 0), at INTEGER NOT NULL,"
    "  reservation_id INTEGER REFERENCES reservations (id),"
    "  CHECK ((type = 1 AND amount > 0 AND reservation_id IS NULL) OR"
    "         (type = 2 AND amount <= 0 AND reservation_id IS NOT NULL)));"
    "CREATE TABLE idempotency (user_id INTEGER NOT NULL REFERENCES users (id),"
    "  operation TEXT NOT NULL CHECK (operation IN ('pay', 'charge')), key TEXT NOT NULL,"
    "  fingerprint TEXT NOT NULL, payment_id INTEGER REFERENCES payments (id),"
    "  balance_after INTEGER, created_at INTEGER NOT NULL,"
    "  PRIMARY KEY (user_id, operation, key),"
    "  CHECK ((operation = 'pay' AND payment_id IS NOT NULL) OR"
    "         (operation = 'charge' AND balance_after IS NOT NULL))) WITHOUT ROWID;"
    "CREATE TABLE queue_state (id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  last_ticket INTEGER NOT NULL,"
    "  admitted_through INTEGER NOT NULL CHECK (admitted_through <= last_ticket),"
    "  active INTEGER NOT NULL CHECK (active >= 0), rate_mps INTEGER NOT NULL,"
    "  rate_window_start INTEGER NOT NULL, rate_window_count INTEGER NOT NULL);"
    "INSERT INTO queue_state VALUES (1, 0, 0, 0, 0, 0, 0);"
    "CREATE TABLE tokens (token TEXT PRIMARY KEY, ticket INTEGER NOT NULL UNIQUE,"
    "  user_id INTEGER NOT NULL REFERENCES users (id),"
    "  state INTEGER NOT NULL CHECK (state IN (1, 2, 3)), last_seen INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE UNIQUE INDEX tokens_one_open_per_user ON tokens (user_id) WHERE state < 3;"
    "PRAGMA application_id = 1129202516;"
    "PRAGMA user_version = 1;";

Test(sqlite, an_older_schema_migrates_forward_and_keeps_its_data)
{
    sqlite3 *raw = raw_open();
    concert_db *db;
    concert_token_info t;
    int64_t bal;

    raw_exec(raw, V1_SCHEMA);
    raw_exec(raw, "INSERT INTO users VALUES (7, 'Old Timer', 1234);"
                  "INSERT INTO ledger (user_id, type, amount, balance_after, at)"
                  "  VALUES (7, 1, 1234, 1234, 1000);");
    cr_assert_eq(raw_int(raw, "SELECT count(*) FROM sqlite_master WHERE name = 'ledger_by_user'"),
                 0);
    sqlite3_close(raw);

    db = open_store();
    cr_assert_eq(concert_points_balance_get(&bal, db, 7), 0);
    cr_assert_eq(bal, 1234);
    cr_assert_eq(concert_charge_points(&bal, db, 7, 6, NULL), 0);
    cr_assert_eq(bal, 1240);
    cr_assert_eq(concert_queue_issue(&t, db, 7), 0);
    cr_assert_eq(t.state, CONCERT_TOKEN_ACTIVE);
    expect_verify_clean(db);
    concert_db_close(db);

    raw = raw_open();
    cr_assert_eq(raw_int(raw, "PRAGMA user_version"), 6);
    cr_assert_eq(raw_int(raw, "SELECT count(*) FROM sqlite_master WHERE name IN "
                              "('ledger_by_user', 'tokens_active_by_expiry', "
                              "'reservations_by_user')"),
                 3);
    sqlite3_close(raw);
}

/* What version 2 added, applied to V1_SCHEMA: a store as libconcert 0.1 left it. */
static const char V2_EXTRA[] =
    "CREATE INDEX ledger_by_user ON ledger (user_id, id);"
    "CREATE INDEX tokens_active_by_expiry ON tokens (expires_at) WHERE state = 2;"
    "PRAGMA user_version = 2;";

#define TOKEN_A "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define TOKEN_B "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"

static concert_db *open_with_limits(int64_t max_active, int64_t admit_per_minute)
{
    concert_options o = options();
    concert_db *db = NULL;
    o.max_active = max_active;
    o.admit_per_minute = admit_per_minute;
    o.queue_refresh_ms = 0; /* every call reaches the store: this tests the store */
    cr_assert_eq(concert_db_open(&db, uri, &o), 0, "%s", concert_error_last()->message);
    return db;
}

static concert_queue_stats stats_of(concert_db *db)
{
    concert_queue_stats st;
    cr_assert_eq(concert_queue_stats_get(&st, db), 0, "%s", concert_error_last()->message);
    return st;
}

/* Schema 3 puts the queue settings in the store: a version-2 file keeps its
 * line and gets the options' limits once; later opens never change them. */
Test(sqlite, a_version_2_store_keeps_its_line_and_takes_the_options_limits_once)
{
    sqlite3 *raw = raw_open();
    concert_db *db;
    concert_token_info t, c;
    concert_queue_stats st;

    raw_exec(raw, V1_SCHEMA);
    raw_exec(raw, V2_EXTRA);
    raw_exec(raw, "INSERT INTO users VALUES (7, 'A', 0), (8, 'B', 0), (9, 'C', 0);"
                  "INSERT INTO tokens VALUES ('" TOKEN_A "', 1, 7, 2, 1800000000000,"
                  "  1800000600000);"
                  "INSERT INTO tokens VALUES ('" TOKEN_B "', 2, 8, 1, 1800000000000, 0);"
                  "UPDATE queue_state SET last_ticket = 2, admitted_through = 1, active = 1;");
    sqlite3_close(raw);

    db = open_with_limits(1, 30);
    st = stats_of(db);
    cr_assert_eq(st.max_active, 1, "seeded from the options");
    cr_assert_eq(st.admit_per_minute, 30);
    cr_assert_eq(st.state, CONCERT_QUEUE_OPEN);
    cr_assert_eq(st.active, 1);
    cr_assert_eq(st.waiting, 1);
    cr_assert_eq(st.last_ticket, 2);
    cr_assert_eq(st.prequeued, 0);
    cr_assert_eq(concert_queue_status_get(&t, db, TOKEN_B), 0, "%s", concert_error_last()->message);
    cr_assert_eq(t.state, CONCERT_TOKEN_WAITING);
    cr_assert_eq(t.position, 1);
    cr_assert_eq(concert_queue_issue(&c, db, 9), 0);
    cr_assert_eq(c.position, 2, "behind the line the old version left");
    expect_verify_clean(db);
    concert_db_close(db);

    db = open_with_limits(50, 0);
    st = stats_of(db);
    cr_assert_eq(st.max_active, 1, "opening a migrated store never changes its settings");
    cr_assert_eq(st.admit_per_minute, 30);
    concert_db_close(db);
    raw = raw_open();
    cr_assert_eq(raw_int(raw, "PRAGMA user_version"), 6);
    cr_assert_eq(raw_int(raw, "SELECT max_active * 1000 + admit_per_minute FROM queue_state"),
                 1030);
    sqlite3_close(raw);
}

Test(sqlite, an_empty_file_becomes_a_store)
{
    int fd = open(path, O_CREAT | O_WRONLY, 0600);
    concert_db *db;
    cr_assert_geq(fd, 0);
    close(fd);
    db = open_store();
    load_small_catalog(db);
    concert_db_close(db);
}

Test(sqlite, a_newer_schema_is_refused_and_left_alone)
{
    sqlite3 *raw = raw_open();
    concert_options o = options();
    concert_db *db = NULL;
    int rc;

    raw_exec(raw, "CREATE TABLE future (x); PRAGMA application_id = 1129202516;"
                  "PRAGMA user_version = 99;");
    sqlite3_close(raw);
    rc = concert_db_open(&db, uri, &o);
    cr_assert_eq(rc, CONCERT_ESCHEMA, "got %s: %s", concert_error_name(rc),
                 concert_error_last()->message);
    cr_assert_null(db);
    cr_assert(strstr(concert_error_last()->message, "newer"), "message: %s",
              concert_error_last()->message);
    cr_assert(strstr(concert_error_last()->message, "99"), "message: %s",
              concert_error_last()->message);
    raw = raw_open();
    cr_assert_eq(raw_int(raw, "PRAGMA user_version"), 99);
    cr_assert_eq(raw_int(raw, "SELECT count(*) FROM sqlite_master WHERE name = 'users'"), 0);
    sqlite3_close(raw);
}

Test(sqlite, foreign_files_are_storage_errors_not_overwritten)
{
    concert_options o = options();
    concert_db *db = NULL;
    sqlite3 *raw = raw_open();
    FILE *f;
    int rc;

    raw_exec(raw, "CREATE TABLE somebody_elses (x); INSERT INTO somebody_elses VALUES (1);");
    sqlite3_close(raw);
    rc = concert_db_open(&db, uri, &o);
    cr_assert_eq(rc, CONCERT_ESTORAGE, "%s", concert_error_last()->message);
    cr_assert(strstr(concert_error_last()->message, "not a libconcert store"), "%s",
              concert_error_last()->message);
    raw = raw_open();
    cr_assert_eq(raw_int(raw, "SELECT count(*) FROM somebody_elses"), 1);
    sqlite3_close(raw);

    /* Not a database at all. */
    unlink(path);
    f = fopen(path, "w");
    cr_assert(f);
    for (int i = 0; i < 512; i++)
        fputs("this is not an SQLite file. ", f);
    fclose(f);
    rc = concert_db_open(&db, uri, &o);
    cr_assert_eq(rc, CONCERT_ESTORAGE, "%s", concert_error_last()->message);
    cr_assert(strstr(concert_error_last()->message, "sqlite:"), "%s",
              concert_error_last()->message);

    /* A directory that does not exist. */
    rc = concert_db_open(&db, "sqlite:/nonexistent-dir-for-concert/x.db", &o);
    cr_assert_eq(rc, CONCERT_ESTORAGE, "%s", concert_error_last()->message);
    cr_assert(strstr(concert_error_last()->message, "cannot open"), "%s",
              concert_error_last()->message);
    rc = concert_db_open(&db, "sqlite::memory:", &o);
    cr_assert_eq(rc, CONCERT_EINVAL, "%s", concert_error_last()->message);
}

/* Make the store read-only for the process that opens it next. As root,
 * permissions do not stop us, so the opener drops to an unprivileged user. */
static int open_as_unprivileged(char *message, size_t size)
{
    int fds[2];
    pid_t pid;
    int status = 0;
    ssize_t n;

    cr_assert_eq(pipe(fds), 0);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        concert_options o = options();
        concert_db *db = NULL;
        int rc;
        close(fds[0]);
        if (geteuid() == 0 && (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0))
            _exit(100);
        rc = concert_db_open(&db, uri, &o);
        if (write(fds[1], concert_error_last()->message, strlen(concert_error_last()->message)) < 0)
            _exit(101);
        concert_db_close(db);
        _exit(-rc);
    }
    close(fds[1]);
    n = read(fds[0], message, size - 1);
    message[n > 0 ? n : 0] = '\0';
    close(fds[0]);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status));
    cr_assert_neq(WEXITSTATUS(status), 100, "could not drop privileges");
    return -WEXITSTATUS(status);
}

Test(sqlite, a_read_only_store_is_a_clear_storage_error_and_stays_intact)
{
    concert_db *db = open_store();
    char message[512];
    int64_t bal;
    int rc;

    load_small_catalog(db);
    cr_assert_eq(concert_charge_points(&bal, db, 2, 70, NULL), 0);
    concert_db_close(db); /* a clean close folds the WAL back into the file */
    cr_assert_eq(chmod(path, 0444), 0);
    cr_assert_eq(chmod(dir, 0555), 0);
    rc = open_as_unprivileged(message, sizeof(message));
    cr_assert_eq(rc, CONCERT_ESTORAGE, "got %s: %s", concert_error_name(rc), message);
    cr_assert(strstr(message, "read-only"), "message: %s", message);
    cr_assert_eq(chmod(dir, 0700), 0);
    cr_assert_eq(chmod(path, 0600), 0);

    expect_integrity_ok();
    db = open_store();
    cr_assert_eq(concert_points_balance_get(&bal, db, 2), 0);
    cr_assert_eq(bal, 70);
    expect_verify_clean(db);
    concert_db_close(db);
}

/* A "full disk" without root or a special mount: a file-size limit makes the
 * kernel refuse to grow the store's files (EFBIG), as a full disk would. */
Test(sqlite, a_full_disk_fails_cleanly_and_corrupts_nothing)
{
    concert_db *db = open_store();
    concert_concert_list *list = NULL;
    pid_t pid;
    int status = 0;
    int64_t bal;

    load_small_catalog(db);
    concert_db_close(db);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        static concert_catalog_seat_range big[] = { { 1, 200000, "R", 1 } };
        concert_catalog_schedule sched[] = { { 99, T0 + DAY, big, 1 } };
        concert_catalog_concert con[] = { { 9, "Too big", CONCERT_STATUS_OPEN, 0, sched, 1 } };
        concert_catalog cat = { CONCERT_CATALOG_VERSION, NULL, 0, con, 1 };
        struct rlimit lim, saved;
        concert_options o = options();
        concert_db *child = NULL;
        int64_t after = 0;
        int rc;
        signal(SIGXFSZ, SIG_IGN);
        if (concert_db_open(&child, uri, &o) != 0)
            _exit(10);
        if (getrlimit(RLIMIT_FSIZE, &saved) != 0)
            _exit(11);
        lim = saved;
        lim.rlim_cur = 256 * 1024; /* soft limit only: it can be raised again */
        if (setrlimit(RLIMIT_FSIZE, &lim) != 0)
            _exit(11);
        rc = concert_catalog_load(child, &cat);
        if (rc != CONCERT_ESTORAGE || !strstr(concert_error_last()->message, "sqlite:"))
            _exit(12);
        /* Space comes back: the same handle works again. */
        if (setrlimit(RLIMIT_FSIZE, &saved) != 0)
            _exit(13);
        if (concert_charge_points(&after, child, 1, 5, NULL) != 0 || after != 100005)
            _exit(14);
        concert_db_close(child);
        _exit(0);
    }
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d",
              WIFEXITED(status) ? WEXITSTATUS(status) : -1);

    expect_integrity_ok();
    db = open_store();
    cr_assert_eq(concert_points_balance_get(&bal, db, 1), 0);
    cr_assert_eq(bal, 100005, "the charge after the failure, nothing of the failed load");
    cr_assert_eq(concert_admin_concert_list_get(&list, db), 0);
    cr_assert_eq(list->count, 1, "the failed load left no concert behind");
    concert_concert_list_free(list);
    cr_assert_eq(concert_charge_points(&bal, db, 1, 1, NULL), 0, "%s",
                 concert_error_last()->message);
    expect_verify_clean(db);
    concert_db_close(db);
}

/* The child pays and charges, then dies by SIGKILL the instant they return. */
Test(sqlite, a_successful_pay_and_charge_survive_kill_9)
{
    concert_db *db = open_store();
    concert_token_info t;
    concert_reservation r;
    concert_ledger_list *h = NULL;
    int fds[2];
    int64_t ids[2] = { 0, 0 }, bal;
    pid_t pid;
    int status = 0;

    load_small_catalog(db);
    concert_db_close(db);
    cr_assert_eq(pipe(fds), 0);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        concert_options o = options();
        concert_db *child = NULL;
        concert_payment p;
        int64_t out[2];
        close(fds[0]);
        if (concert_db_open(&child, uri, &o) != 0 || concert_queue_issue(&t, child, 2) != 0 ||
            concert_reserve_seat(&r, child, t.token, 10, 3) != 0 ||
            concert_charge_points(NULL, child, 2, 1500, "kill-test") != 0 ||
            concert_pay(&p, child, t.token, r.id, NULL) != 0)
            _exit(1);
        out[0] = r.id;
        out[1] = p.id;
        if (write(fds[1], out, sizeof(out)) != (ssize_t)sizeof(out))
            _exit(2);
        kill(getpid(), SIGKILL); /* no close, no checkpoint, no atexit */
        _exit(3);
    }
    close(fds[1]);
    cr_assert_eq(read(fds[0], ids, sizeof(ids)), (ssize_t)sizeof(ids), "the child failed");
    close(fds[0]);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    db = open_store();
    cr_assert_eq(concert_points_balance_get(&bal, db, 2), 0);
    cr_assert_eq(bal, 500, "charged 1500, paid 1000");
    cr_assert_eq(concert_ledger_list_get(&h, db, 2), 0);
    cr_assert_eq(h->count, 2);
    cr_assert_eq(h->items[0].type, CONCERT_LEDGER_PAYMENT);
    cr_assert_eq(h->items[0].reservation_id, ids[0]);
    concert_ledger_list_free(h);
    cr_assert_eq(concert_charge_points(&bal, db, 2, 1500, "kill-test"), 0);
    cr_assert_eq(bal, 1500, "the idempotency record survived with the charge");
    cr_assert_eq(concert_queue_issue(&t, db, 2), 0);
    cr_assert_eq(t.is_new, 1, "the paying token was consumed");
    cr_assert_eq(concert_reservation_get(&r, db, t.token, ids[0]), 0);
    cr_assert_eq(r.status, CONCERT_RESERVATION_CONFIRMED);
    expect_verify_clean(db);
    concert_db_close(db);
    expect_integrity_ok();
}

Test(sqlite, a_locked_store_is_busy_after_the_timeout_and_reads_go_on)
{
    concert_options o = options();
    concert_db *db = NULL;
    sqlite3 *raw;
    int64_t bal;
    int rc;

    o.busy_timeout_ms = 100;
    cr_assert_eq(concert_db_open(&db, uri, &o), 0, "%s", concert_error_last()->message);
    load_small_catalog(db);
    raw = raw_open();
    raw_exec(raw, "BEGIN IMMEDIATE"); /* another writer holds the lock */
    rc = concert_charge_points(&bal, db, 1, 5, NULL);
    cr_assert_eq(rc, CONCERT_EBUSY, "got %s: %s", concert_error_name(rc),
                 concert_error_last()->message);
    cr_assert(strstr(concert_error_last()->message, "100 ms"), "%s", concert_error_last()->message);
    cr_assert_eq(concert_points_balance_get(&bal, db, 1), 0, "WAL: reads do not wait for writers");
    cr_assert_eq(bal, 100000);
    raw_exec(raw, "COMMIT");
    sqlite3_close(raw);
    cr_assert_eq(concert_charge_points(&bal, db, 1, 5, NULL), 0);
    cr_assert_eq(bal, 100005);
    concert_db_close(db);
}

/* ---- every wait bounded (issue 14) ---- */

#define QUEUED_WRITERS 6
#define QUEUED_BUSY_MS 300

typedef struct queued_writer {
    concert_db *db;
    int64_t user;
    int rc;
    int64_t took_ms;
} queued_writer;

static void *charge_timed(void *arg)
{
    queued_writer *w = arg;
    struct timespec a, b;
    int64_t bal;
    clock_gettime(CLOCK_MONOTONIC, &a);
    w->rc = concert_charge_points(&bal, w->db, w->user, 5, NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    w->took_ms = (int64_t)(b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    return NULL;
}

/* Writers of one process queue on the handle's write lock before SQLite's
 * busy handler; that wait counted nothing, so the sixth writer waited for
 * five busy_timeout_ms in a row (1.5 s here). Now the lock, BEGIN IMMEDIATE
 * and the busy handler share one deadline per step. The bound checked is
 * three times busy_timeout_ms: far above a loaded machine's noise, far
 * below what the queue cost before. */
Test(sqlite, writers_queued_in_one_process_are_busy_within_the_timeout_not_after_each_other)
{
    concert_options o = options();
    concert_db *db = NULL;
    sqlite3 *raw;
    pthread_t th[QUEUED_WRITERS];
    queued_writer w[QUEUED_WRITERS];
    int64_t slowest = 0, bal;

    o.busy_timeout_ms = QUEUED_BUSY_MS;
    cr_assert_eq(concert_db_open(&db, uri, &o), 0, "%s", concert_error_last()->message);
    load_small_catalog(db);
    raw = raw_open();
    raw_exec(raw, "BEGIN IMMEDIATE"); /* another process holds the write lock */
    for (int i = 0; i < QUEUED_WRITERS; i++) {
        w[i] = (queued_writer){ db, 1 + i % 3, 0, 0 };
        cr_assert_eq(pthread_create(&th[i], NULL, charge_timed, &w[i]), 0);
    }
    for (int i = 0; i < QUEUED_WRITERS; i++)
        pthread_join(th[i], NULL);
    raw_exec(raw, "COMMIT");
    sqlite3_close(raw);
    for (int i = 0; i < QUEUED_WRITERS; i++) {
        cr_assert_eq(w[i].rc, CONCERT_EBUSY, "writer %d: %s", i, concert_error_name(w[i].rc));
        if (w[i].took_ms > slowest)
            slowest = w[i].took_ms;
    }
    fprintf(stderr, "%d queued writers, busy_timeout_ms %d: slowest busy after %lld ms\n",
            QUEUED_WRITERS, QUEUED_BUSY_MS, (long long)slowest);
    cr_assert_lt(slowest, 3 * QUEUED_BUSY_MS, "a queued writer waited %lld ms", (long long)slowest);
    cr_assert_eq(concert_charge_points(&bal, db, 1, 5, NULL), 0, "%s",
                 concert_error_last()->message);
    cr_assert_eq(bal, 100005, "a busy charge must not have been applied");
    concert_db_close(db);
}

Test(sqlite, two_handles_on_one_file_share_seats_balances_and_the_queue)
{
    concert_options o = options();
    concert_db *a, *b = NULL;
    concert_token_info ta, tb, tc;
    concert_reservation r;
    concert_queue_stats st;
    int64_t bal;

    o.max_active = 2;
    cr_assert_eq(concert_db_open(&a, uri, &o), 0, "%s", concert_error_last()->message);
    cr_assert_eq(concert_db_open(&b, uri, &o), 0, "%s", concert_error_last()->message);
    load_small_catalog(a);
    cr_assert_eq(concert_queue_issue(&ta, a, 1), 0);
    cr_assert_eq(concert_queue_issue(&tb, b, 3), 0);
    cr_assert_eq(concert_queue_issue(&tc, a, 2), 0);
    cr_assert_eq(tc.state, CONCERT_TOKEN_WAITING, "max_active holds across handles");
    cr_assert_eq(concert_queue_stats_get(&st, b), 0);
    cr_assert_eq(st.active, 2);
    cr_assert_eq(concert_reserve_seat(&r, b, ta.token, 10, 5), 0, "a token works on any handle");
    cr_assert_eq(concert_reserve_seat(&r, a, tb.token, 10, 5), CONCERT_ESEAT_TAKEN);
    cr_assert_eq(concert_charge_points(NULL, a, 2, 10, NULL), 0);
    cr_assert_eq(concert_charge_points(NULL, b, 2, 10, NULL), 0);
    cr_assert_eq(concert_points_balance_get(&bal, a, 2), 0);
    cr_assert_eq(bal, 20);
    cr_assert_eq(concert_queue_leave(b, ta.token), 0);
    cr_assert_eq(concert_queue_status_get(&tc, a, tc.token), 0);
    cr_assert_eq(tc.state, CONCERT_TOKEN_ACTIVE);
    expect_verify_clean(a);
    concert_db_close(a);
    concert_db_close(b);
}

Test(sqlite, conflicts_name_the_place)
{
    concert_db *db = open_store();
    const concert_catalog_seat_range seats[] = { { 1, 2, "R", 10 } };
    const concert_catalog_schedule schedules[] = { { 50, T0, seats, 1 }, { 11, T0, seats, 1 } };
    const concert_catalog_concert concerts[] = { { 2, "Other", CONCERT_STATUS_OPEN, 0, schedules,
                                                   2 } };
    const concert_catalog cat = { CONCERT_CATALOG_VERSION, NULL, 0, concerts, 1 };
    concert_concert_list *list = NULL;

    load_small_catalog(db);
    cr_assert_eq(concert_catalog_load(db, &cat), CONCERT_ECONFLICT);
    cr_assert_str_eq(concert_error_last()->message,
                     "concerts[0].schedules[1].id: schedule 11 already exists");
    cr_assert_eq(concert_admin_concert_list_get(&list, db), 0);
    cr_assert_eq(list->count, 1, "the failed load left nothing behind");
    concert_concert_list_free(list);
    concert_db_close(db);
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* A figure, not a timed assertion: the load time is printed. */
Test(sqlite, a_hundred_thousand_seat_schedule_loads_in_one_transaction)
{
    concert_db *db = open_store();
    const concert_catalog_user users[] = { { 1, "Kim", 0 } };
    const concert_catalog_seat_range seats[] = { { 1, 100000, "R", 10 } };
    const concert_catalog_schedule schedules[] = { { 10, T0 + DAY, seats, 1 } };
    const concert_catalog_concert concerts[] = { { 1, "Stadium", CONCERT_STATUS_OPEN, 0, schedules,
                                                   1 } };
    const concert_catalog cat = { CONCERT_CATALOG_VERSION, users, 1, concerts, 1 };
    concert_seat_list *list = NULL;
    concert_token_info t;
    struct timespec t0;
    double load, listing;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    cr_assert_eq(concert_catalog_load(db, &cat), 0, "%s", concert_error_last()->message);
    load = seconds_since(&t0);
    cr_assert_eq(concert_queue_issue(&t, db, 1), 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cr_assert_eq(concert_seats_available(&list, db, t.token, 10), 0);
    listing = seconds_since(&t0);
    cr_assert_eq(list->count, 100000);
    cr_assert_eq(list->items[99999].number, 100000);
    concert_seat_list_free(list);
    fprintf(stderr, "sqlite: 100,000 seats loaded in %.3f s, listed in %.3f s\n", load, listing);
    concert_db_close(db);
}

/* sqlite:PATH is always a file: "file:..." options are not interpreted. */
Test(sqlite, a_path_that_looks_like_an_sqlite_uri_is_just_a_file_name)
{
    concert_options o = options();
    concert_db *db = NULL;
    char literal[400];
    struct stat sb;
    int64_t bal;

    cr_assert_eq(chdir(dir), 0);
    cr_assert_eq(concert_db_open(&db, "sqlite:" URI_LOOKALIKE, &o), 0, "%s",
                 concert_error_last()->message);
    load_small_catalog(db);
    concert_db_close(db);
    snprintf(literal, sizeof(literal), "%s/%s", dir, URI_LOOKALIKE);
    cr_assert_eq(stat(literal, &sb), 0, "the store is a file named literally %s", URI_LOOKALIKE);
    cr_assert_eq(concert_db_open(&db, "sqlite:" URI_LOOKALIKE, &o), 0, "%s",
                 concert_error_last()->message);
    cr_assert_eq(concert_points_balance_get(&bal, db, 1), 0, "not an in-memory database");
    cr_assert_eq(bal, 100000);
    concert_db_close(db);
}

static int report_mentions(const concert_verify_report *rep, const char *text)
{
    for (size_t i = 0; i < rep->violation_count; i++)
        if (strstr(rep->violations[i], text))
            return 1;
    return 0;
}

/* verify must see damage the schema cannot prevent (it checks, never repairs). */
Test(sqlite, verify_reports_damage_done_behind_the_librarys_back)
{
    concert_db *db = open_store();
    concert_token_info t;
    concert_reservation r;
    concert_payment p;
    concert_verify_report *rep = NULL;
    sqlite3 *raw;

    load_small_catalog(db);
    cr_assert_eq(concert_queue_issue(&t, db, 1), 0);
    cr_assert_eq(concert_reserve_seat(&r, db, t.token, 10, 2), 0);
    cr_assert_eq(concert_pay(&p, db, t.token, r.id, NULL), 0);
    expect_verify_clean(db);

    raw = raw_open();
    raw_exec(raw, "UPDATE users SET balance = balance + 1 WHERE id = 3;"
                  "DELETE FROM payments;"
                  "UPDATE queue_state SET active = 5;");
    sqlite3_close(raw);
    cr_assert_eq(concert_admin_verify(&rep, db), 0, "%s", concert_error_last()->message);
    cr_assert_eq(rep->violation_count, 3, "first: %s",
                 rep->violation_count ? rep->violations[0] : "");
    cr_assert(report_mentions(rep, "user 3: balance 50001 but the ledger sums to 50000"));
    cr_assert(report_mentions(rep, "seat 10/2: 0 payments"));
    cr_assert(report_mentions(rep, "active counter says 5 but 0 tokens are ACTIVE"));
    cr_assert_eq(rep->seats_sold, 1);
    cr_assert_eq(rep->payments, 0);
    cr_assert_eq(rep->seats, 20);
    concert_verify_report_free(rep);
    concert_db_close(db);
}

/* ---- the queue's shared settings and the opening lottery (schema 3) ---- */

#define MINUTE INT64_C(60000)

static void load_users(concert_db *db, int n)
{
    concert_catalog_user users[64];
    concert_catalog cat = { CONCERT_CATALOG_VERSION, users, (size_t)n, NULL, 0 };
    cr_assert_leq(n, 64);
    for (int i = 0; i < n; i++)
        users[i] = (concert_catalog_user){ i + 1, "Buyer", 0 };
    cr_assert_eq(concert_catalog_load(db, &cat), 0, "%s", concert_error_last()->message);
}

/* A child process: its own handle on the file, its clock at opens_at; on the
 * parent's signal it refreshes the stats and polls every token. */
static void lottery_child(int go_fd, const concert_token_info *t, int n)
{
    concert_options o = options();
    concert_db *child = NULL;
    concert_queue_stats st;
    concert_token_info info;
    char byte;

    o.queue_refresh_ms = 0;
    atomic_store(&fake_now, T0 + MINUTE);
    if (concert_db_open(&child, uri, &o) != 0 || read(go_fd, &byte, 1) != 1)
        _exit(1);
    if (concert_queue_stats_get(&st, child) != 0 || st.state != CONCERT_QUEUE_OPEN ||
        st.prequeued != 0)
        _exit(2);
    for (int i = 0; i < n; i++) {
        if (concert_queue_status_get(&info, child, t[i].token) != 0 ||
            info.position == CONCERT_POSITION_PREQUEUE)
            _exit(3);
    }
    concert_db_close(child);
    _exit(0);
}

/* Every ticket a token is ever given is logged by a trigger added behind the
 * library's back: each pre-queued token must get exactly one, 1..EARLY,
 * whichever of the processes racing at opens_at notices the opening. */
Test(sqlite, the_opening_lottery_runs_once_across_processes)
{
    enum {
        PROCS = 3,
        EARLY = 30
    };
    concert_db *db = open_with_limits(5, 0);
    concert_token_info t[EARLY], info;
    pid_t pids[PROCS];
    int go[2], identity = 1;
    sqlite3 *raw;

    load_users(db, EARLY);
    cr_assert_eq(concert_queue_schedule(db, T0 + MINUTE), 0, "%s", concert_error_last()->message);
    for (int i = 0; i < EARLY; i++) {
        cr_assert_eq(concert_queue_issue(&t[i], db, i + 1), 0, "%s", concert_error_last()->message);
        cr_assert_eq(t[i].position, CONCERT_POSITION_PREQUEUE);
    }
    cr_assert_eq(stats_of(db).prequeued, EARLY);
    cr_assert_eq(stats_of(db).waiting, 0, "pre-queued tokens are not in line yet");
    expect_verify_clean(db);
    raw = raw_open();
    raw_exec(raw, "CREATE TABLE ticket_log (token TEXT, old INTEGER, new INTEGER);"
                  "CREATE TRIGGER ticket_given AFTER UPDATE OF ticket ON tokens BEGIN"
                  "  INSERT INTO ticket_log VALUES (new.token, old.ticket, new.ticket); END;");
    sqlite3_close(raw);

    cr_assert_eq(pipe(go), 0);
    for (int p = 0; p < PROCS; p++) {
        pids[p] = fork();
        cr_assert_geq(pids[p], 0);
        if (pids[p] == 0) {
            close(go[1]);
            lottery_child(go[0], t, EARLY);
        }
    }
    close(go[0]);
    /* All at once: the children race for the opening. */
    cr_assert_eq(write(go[1], "xxx", PROCS), PROCS);
    close(go[1]);
    for (int p = 0; p < PROCS; p++) {
        int status = 0;
        cr_assert_eq(waitpid(pids[p], &status, 0), pids[p]);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d: status %d", p, status);
    }

    raw = raw_open();
    cr_assert_eq(raw_int(raw, "SELECT count(*) FROM ticket_log"), EARLY,
                 "each pre-queued token got exactly one ticket");
    cr_assert_eq(raw_int(raw, "SELECT count(DISTINCT token) FROM ticket_log"), EARLY);
    cr_assert_eq(raw_int(raw, "SELECT count(DISTINCT new) FROM ticket_log"), EARLY);
    cr_assert_eq(raw_int(raw, "SELECT min(new) * 1000 + max(new) FROM ticket_log"), 1000 + EARLY);
    cr_assert_eq(raw_int(raw, "SELECT max(old) FROM ticket_log"), -1, "only placeholders moved");
    cr_assert_eq(raw_int(raw, "SELECT last_ticket FROM queue_state"), EARLY);
    for (int i = 0; i < EARLY; i++) {
        char sql[160];
        int64_t ticket;
        snprintf(sql, sizeof(sql), "SELECT new FROM ticket_log WHERE token = '%.64s'", t[i].token);
        ticket = raw_int(raw, sql);
        identity = identity && ticket == i + 1;
        cr_assert_eq(concert_queue_status_get(&info, db, t[i].token), 0);
        if (ticket <= 5)
            cr_assert_eq(info.state, CONCERT_TOKEN_ACTIVE, "ticket %lld", (long long)ticket);
        else
            cr_assert_eq(info.position, ticket - 5, "ticket %lld", (long long)ticket);
    }
    sqlite3_close(raw);
    cr_assert_not(identity, "the lottery kept the join order (1 chance in 30!)");
    expect_verify_clean(db);
    concert_db_close(db);
}

/* Settings changes are one step on the store, seen by every handle;
 * expect_state is checked inside it and a refusal changes nothing. */
Test(sqlite, configure_is_shared_and_refuses_a_stale_expectation)
{
    concert_db *a = open_with_limits(2, 0), *b = open_with_limits(9, 0);
    concert_queue_update u = CONCERT_QUEUE_UPDATE_INIT;
    concert_queue_settings set;
    concert_token_info t[3], again;
    concert_queue_stats st;

    load_users(a, 3);
    cr_assert_eq(concert_queue_settings_get(&set, b), 0);
    cr_assert_eq(set.max_active, 2, "the store's settings, not b's options");
    cr_assert_eq(concert_queue_resume(b), CONCERT_ECONFLICT, "resume wants PAUSED");
    u.fields = CONCERT_QUEUE_SET_MAX_ACTIVE;
    u.max_active = 7;
    u.expect_state = CONCERT_QUEUE_PAUSED;
    cr_assert_eq(concert_queue_update_apply(NULL, a, &u), CONCERT_ECONFLICT);
    cr_assert_eq(stats_of(b).max_active, 2, "a refused update changed nothing");

    cr_assert_eq(concert_queue_pause(a), 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(concert_queue_issue(&t[i], b, i + 1), 0);
    st = stats_of(b);
    cr_assert_eq(st.state, CONCERT_QUEUE_PAUSED);
    cr_assert_eq(st.active, 0, "PAUSED admits nobody");
    cr_assert_eq(st.waiting, 3);
    cr_assert_eq(concert_queue_update_apply(&set, b, &u), 0, "expect PAUSED holds now");
    cr_assert_eq(set.max_active, 7);
    cr_assert_eq(concert_queue_resume(b), 0);
    cr_assert_eq(stats_of(a).active, 3);

    cr_assert_eq(concert_queue_close(a), 0);
    cr_assert_eq(concert_queue_leave(b, t[2].token), 0);
    cr_assert_eq(concert_queue_issue(&again, b, 3), CONCERT_EQUEUE_CLOSED);
    cr_assert_eq(concert_queue_issue(&again, b, 1), 0, "a live token is still handed back");
    cr_assert_str_eq(again.token, t[0].token);

    /* Lowered below the ACTIVE count: those keep their slots, verify agrees. */
    cr_assert_eq(concert_queue_limits_set(b, 1, 120), 0);
    st = stats_of(a);
    cr_assert_eq(st.max_active, 1);
    cr_assert_eq(st.admit_per_minute, 120);
    cr_assert_eq(st.active, 2);
    expect_verify_clean(a);

    cr_assert_eq(concert_queue_schedule(a, T0 + MINUTE), 0);
    u.fields = CONCERT_QUEUE_SET_STATE;
    u.state = CONCERT_QUEUE_OPEN;
    u.expect_state = CONCERT_QUEUE_CLOSED;
    cr_assert_eq(concert_queue_update_apply(NULL, b, &u), CONCERT_ECONFLICT);
    st = stats_of(b);
    cr_assert_eq(st.state, CONCERT_QUEUE_SCHEDULED);
    cr_assert_eq(st.opens_at, T0 + MINUTE);
    /* Once opens_at has come the queue is OPEN for every step, configure too. */
    atomic_store(&fake_now, T0 + MINUTE);
    u.expect_state = CONCERT_QUEUE_SCHEDULED;
    cr_assert_eq(concert_queue_update_apply(NULL, b, &u), CONCERT_ECONFLICT);
    u.expect_state = CONCERT_QUEUE_OPEN;
    u.state = CONCERT_QUEUE_PAUSED;
    cr_assert_eq(concert_queue_update_apply(&set, b, &u), 0);
    cr_assert_eq(set.state, CONCERT_QUEUE_PAUSED);
    cr_assert_eq(set.opens_at, 0);
    expect_verify_clean(b);
    concert_db_close(a);
    concert_db_close(b);
}

/* The pre-queue's invariants, broken behind the library's back. */
Test(sqlite, verify_reports_a_pre_queue_outside_a_scheduled_queue)
{
    concert_db *db = open_with_limits(2, 0);
    concert_verify_report *rep = NULL;
    sqlite3 *raw;

    load_users(db, 2);
    raw = raw_open();
    raw_exec(raw, "INSERT INTO tokens (token, ticket, user_id, state, last_seen, expires_at)"
                  "  VALUES ('" TOKEN_A "', -1, 1, 1, 1800000000000, 0);"
                  "UPDATE queue_state SET prequeued = 1, prequeue_seq = 1;");
    sqlite3_close(raw);
    cr_assert_eq(concert_admin_verify(&rep, db), 0, "%s", concert_error_last()->message);
    cr_assert_eq(rep->violation_count, 1, "first: %s",
                 rep->violation_count ? rep->violations[0] : "");
    cr_assert(report_mentions(rep, "1 pre-queued tokens but the queue is OPEN"), "%s",
              rep->violations[0]);
    concert_verify_report_free(rep);

    raw = raw_open();
    raw_exec(raw, "UPDATE queue_state SET prequeued = 0;");
    sqlite3_close(raw);
    cr_assert_eq(concert_admin_verify(&rep, db), 0);
    cr_assert(report_mentions(rep, "pre-queue counter says 0 but 1"));
    concert_verify_report_free(rep);
    concert_db_close(db);
}

/* Leaving the pre-queue (or idling out of it) takes the token out of the
 * count and out of the lottery; rejoining while SCHEDULED pre-queues anew. */
Test(sqlite, a_token_that_leaves_the_pre_queue_gets_no_ticket)
{
    concert_db *db = open_with_limits(1, 0);
    concert_token_info t[3], again;
    concert_queue_stats st;
    sqlite3 *raw;

    load_users(db, 3);
    cr_assert_eq(concert_queue_schedule(db, T0 + MINUTE), 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(concert_queue_issue(&t[i], db, i + 1), 0);
    cr_assert_eq(concert_queue_leave(db, t[1].token), 0);
    cr_assert_eq(concert_queue_leave(db, t[1].token), CONCERT_ETOKEN_INVALID);
    cr_assert_eq(stats_of(db).prequeued, 2);
    expect_verify_clean(db);
    cr_assert_eq(concert_queue_issue(&again, db, 2), 0);
    cr_assert_eq(again.is_new, 1);
    cr_assert_eq(again.position, CONCERT_POSITION_PREQUEUE);
    cr_assert_eq(stats_of(db).prequeued, 3);

    cr_assert_eq(concert_queue_open(db), 0, "%s", concert_error_last()->message);
    st = stats_of(db);
    cr_assert_eq(st.prequeued, 0);
    cr_assert_eq(st.last_ticket, 3, "three tickets: the left token got none");
    cr_assert_eq(st.active, 1);
    cr_assert_eq(st.waiting, 2);
    raw = raw_open();
    cr_assert_eq(raw_int(raw, "SELECT count(*) FROM tokens WHERE ticket < 0"), 1,
                 "the left token keeps its placeholder");
    cr_assert_eq(raw_int(raw, "SELECT state FROM tokens WHERE ticket < 0"), 3);
    sqlite3_close(raw);
    expect_verify_clean(db);
    concert_db_close(db);
}

/* ---- schema 4: orders, releasing a hold, per-buyer limits (issue 11) ---- */

/* What version 3 added to V2_EXTRA, frozen as libconcert 0.2 wrote it. */
static const char V3_EXTRA[] =
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
    "  CHECK (active_cap >= max_active);"
    "UPDATE queue_state SET max_active = 1000, active_cap = 1000;"
    "PRAGMA user_version = 3;";

/*
 * A version-3 store in the state libconcert 0.2 left it: Kim (1) paid for
 * seat 1 under the key "order-1" (her token ended by it), Lee (2) holds
 * seat 2 with a live ACTIVE token. Written row by row as the 0.2 steps did.
 */
static const char V3_DATA[] =
    "INSERT INTO users VALUES (1, 'Kim', 99000), (2, 'Lee', 5000);"
    "INSERT INTO ledger (id, user_id, type, amount, balance_after, at, reservation_id) VALUES"
    "  (1, 1, 1, 100000, 100000, 1800000000000, NULL),"
    "  (2, 2, 1, 5000, 5000, 1800000000000, NULL),"
    "  (3, 1, 2, -1000, 99000, 1800000000000, 1);"
    "INSERT INTO concerts VALUES (1, 'Winter Gala', 1);"
    "INSERT INTO schedules VALUES (10, 1, 1800086400000);"
    "WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < 10)"
    "  INSERT INTO seats (schedule_id, number, grade, price) SELECT 10, k, 'VIP', 1000 FROM n;"
    "INSERT INTO reservations VALUES"
    "  (1, 1, 10, 1, 1000, 2, 1800000300000, 1800000000000),"
    "  (2, 2, 10, 2, 1000, 1, 1800000300000, 1800000000000);"
    "UPDATE seats SET hold_reservation_id = 1, sold_reservation_id = 1 WHERE number = 1;"
    "UPDATE seats SET hold_reservation_id = 2, hold_until = 1800000300000 WHERE number = 2;"
    "INSERT INTO payments VALUES (1, 1, 1, 1000, 99000, 1800000000000);"
    "INSERT INTO idempotency VALUES (1, 'pay', 'order-1', 'reservation=1', 1, NULL,"
    "  1800000000000);"
    "INSERT INTO tokens VALUES ('" TOKEN_A "', 1, 1, 3, 1800000000000, 1800000600000),"
    "  ('" TOKEN_B "', 2, 2, 2, 1800000000000, 1800000600000);"
    "UPDATE queue_state SET last_ticket = 2, admitted_through = 2, active = 1;";

static void write_v3_store(const char *extra_sql)
{
    sqlite3 *raw = raw_open();
    raw_exec(raw, V1_SCHEMA);
    raw_exec(raw, V2_EXTRA);
    raw_exec(raw, V3_EXTRA);
    raw_exec(raw, V3_DATA);
    if (extra_sql)
        raw_exec(raw, extra_sql);
    cr_assert_eq(raw_int(raw, "PRAGMA user_version"), 3);
    sqlite3_close(raw);
}

Test(sqlite, a_version_3_store_migrates_and_its_sales_holds_and_keys_carry_on)
{
    concert_db *db;
    concert_token_info kim;
    concert_reservation r, held, more;
    concert_payment p;
    concert_concert concert;
    concert_ledger_list *page = NULL;
    concert_seat_list *seats = NULL;
    int64_t bal, order[2];
    sqlite3 *raw;

    write_v3_store(NULL);
    db = open_store();
    raw = raw_open();
    cr_assert_eq(raw_int(raw, "PRAGMA user_version"), 6);
    cr_assert_eq(raw_int(raw, "SELECT payment_id FROM reservations WHERE id = 1"), 1,
                 "the old sale names its payment");
    cr_assert_eq(raw_int(raw, "SELECT payment_id IS NULL FROM reservations WHERE id = 2"), 1);
    cr_assert_eq(raw_int(raw, "SELECT count(*) FROM reservations"), 2);
    cr_assert_eq(raw_int(raw, "SELECT max_per_user FROM concerts WHERE id = 1"), 0);
    cr_assert_eq(raw_int(raw, "SELECT count(*) FROM sqlite_master WHERE name IN "
                              "('reservations_by_user', 'reservations_by_payment', "
                              "'reservations_one_sale_per_seat')"),
                 3);
    sqlite3_close(raw);
    expect_integrity_ok();
    expect_verify_clean(db);

    /* The old key replays the old payment, though its token has ended. */
    cr_assert_eq(concert_pay(&p, db, TOKEN_A, 1, "order-1"), 0, "%s",
                 concert_error_last()->message);
    cr_assert_eq(p.id, 1);
    cr_assert_eq(p.user_id, 1);
    cr_assert_eq(p.amount, 1000);
    cr_assert_eq(p.balance, 99000);
    cr_assert_eq(concert_pay(&p, db, TOKEN_A, 1, "order-2"), CONCERT_ETOKEN_INVALID);

    /* Lee's old hold joins a new one in one order: one debit, one entry. */
    cr_assert_eq(concert_reservation_get(&held, db, TOKEN_B, 2), 0, "%s",
                 concert_error_last()->message);
    cr_assert_eq(held.status, CONCERT_RESERVATION_HELD);
    cr_assert_eq(concert_reserve_seat(&more, db, TOKEN_B, 10, 3), 0, "%s",
                 concert_error_last()->message);
    cr_assert_gt(more.id, 2, "new ids follow the old ones");
    order[0] = more.id;
    order[1] = 2;
    cr_assert_eq(concert_order_pay(&p, db, TOKEN_B, order, 2, "lee-1"), 0, "%s",
                 concert_error_last()->message);
    cr_assert_eq(p.reservation_id, 2);
    cr_assert_eq(p.amount, 2000);
    cr_assert_eq(p.balance, 3000);
    cr_assert_eq(concert_ledger_list_get_page(&page, db, 2, 0, 1), 0);
    cr_assert_eq(page->count, 1);
    cr_assert_eq(page->items[0].amount, -2000);
    cr_assert_eq(page->items[0].reservation_id, 2);
    cr_assert_neq(page->next_before_id, 0);
    bal = page->next_before_id;
    concert_ledger_list_free(page);
    cr_assert_eq(concert_ledger_list_get_page(&page, db, 2, bal, 1), 0);
    cr_assert_eq(page->count, 1);
    cr_assert_eq(page->items[0].amount, 5000, "the old charge, on the next page");
    cr_assert_eq(page->next_before_id, 0);
    concert_ledger_list_free(page);

    /* Kim comes back: a hold, let go, frees its seat at once. */
    cr_assert_eq(concert_queue_issue(&kim, db, 1), 0);
    cr_assert_eq(kim.state, CONCERT_TOKEN_ACTIVE);
    cr_assert_eq(concert_reserve_seat(&r, db, kim.token, 10, 4), 0);
    cr_assert_eq(concert_reservation_release(&r, db, kim.token, r.id), 0, "%s",
                 concert_error_last()->message);
    cr_assert_eq(r.status, CONCERT_RESERVATION_RELEASED);
    cr_assert_eq(concert_seats_available(&seats, db, kim.token, 10), 0);
    cr_assert_eq(seats->count, 7, "10 seats, 3 sold, none held");
    concert_seat_list_free(seats);
    cr_assert_eq(concert_concert_get(&concert, db, kim.token, 1), 0);
    cr_assert_eq(concert.max_per_user, 0);
    expect_verify_clean(db);
    concert_db_close(db);

    raw = raw_open();
    cr_assert_eq(raw_int(raw, "SELECT count(*) FROM payments"), 2);
    cr_assert_eq(raw_int(raw, "SELECT count(DISTINCT payment_id) FROM reservations"
                              " WHERE user_id = 2"),
                 1, "Lee's two seats, one payment");
    cr_assert_eq(raw_int(raw, "SELECT status FROM reservations WHERE seat_number = 4"),
                 CONCERT_RESERVATION_RELEASED);
    sqlite3_close(raw);
    expect_integrity_ok();
}

/* The migration copies reservations with foreign keys off: a copy that
 * would refer to a missing row is refused as a whole, the file untouched. */
Test(sqlite, a_migration_that_would_break_a_reference_changes_nothing)
{
    concert_options o = options();
    concert_db *db = NULL;
    sqlite3 *raw;
    int rc;

    /* Damage an old library could not have done (its foreign keys were on). */
    write_v3_store("INSERT INTO reservations VALUES (3, 42, 10, 5, 1000, 1, 0, 0);");
    rc = concert_db_open(&db, uri, &o);
    cr_assert_eq(rc, CONCERT_ESCHEMA, "got %s: %s", concert_error_name(rc),
                 concert_error_last()->message);
    cr_assert_null(db);
    cr_assert(strstr(concert_error_last()->message, "foreign_key_check"), "%s",
              concert_error_last()->message);
    raw = raw_open();
    cr_assert_eq(raw_int(raw, "PRAGMA user_version"), 3);
    cr_assert_eq(raw_int(raw, "SELECT count(*) FROM pragma_table_info('reservations')"
                              " WHERE name = 'payment_id'"),
                 0, "the old table is still there");
    cr_assert_eq(raw_int(raw, "SELECT count(*) FROM sqlite_master WHERE name LIKE '%v4%'"), 0);
    cr_assert_eq(raw_int(raw, "SELECT count(*) FROM reservations"), 3);
    /* Repaired, it migrates. */
    raw_exec(raw, "DELETE FROM reservations WHERE id = 3");
    sqlite3_close(raw);
    db = open_store();
    expect_verify_clean(db);
    concert_db_close(db);
}

static concert_db *open_with_hold_limit(int64_t max_holds)
{
    concert_options o = options();
    concert_db *db = NULL;
    o.max_holds_per_user = max_holds;
    o.queue_refresh_ms = 0;
    cr_assert_eq(concert_db_open(&db, uri, &o), 0, "%s", concert_error_last()->message);
    return db;
}

/* The catalog's per-concert limit is a column: stored at load, reported by
 * every read, and it survives reopening. */
Test(sqlite, a_concerts_limit_is_stored_and_reported)
{
    concert_db *db = open_store();
    const concert_catalog_seat_range seats[] = { { 1, 10, "R", 10 } };
    const concert_catalog_schedule schedules[] = { { 20, T0 + DAY, seats, 1 } };
    const concert_catalog_concert concerts[] = { { 2, "Tight", CONCERT_STATUS_OPEN, 2, schedules,
                                                   1 } };
    const concert_catalog cat = { CONCERT_CATALOG_VERSION, NULL, 0, concerts, 1 };
    concert_concert_list *list = NULL;
    concert_concert c;
    concert_token_info t;
    concert_reservation r;
    sqlite3 *raw;

    load_small_catalog(db);
    cr_assert_eq(concert_catalog_load(db, &cat), 0, "%s", concert_error_last()->message);
    concert_db_close(db);
    db = open_store();
    cr_assert_eq(concert_queue_issue(&t, db, 1), 0);
    cr_assert_eq(concert_concert_get(&c, db, t.token, 2), 0);
    cr_assert_eq(c.max_per_user, 2);
    cr_assert_eq(concert_admin_concert_list_get(&list, db), 0);
    cr_assert_eq(list->count, 2);
    cr_assert_eq(list->items[0].max_per_user, 0);
    cr_assert_eq(list->items[1].max_per_user, 2);
    concert_concert_list_free(list);
    /* schedule_get reports it too: the core limits holds by it. */
    cr_assert_eq(concert_reserve_seat(&r, db, t.token, 20, 1), 0);
    cr_assert_eq(concert_reserve_seat(&r, db, t.token, 20, 2), 0);
    cr_assert_eq(concert_reserve_seat(&r, db, t.token, 20, 3), CONCERT_EHOLD_LIMIT);
    cr_assert(strstr(concert_error_last()->message, "2"), "%s", concert_error_last()->message);
    concert_db_close(db);
    raw = raw_open();
    cr_assert_eq(raw_int(raw, "SELECT max_per_user FROM concerts WHERE id = 2"), 2);
    sqlite3_close(raw);
}

/* A hold whose seat a later buyer took after it expired: releasing it ends
 * the reservation and leaves the later buyer's hold alone (the fence). */
Test(sqlite, releasing_an_expired_hold_never_frees_someone_elses_seat)
{
    concert_db *db = open_with_hold_limit(4);
    concert_token_info kim, lee;
    concert_reservation old, now_held, after;
    sqlite3 *raw;

    load_small_catalog(db);
    cr_assert_eq(concert_queue_issue(&kim, db, 1), 0);
    cr_assert_eq(concert_queue_issue(&lee, db, 3), 0);
    cr_assert_eq(concert_reserve_seat(&old, db, kim.token, 10, 7), 0);
    atomic_fetch_add(&fake_now, 5 * MINUTE); /* the default hold_ttl */
    cr_assert_eq(concert_reserve_seat(&now_held, db, lee.token, 10, 7), 0);
    cr_assert_eq(concert_reservation_release(&after, db, kim.token, old.id), 0, "%s",
                 concert_error_last()->message);
    cr_assert_eq(after.status, CONCERT_RESERVATION_RELEASED);
    raw = raw_open();
    cr_assert_eq(raw_int(raw, "SELECT hold_reservation_id FROM seats"
                              " WHERE schedule_id = 10 AND number = 7"),
                 now_held.id);
    cr_assert_eq(raw_int(raw, "SELECT status FROM reservations WHERE id = (SELECT min(id) FROM "
                              "reservations)"),
                 CONCERT_RESERVATION_RELEASED);
    sqlite3_close(raw);
    /* Releasing again changes nothing; the later hold is still payable. */
    cr_assert_eq(concert_reservation_release(&after, db, kim.token, old.id), 0);
    cr_assert_eq(concert_reservation_release(&after, db, kim.token, now_held.id),
                 CONCERT_EFORBIDDEN);
    expect_verify_clean(db);
    concert_db_close(db);
}

/* token_owner is a read: it answers while another process holds the write
 * lock, and it leaves the token as it was (no poll, no admission). */
Test(sqlite, token_owner_reads_without_writing)
{
    concert_options o = options();
    concert_db *db = open_with_limits(1, 0), *other = NULL;
    concert_token_info first, waiting;
    int64_t owner = 0, seen;
    sqlite3 *raw;

    load_users(db, 2);
    cr_assert_eq(concert_queue_issue(&first, db, 1), 0);
    cr_assert_eq(concert_queue_issue(&waiting, db, 2), 0);
    cr_assert_eq(waiting.state, CONCERT_TOKEN_WAITING);
    raw = raw_open();
    seen = raw_int(raw, "SELECT last_seen FROM tokens WHERE user_id = 2");
    atomic_fetch_add(&fake_now, 1000);
    o.busy_timeout_ms = 100;
    o.queue_refresh_ms = 0;
    /* A handle whose cache never saw the token: the store answers. */
    cr_assert_eq(concert_db_open(&other, uri, &o), 0, "%s", concert_error_last()->message);
    raw_exec(raw, "BEGIN IMMEDIATE");
    cr_assert_eq(concert_queue_token_owner_get(&owner, other, waiting.token), 0, "%s",
                 concert_error_last()->message);
    cr_assert_eq(owner, 2);
    cr_assert_eq(concert_queue_token_owner_get(&owner, other, TOKEN_A), CONCERT_ETOKEN_INVALID);
    raw_exec(raw, "COMMIT");
    cr_assert_eq(raw_int(raw, "SELECT last_seen FROM tokens WHERE user_id = 2"), seen);
    sqlite3_close(raw);
    /* Ended tokens still have their owner. */
    cr_assert_eq(concert_queue_leave(db, first.token), 0);
    cr_assert_eq(concert_queue_token_owner_get(&owner, other, first.token), 0);
    cr_assert_eq(owner, 1);
    concert_db_close(other);
    concert_db_close(db);
}

/* verify must see an order's damage done behind the library's back. */
Test(sqlite, verify_reports_broken_orders_and_released_holds)
{
    concert_db *db = open_store();
    concert_token_info t;
    concert_reservation a, b, c;
    concert_payment p;
    concert_verify_report *rep = NULL;
    int64_t ids[2];
    sqlite3 *raw;
    char sql[256];

    load_small_catalog(db);
    cr_assert_eq(concert_queue_issue(&t, db, 1), 0);
    cr_assert_eq(concert_reserve_seat(&a, db, t.token, 10, 1), 0);
    cr_assert_eq(concert_reserve_seat(&b, db, t.token, 10, 2), 0);
    cr_assert_eq(concert_reserve_seat(&c, db, t.token, 10, 3), 0);
    cr_assert_eq(concert_reservation_release(NULL, db, t.token, c.id), 0);
    ids[0] = a.id;
    ids[1] = b.id;
    cr_assert_eq(concert_order_pay(&p, db, t.token, ids, 2, NULL), 0, "%s",
                 concert_error_last()->message);
    expect_verify_clean(db);

    raw = raw_open();
    snprintf(sql, sizeof(sql),
             "UPDATE payments SET amount = amount + 1, reservation_id = %lld;"
             "UPDATE seats SET hold_reservation_id = %lld, hold_until = 1 WHERE number = 3;",
             (long long)b.id, (long long)c.id);
    raw_exec(raw, sql);
    sqlite3_close(raw);
    cr_assert_eq(concert_admin_verify(&rep, db), 0, "%s", concert_error_last()->message);
    cr_assert_eq(rep->violation_count, 2, "first: %s",
                 rep->violation_count ? rep->violations[0] : "");
    cr_assert(report_mentions(rep, "amount 2001 but its 2 reservations cost 2000"), "%s",
              rep->violations[0]);
    cr_assert(report_mentions(rep, "RELEASED but seat 10/3 still points at it"), "%s",
              rep->violations[1]);
    concert_verify_report_free(rep);

    raw = raw_open();
    raw_exec(raw, "UPDATE payments SET amount = amount - 1;"
                  "UPDATE seats SET hold_reservation_id = NULL, hold_until = 0 WHERE number = 3;");
    sqlite3_close(raw);
    cr_assert_eq(concert_admin_verify(&rep, db), 0);
    cr_assert_eq(rep->violation_count, 1);
    cr_assert(report_mentions(rep, "not the first of its order"), "%s", rep->violations[0]);
    concert_verify_report_free(rep);
    concert_db_close(db);
}

/* A child process holds seat after seat with the buyer's token until the
 * store refuses it; exit 0 when that refusal is TOKEN_INVALID. Past the
 * last seat it keeps asking for that one (its own hold, reported again
 * after the same token check), so a slow payment cannot run it out of
 * seats; a bound keeps it from spinning if the payment never comes. */
static void fence_child(int ready_fd, const char *token, int64_t schedule, int seats)
{
    concert_options o = options();
    concert_db *child = NULL;
    concert_reservation r;
    int rc = 0, seat = 2;

    o.max_holds_per_user = 0;
    o.queue_refresh_ms = 0;
    if (concert_db_open(&child, uri, &o) != 0 || write(ready_fd, "r", 1) != 1)
        _exit(1);
    for (long tries = 0; tries < 100000L; tries++) {
        rc = concert_reserve_seat(&r, child, token, schedule, seat);
        if (rc != 0)
            break;
        if (seat < seats)
            seat++;
    }
    concert_db_close(child);
    _exit(rc == CONCERT_ETOKEN_INVALID ? 0 : rc == 0 ? 3 : 2);
}

/* The fence across processes: a hold that commits after the payment that
 * ended its token would be logged after the token's end by the triggers
 * added here behind the library's back. Ten rounds, the payment started at
 * a different moment of the child's run each time. */
Test(sqlite, a_hold_from_another_process_never_lands_after_its_token_was_spent)
{
    enum {
        ROUNDS = 10,
        SEATS = 1000
    };
    const concert_catalog_user users[] = { { 1, "Kim", 1000000 } };
    const concert_catalog_seat_range seats[] = { { 1, SEATS, "R", 1 } };
    concert_catalog_schedule schedules[ROUNDS];
    const concert_catalog_concert concerts[] = { { 1, "Race", CONCERT_STATUS_OPEN, 0, schedules,
                                                   ROUNDS } };
    const concert_catalog cat = { CONCERT_CATALOG_VERSION, users, 1, concerts, 1 };
    concert_db *db = open_with_hold_limit(0);
    int64_t holds;
    sqlite3 *raw;

    for (int i = 0; i < ROUNDS; i++)
        schedules[i] = (concert_catalog_schedule){ 100 + i, T0 + DAY, seats, 1 };
    cr_assert_eq(concert_catalog_load(db, &cat), 0, "%s", concert_error_last()->message);
    raw = raw_open();
    raw_exec(raw, "CREATE TABLE fence_log (seq INTEGER PRIMARY KEY, what TEXT);"
                  "CREATE TRIGGER fence_hold AFTER INSERT ON reservations BEGIN"
                  "  INSERT INTO fence_log (what) VALUES ('hold'); END;"
                  "CREATE TRIGGER fence_end AFTER UPDATE OF state ON tokens"
                  "  WHEN new.state = 3 AND old.state <> 3 BEGIN"
                  "  INSERT INTO fence_log (what) VALUES ('end'); END;");
    for (int round = 0; round < ROUNDS; round++) {
        concert_token_info t;
        concert_reservation r;
        concert_payment p;
        /* 0 to 9 ms between the child's start and the payment: the early
         * rounds race the child's first hold, the later ones let it hold
         * some seats first even on a slow build (ASan, a loaded machine). */
        struct timespec pause = { 0, (long)round * 1000000L };
        int ready[2], status = 0;
        char byte;
        pid_t pid;

        cr_assert_eq(concert_queue_issue(&t, db, 1), 0);
        cr_assert_eq(t.state, CONCERT_TOKEN_ACTIVE);
        cr_assert_eq(concert_reserve_seat(&r, db, t.token, 100 + round, 1), 0);
        cr_assert_eq(pipe(ready), 0);
        pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
            close(ready[0]);
            fence_child(ready[1], t.token, 100 + round, SEATS);
        }
        close(ready[1]);
        cr_assert_eq(read(ready[0], &byte, 1), 1, "the child could not open the store");
        close(ready[0]);
        nanosleep(&pause, NULL);
        cr_assert_eq(concert_pay(&p, db, t.token, r.id, NULL), 0, "%s",
                     concert_error_last()->message);
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "round %d: the child ended with %d (3: never refused)", round,
                  WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        cr_assert_eq(raw_int(raw, "SELECT count(*) FROM fence_log WHERE what = 'hold' AND seq >"
                                  " (SELECT max(seq) FROM fence_log WHERE what = 'end')"),
                     0, "round %d: a hold landed after its token was spent", round);
    }
    /* A figure: how far each child got before the payment stopped it. */
    holds = raw_int(raw, "SELECT count(*) FROM fence_log WHERE what = 'hold'") - ROUNDS;
    fprintf(stderr, "sqlite fence race: the children held %lld seats before %d payments\n",
            (long long)holds, ROUNDS);
    cr_assert_gt(holds, 0, "the children held seats before the payments (a race took place)");
    sqlite3_close(raw);
    expect_verify_clean(db);
    concert_db_close(db);
}

/* ---- schema 5: list versions and retention (issue 12) ---- */

#define SECOND INT64_C(1000)

static int version_equal(const concert_list_version *a, const concert_list_version *b)
{
    return a->epoch == b->epoch && a->changes == b->changes &&
           a->expired_through == b->expired_through && a->past == b->past;
}

static concert_list_version seats_version(concert_db *db, const char *token, int64_t schedule)
{
    concert_list_version v;
    int rc = concert_seat_list_version_get(&v, db, token, schedule);
    cr_assert_eq(rc, 0, "seats_version: %s", concert_error_last()->message);
    return v;
}

static concert_list_version schedules_version(concert_db *db, const char *token, int64_t concert)
{
    concert_list_version v;
    int rc = concert_schedule_list_version_get(&v, db, token, concert);
    cr_assert_eq(rc, 0, "schedules_version: %s", concert_error_last()->message);
    return v;
}

static concert_token_info active_token(concert_db *db, int64_t user)
{
    concert_token_info t;
    cr_assert_eq(concert_queue_issue(&t, db, user), 0, "%s", concert_error_last()->message);
    cr_assert_eq(t.state, CONCERT_TOKEN_ACTIVE);
    return t;
}

/* Commits by any connection to the file, as another connection sees them. */
static int64_t data_version(sqlite3 *raw)
{
    return raw_int(raw, "PRAGMA data_version");
}

/*
 * The counter lives in the file: every hold, release and sale bumps its
 * schedule's row once, in the step's own commit, and the version is read
 * without writing anything (no commit reaches the file). The epoch is the
 * file's.
 */
Test(sqlite, list_versions_come_from_the_file_and_reading_them_writes_nothing)
{
    concert_db *db = open_store();
    concert_token_info kim, lee;
    concert_reservation r;
    concert_payment p;
    concert_list_version v0, v1, v2, v3, c0, c1;
    int64_t bal, commits;
    sqlite3 *raw;

    load_small_catalog(db);
    kim = active_token(db, 1);
    lee = active_token(db, 3);
    raw = raw_open();
    v0 = seats_version(db, kim.token, 10);
    c0 = schedules_version(db, kim.token, 1);
    cr_assert_eq(v0.epoch, raw_int(raw, "SELECT epoch FROM store_identity"));
    cr_assert_eq(c0.epoch, v0.epoch);
    cr_assert_eq(v0.changes, 0);
    cr_assert_eq(v0.expired_through, 0);
    cr_assert_eq(v0.past, 0);
    cr_assert_eq(c0.past, 0);

    commits = data_version(raw);
    for (int i = 0; i < 20; i++) {
        v1 = seats_version(db, kim.token, 10);
        c1 = schedules_version(db, kim.token, 1);
        cr_assert(version_equal(&v0, &v1) && version_equal(&c0, &c1));
    }
    cr_assert_eq(data_version(raw), commits, "reading versions committed something");

    /* A charge and a join change no seat: no version moves. */
    cr_assert_eq(concert_charge_points(&bal, db, 2, 5, "k"), 0);
    kim = active_token(db, 1);
    v1 = seats_version(db, kim.token, 10);
    cr_assert(version_equal(&v0, &v1));

    cr_assert_eq(concert_reserve_seat(&r, db, kim.token, 10, 1), 0);
    cr_assert_eq(raw_int(raw, "SELECT changes FROM schedules WHERE id = 10"), 1);
    cr_assert_eq(concert_reservation_release(&r, db, kim.token, r.id), 0);
    cr_assert_eq(raw_int(raw, "SELECT changes FROM schedules WHERE id = 10"), 2);
    /* Releasing it again changes no seat. */
    cr_assert_eq(concert_reservation_release(&r, db, kim.token, r.id), 0);
    cr_assert_eq(raw_int(raw, "SELECT changes FROM schedules WHERE id = 10"), 2);
    /* An order of two seats on two schedules: each schedule's counter. */
    cr_assert_eq(concert_reserve_seat(&r, db, lee.token, 10, 2), 0);
    {
        concert_reservation r2;
        int64_t order[2];
        cr_assert_eq(concert_reserve_seat(&r2, db, lee.token, 11, 2), 0);
        order[0] = r.id;
        order[1] = r2.id;
        cr_assert_eq(concert_order_pay(&p, db, lee.token, order, 2, NULL), 0, "%s",
                     concert_error_last()->message);
    }
    cr_assert_eq(raw_int(raw, "SELECT changes FROM schedules WHERE id = 10"), 4);
    cr_assert_eq(raw_int(raw, "SELECT changes FROM schedules WHERE id = 11"), 2);
    v2 = seats_version(db, kim.token, 10);
    c1 = schedules_version(db, kim.token, 1);
    cr_assert_eq(v2.changes, 4);
    cr_assert_eq(c1.changes, 6, "a concert's changes are its schedules'");

    /* A hold running out: at held_until exactly, and then not again. */
    cr_assert_eq(concert_reserve_seat(&r, db, kim.token, 10, 3), 0);
    v2 = seats_version(db, kim.token, 10);
    atomic_store(&fake_now, r.held_until - 1);
    kim = active_token(db, 1);
    v3 = seats_version(db, kim.token, 10);
    cr_assert(version_equal(&v2, &v3), "nothing ran out yet");
    atomic_store(&fake_now, r.held_until);
    v3 = seats_version(db, kim.token, 10);
    cr_assert_eq(v3.changes, v2.changes);
    cr_assert_eq(v3.expired_through, r.held_until);
    c1 = schedules_version(db, kim.token, 1);
    cr_assert_eq(c1.expired_through, r.held_until);
    /* The token's own check may write (admission runs when the queue is
     * due); the version read after it must not. */
    atomic_store(&fake_now, r.held_until + MINUTE);
    kim = active_token(db, 1);
    commits = data_version(raw);
    v2 = seats_version(db, kim.token, 10);
    cr_assert(version_equal(&v2, &v3));
    cr_assert_eq(data_version(raw), commits, "noticing an expiry writes nothing");
    sqlite3_close(raw);
    expect_verify_clean(db);
    concert_db_close(db);

    /* The epoch belongs to the file: the same after reopening. */
    db = open_store();
    kim = active_token(db, 1);
    v3 = seats_version(db, kim.token, 10);
    cr_assert_eq(v3.epoch, v0.epoch);
    cr_assert_eq(v3.changes, 5);
    concert_db_close(db);
}

/* Two files start with counters at 0: their epochs tell them apart. */
Test(sqlite, two_files_have_two_epochs)
{
    concert_db *db = open_store();
    concert_token_info t;
    concert_list_version a, b;
    load_small_catalog(db);
    t = active_token(db, 1);
    a = seats_version(db, t.token, 10);
    concert_db_close(db);
    remove_dir();
    make_dir();
    db = open_store();
    load_small_catalog(db);
    t = active_token(db, 1);
    b = seats_version(db, t.token, 10);
    cr_assert_eq(a.changes, b.changes);
    cr_assert_neq(a.epoch, b.epoch, "two stores, one epoch");
    concert_db_close(db);
}

/* The version never falls back to reading a schedule's seats: without its
 * index (dropped behind the library's back) it is an error. */
Test(sqlite, the_version_reads_an_index_never_the_seats)
{
    concert_db *db = open_store();
    concert_token_info t;
    concert_list_version v;
    sqlite3 *raw;
    int rc;

    load_small_catalog(db);
    t = active_token(db, 1);
    cr_assert_eq(concert_seat_list_version_get(&v, db, t.token, 10), 0);
    raw = raw_open();
    cr_assert_eq(raw_int(raw, "SELECT count(*) FROM sqlite_master WHERE name ="
                              " 'seats_held_by_expiry' AND sql LIKE '%WHERE hold_until > 0%'"),
                 1);
    raw_exec(raw, "DROP INDEX seats_held_by_expiry");
    sqlite3_close(raw);
    rc = concert_seat_list_version_get(&v, db, t.token, 10);
    cr_assert_neq(rc, 0, "a version without its index");
    cr_assert(strstr(concert_error_last()->message, "seats_held_by_expiry"), "%s",
              concert_error_last()->message);
    concert_db_close(db);
}

/* What version 4 wrote: MIGRATION_4 frozen as libconcert 0.3 ran it. */
static const char V4_EXTRA[] =
    "CREATE TABLE reservations_v4 (id INTEGER PRIMARY KEY,"
    "  user_id INTEGER NOT NULL REFERENCES users (id), schedule_id INTEGER NOT NULL,"
    "  seat_number INTEGER NOT NULL, price INTEGER NOT NULL CHECK (price >= 0),"
    "  status INTEGER NOT NULL CHECK (status IN (1, 2, 4)), held_until INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL, payment_id INTEGER REFERENCES payments (id),"
    "  FOREIGN KEY (schedule_id, seat_number) REFERENCES seats (schedule_id, number),"
    "  CHECK (payment_id IS NULL OR status = 2));"
    "INSERT INTO reservations_v4 SELECT r.id, r.user_id, r.schedule_id, r.seat_number, r.price,"
    "  r.status, r.held_until, r.created_at,"
    "  CASE WHEN r.status = 2 THEN (SELECT p.id FROM payments p WHERE p.reservation_id = r.id)"
    "  END FROM reservations r ORDER BY r.id;"
    "DROP TABLE reservations;"
    "ALTER TABLE reservations_v4 RENAME TO reservations;"
    "CREATE UNIQUE INDEX reservations_one_sale_per_seat"
    "  ON reservations (schedule_id, seat_number) WHERE status = 2;"
    "CREATE INDEX reservations_by_user ON reservations (user_id, status, held_until);"
    "CREATE INDEX reservations_by_payment ON reservations (payment_id)"
    "  WHERE payment_id IS NOT NULL;"
    "ALTER TABLE concerts ADD COLUMN max_per_user INTEGER NOT NULL DEFAULT 0"
    "  CHECK (max_per_user >= 0);"
    "PRAGMA user_version = 4;";

static concert_db *open_with_retention(int64_t retention_ms)
{
    concert_options o = options();
    concert_db *db = NULL;
    o.retention_ms = retention_ms;
    o.max_holds_per_user = 0;
    o.queue_refresh_ms = 0; /* every call reaches the store: this tests the store */
    cr_assert_eq(concert_db_open(&db, uri, &o), 0, "%s", concert_error_last()->message);
    return db;
}

/*
 * A version-4 store (V3_DATA migrated by 0.3: Kim's ENDED token and her key
 * "order-1", Lee's ACTIVE token and his hold of seat 2 until T0 + 5 min)
 * gets an epoch, counters at 0, and an end time for Kim's token that is
 * never early: max(expires_at, last_seen + wait_ttl) = T0 + 10 min. Then
 * versions and retention work on it as on a new store.
 */
Test(sqlite, a_version_4_store_migrates_to_versions_and_retention)
{
    concert_db *db;
    concert_token_info t;
    concert_list_version v;
    concert_prune_report rep;
    concert_queue_stats st;
    sqlite3 *raw;

    write_v3_store(NULL);
    raw = raw_open();
    raw_exec(raw, V4_EXTRA);
    sqlite3_close(raw);
    db = open_with_retention(SECOND);

    raw = raw_open();
    cr_assert_eq(raw_int(raw, "PRAGMA user_version"), 6);
    cr_assert_eq(raw_int(raw, "SELECT count(*) FROM store_identity"), 1);
    cr_assert_eq(raw_int(raw, "SELECT sum(changes) FROM schedules"), 0);
    cr_assert_eq(raw_int(raw, "SELECT ended_at FROM tokens WHERE token = '" TOKEN_A "'"),
                 T0 + 10 * MINUTE);
    cr_assert_eq(raw_int(raw, "SELECT ended_at FROM tokens WHERE token = '" TOKEN_B "'"), 0,
                 "an open token has no end yet");
    cr_assert_eq(raw_int(raw, "SELECT count(*) FROM sqlite_master WHERE name IN "
                              "('seats_held_by_expiry', 'tokens_ended_by_time', "
                              "'tokens_waiting_by_seen', 'idempotency_by_age')"),
                 4);
    sqlite3_close(raw);
    expect_integrity_ok();
    expect_verify_clean(db);

    /* Lee's hold of seat 2 runs out at T0 + 5 min. */
    v = seats_version(db, TOKEN_B, 10);
    cr_assert_eq(v.changes, 0);
    cr_assert_eq(v.expired_through, 0);
    atomic_store(&fake_now, T0 + 5 * MINUTE);
    v = seats_version(db, TOKEN_B, 10);
    cr_assert_eq(v.expired_through, T0 + 5 * MINUTE);

    /* Kim's key went at T0 + 1 s; her token goes at T0 + 10 min + 1 s, and
     * Lee's, which ran out at T0 + 10 min without anyone settling it, with
     * it (the active counter follows). */
    atomic_store(&fake_now, T0 + 10 * MINUTE + SECOND - 1);
    cr_assert_eq(concert_admin_prune(&rep, db, 0), 0, "%s", concert_error_last()->message);
    cr_assert_eq(rep.tokens, 0);
    cr_assert_eq(rep.idempotency, 1);
    atomic_store(&fake_now, T0 + 10 * MINUTE + SECOND);
    cr_assert_eq(concert_admin_prune(&rep, db, 0), 0);
    cr_assert_eq(rep.tokens, 2);
    cr_assert_eq(rep.idempotency, 0);
    raw = raw_open();
    cr_assert_eq(raw_int(raw, "SELECT count(*) FROM tokens"), 0);
    cr_assert_eq(raw_int(raw, "SELECT active FROM queue_state"), 0);
    cr_assert_eq(raw_int(raw, "SELECT count(*) FROM payments"), 1, "the sale is a record");
    sqlite3_close(raw);
    expect_verify_clean(db);
    cr_assert_eq(concert_pay(NULL, db, TOKEN_A, 1, "order-1"), CONCERT_EINVAL);
    {
        concert_payment p;
        cr_assert_eq(concert_pay(&p, db, TOKEN_A, 1, "order-1"), CONCERT_ETOKEN_INVALID);
    }
    st = stats_of(db);
    cr_assert_eq(st.active, 0);
    t = active_token(db, 1);
    cr_assert_eq(t.state, CONCERT_TOKEN_ACTIVE);
    expect_verify_clean(db);
    concert_db_close(db);
}

/*
 * prune() takes the oldest due rows of every kind first, at most limit, and
 * nothing else: a key at T0, a sale's token and key at T0 + 100 ms, a key
 * at T0 + 200 ms; retention 1 s.
 */
Test(sqlite, prune_takes_the_oldest_first_and_only_what_is_due)
{
    concert_db *db = open_with_retention(SECOND);
    concert_token_info t;
    concert_reservation r;
    concert_payment p;
    concert_prune_report rep;
    int64_t bal;
    sqlite3 *raw;

    load_small_catalog(db);
    cr_assert_eq(concert_charge_points(&bal, db, 2, 10, "k1"), 0);
    atomic_store(&fake_now, T0 + 100);
    t = active_token(db, 1);
    cr_assert_eq(concert_reserve_seat(&r, db, t.token, 10, 1), 0);
    cr_assert_eq(concert_pay(&p, db, t.token, r.id, "p1"), 0);
    atomic_store(&fake_now, T0 + 200);
    cr_assert_eq(concert_charge_points(&bal, db, 2, 10, "k2"), 0);

    atomic_store(&fake_now, T0 + SECOND + 99); /* only k1 is due */
    cr_assert_eq(concert_admin_prune(&rep, db, 5), 0);
    cr_assert_eq(rep.idempotency, 1);
    cr_assert_eq(rep.tokens, 0);
    cr_assert_eq(rep.more, 0);

    atomic_store(&fake_now, T0 + SECOND + 200); /* all due */
    cr_assert_eq(concert_admin_prune(&rep, db, 1), 0);
    cr_assert_eq(rep.tokens + rep.idempotency, 1);
    cr_assert_eq(rep.more, 1);
    raw = raw_open();
    cr_assert_eq(raw_int(raw, "SELECT count(*) FROM idempotency WHERE key = 'k2'"), 1,
                 "the newest key is the last to go");
    cr_assert_eq(raw_int(raw, "SELECT count(*) FROM tokens") +
                     raw_int(raw, "SELECT count(*) FROM idempotency"),
                 2);
    cr_assert_eq(concert_admin_prune(&rep, db, 0), 0);
    cr_assert_eq(rep.tokens + rep.idempotency, 2);
    cr_assert_eq(rep.more, 0);
    cr_assert_eq(raw_int(raw, "SELECT count(*) FROM tokens"), 0);
    cr_assert_eq(raw_int(raw, "SELECT count(*) FROM idempotency"), 0);
    /* The records stay. */
    cr_assert_eq(raw_int(raw, "SELECT count(*) FROM reservations"), 1);
    cr_assert_eq(raw_int(raw, "SELECT count(*) FROM payments"), 1);
    cr_assert_eq(raw_int(raw, "SELECT count(*) FROM ledger"), 5);
    sqlite3_close(raw);
    cr_assert_eq(concert_admin_prune(&rep, db, 0), 0);
    cr_assert_eq(rep.tokens + rep.idempotency + rep.more, 0);
    expect_verify_clean(db);
    concert_db_close(db);
}

/*
 * Open tokens that nobody settled are pruned with their counters: an
 * ACTIVE one that ran out (active) and an idle pre-queued one (prequeued),
 * so that verify stays clean and the lottery later has nobody to place.
 */
Test(sqlite, pruned_open_tokens_leave_the_queue_counters_right)
{
    concert_options o = options();
    concert_db *db = NULL;
    concert_token_info a, w, again;
    concert_prune_report rep;
    concert_queue_stats st;

    o.retention_ms = SECOND;
    o.active_ttl_ms = MINUTE;
    o.wait_ttl_ms = MINUTE;
    o.queue_refresh_ms = 0;
    cr_assert_eq(concert_db_open(&db, uri, &o), 0, "%s", concert_error_last()->message);
    load_users(db, 2);
    a = active_token(db, 1);
    cr_assert_eq(concert_queue_schedule(db, T0 + 10 * MINUTE), 0);
    cr_assert_eq(concert_queue_issue(&w, db, 2), 0);
    cr_assert_eq(w.position, CONCERT_POSITION_PREQUEUE);

    atomic_store(&fake_now, T0 + MINUTE + SECOND - 1);
    cr_assert_eq(concert_admin_prune(&rep, db, 0), 0);
    cr_assert_eq(rep.tokens, 0, "both ended at T0 + 1 min, retained 1 s");
    atomic_store(&fake_now, T0 + MINUTE + SECOND);
    cr_assert_eq(concert_admin_prune(&rep, db, 0), 0, "%s", concert_error_last()->message);
    cr_assert_eq(rep.tokens, 2);
    expect_verify_clean(db);
    st = stats_of(db);
    cr_assert_eq(st.active, 0);
    cr_assert_eq(st.prequeued, 0);
    cr_assert_eq(concert_queue_status_get(&again, db, a.token), CONCERT_ETOKEN_INVALID);

    /* The opening places nobody; the buyer simply joins again. */
    atomic_store(&fake_now, T0 + 10 * MINUTE);
    again = active_token(db, 2);
    cr_assert_eq(stats_of(db).last_ticket, 2, "one ticket before, one now");
    expect_verify_clean(db);
    concert_db_close(db);
}

/*
 * Nobody calls prune(): 400 sales with keys, and 400 keyed charges, with
 * the clock moving 100 ms each (retention 1 s). The calls prune as they go,
 * so the tables hold what is open plus about a second's worth of rows,
 * never the history (which would be 400 tokens and 800 keys).
 */
Test(sqlite, the_calls_themselves_keep_tokens_and_keys_bounded)
{
    enum {
        CYCLES = 400,
        USERS = 3
    };
    const concert_catalog_user users[USERS] = { { 1, "A", 1000000 },
                                                { 2, "B", 1000000 },
                                                { 3, "C", 1000000 } };
    const concert_catalog_seat_range seats[] = { { 1, CYCLES, "R", 1 } };
    const concert_catalog_schedule schedules[] = { { 10, T0 + DAY, seats, 1 } };
    const concert_catalog_concert concerts[] = { { 1, "Season", CONCERT_STATUS_OPEN, 0, schedules,
                                                   1 } };
    const concert_catalog cat = { CONCERT_CATALOG_VERSION, users, USERS, concerts, 1 };
    concert_db *db = open_with_retention(SECOND);
    int64_t most_tokens = 0, most_keys = 0;
    sqlite3 *raw;

    cr_assert_eq(concert_catalog_load(db, &cat), 0, "%s", concert_error_last()->message);
    raw = raw_open();
    for (int i = 0; i < CYCLES; i++) {
        concert_token_info t = active_token(db, 1 + i % USERS);
        concert_reservation r;
        concert_payment p;
        int64_t bal, tokens, keys;
        char key[32];

        cr_assert_eq(concert_reserve_seat(&r, db, t.token, 10, 1 + i), 0, "%s",
                     concert_error_last()->message);
        snprintf(key, sizeof(key), "sale-%d", i);
        cr_assert_eq(concert_pay(&p, db, t.token, r.id, key), 0, "%s",
                     concert_error_last()->message);
        snprintf(key, sizeof(key), "topup-%d", i);
        cr_assert_eq(concert_charge_points(&bal, db, 1 + i % USERS, 1, key), 0);
        atomic_fetch_add(&fake_now, 100);
        tokens = raw_int(raw, "SELECT count(*) FROM tokens");
        keys = raw_int(raw, "SELECT count(*) FROM idempotency");
        most_tokens = tokens > most_tokens ? tokens : most_tokens;
        most_keys = keys > most_keys ? keys : most_keys;
    }
    /* A second holds 10 cycles: 10 ended tokens and 20 keys, plus the
     * cycle that made them due before the next call pruned them. */
    cr_assert_leq(most_tokens, 12, "tokens peaked at %lld", (long long)most_tokens);
    cr_assert_leq(most_keys, 22, "keys peaked at %lld", (long long)most_keys);
    cr_assert_eq(raw_int(raw, "SELECT count(*) FROM payments"), CYCLES, "sales are records");
    sqlite3_close(raw);
    fprintf(stderr, "sqlite retention: at most %lld tokens and %lld keys over %d cycles\n",
            (long long)most_tokens, (long long)most_keys, CYCLES);
    expect_verify_clean(db);
    concert_db_close(db);
}

/* ---- the seat map (storage version 5) and the backend's counters ---- */

typedef struct seat_states {
    concert_seat_state items[32];
    size_t count;
    size_t stop_after; /* > 0: the emitter refuses the item after that many */
} seat_states;

static int collect_state(void *ctx, const concert_seat_state *item)
{
    seat_states *m = ctx;
    if (m->stop_after > 0 && m->count == m->stop_after)
        return CONCERT_ENOMEM;
    cr_assert_lt(m->count, 32);
    m->items[m->count++] = *item;
    return 0;
}

typedef struct seat_numbers {
    int64_t numbers[32];
    size_t count;
} seat_numbers;

static int collect_number(void *ctx, const concert_seat *item)
{
    seat_numbers *l = ctx;
    cr_assert_lt(l->count, 32);
    l->numbers[l->count++] = item->number;
    return 0;
}

/* The storage table's map of schedule at now, checked against the free list
 * read at the same now: in seat order, and FREE exactly where free. */
static seat_states map_at(concert_storage *st, int64_t schedule, int64_t now)
{
    seat_states m = { 0 };
    seat_numbers free_list = { 0 };
    size_t f = 0;
    int rc = st->seat_map(st, schedule, now, collect_state, &m);
    cr_assert_eq(rc, 0, "seat_map: %s", concert_error_last()->message);
    rc = st->seats_available(st, schedule, now, collect_number, &free_list);
    cr_assert_eq(rc, 0, "seats_available: %s", concert_error_last()->message);
    for (size_t i = 0; i < m.count; i++) {
        const concert_seat_state *s = &m.items[i];
        if (i > 0)
            cr_assert_gt(s->seat.number, m.items[i - 1].seat.number, "seat-number order");
        cr_assert(s->status == CONCERT_SEAT_FREE || s->status == CONCERT_SEAT_HELD ||
                      s->status == CONCERT_SEAT_SOLD,
                  "seat %lld: status %d", (long long)s->seat.number, s->status);
        cr_assert_eq(s->reserved, 0);
        if (s->status == CONCERT_SEAT_HELD)
            cr_assert_gt(s->held_until, now, "seat %lld", (long long)s->seat.number);
        else
            cr_assert_eq(s->held_until, 0, "seat %lld", (long long)s->seat.number);
        if (s->status == CONCERT_SEAT_FREE) {
            cr_assert_lt(f, free_list.count, "seat %lld FREE but not listed",
                         (long long)s->seat.number);
            cr_assert_eq(free_list.numbers[f], s->seat.number);
            f++;
        }
    }
    cr_assert_eq(f, free_list.count, "the free list has seats the map does not call FREE");
    return m;
}

static const concert_seat_state *seat_in(const seat_states *m, int64_t number)
{
    for (size_t i = 0; i < m->count; i++) {
        if (m->items[i].seat.number == number)
            return &m->items[i];
    }
    cr_assert_fail("seat %lld is missing from the map", (long long)number);
    return NULL;
}

static void expect_seat(const seat_states *m, int64_t number, int status, int64_t held_until)
{
    const concert_seat_state *s = seat_in(m, number);
    cr_assert_eq(s->status, status, "seat %lld: %s, expected %s", (long long)number,
                 concert_seat_status_name(s->status), concert_seat_status_name(status));
    cr_assert_eq(s->held_until, held_until, "seat %lld", (long long)number);
}

/* Another process holds seat 9 of schedule 10 for user 3 on its own handle. */
static void hold_in_child(void)
{
    concert_options o = options();
    concert_db *child = NULL;
    concert_token_info t;
    concert_reservation r;
    int rc = 1;

    if (concert_db_open(&child, uri, &o) == 0 && concert_queue_issue(&t, child, 3) == 0 &&
        t.state == CONCERT_TOKEN_ACTIVE)
        rc = concert_reserve_seat(&r, child, t.token, 10, 9) == 0 ? 0 : 2;
    concert_db_close(child);
    _exit(rc);
}

Test(sqlite, the_seat_map_reads_every_seat_with_its_state)
{
    concert_options o = options();
    concert_db *db = open_store();
    concert_storage *st = NULL;
    concert_token_info kim;
    concert_reservation r3, r5;
    concert_payment pay;
    seat_states m;
    int status = -1;
    pid_t child;

    load_small_catalog(db);
    /* A second handle on the file, used through its storage table only. */
    cr_assert_eq(concert_storage_sqlite_open(&st, path, &o), 0, "%s",
                 concert_error_last()->message);
    cr_assert_eq(st->version, CONCERT_STORAGE_VERSION);

    m = map_at(st, 10, T0);
    cr_assert_eq(m.count, 10);
    for (size_t i = 0; i < m.count; i++) {
        cr_assert_eq(m.items[i].seat.number, (int64_t)i + 1);
        cr_assert_eq(m.items[i].seat.price, 1000);
        cr_assert_str_eq(m.items[i].seat.grade, "VIP");
        cr_assert_eq(m.items[i].status, CONCERT_SEAT_FREE);
    }

    cr_assert_eq(concert_queue_issue(&kim, db, 1), 0);
    cr_assert_eq(concert_reserve_seat(&r3, db, kim.token, 10, 3), 0);
    atomic_fetch_add(&fake_now, MINUTE);
    cr_assert_eq(concert_reserve_seat(&r5, db, kim.token, 10, 5), 0);
    child = fork();
    cr_assert_neq(child, -1);
    if (child == 0)
        hold_in_child();
    cr_assert_eq(waitpid(child, &status, 0), child);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: status %d", status);

    m = map_at(st, 10, T0 + MINUTE);
    expect_seat(&m, 3, CONCERT_SEAT_HELD, r3.held_until);
    expect_seat(&m, 5, CONCERT_SEAT_HELD, r5.held_until);
    cr_assert_eq(seat_in(&m, 9)->status, CONCERT_SEAT_HELD, "another process's hold");
    /* The child's clock stood where ours does: its hold runs out with r5. */
    cr_assert_eq(seat_in(&m, 9)->held_until, r5.held_until);
    expect_seat(&m, 1, CONCERT_SEAT_FREE, 0);
    /* Schedule 11 shares nothing. */
    m = map_at(st, 11, T0 + MINUTE);
    cr_assert_eq(m.count, 10);
    for (size_t i = 0; i < m.count; i++)
        cr_assert_eq(m.items[i].status, CONCERT_SEAT_FREE);

    /* Expiry is at now: held one millisecond before held_until, free at it. */
    m = map_at(st, 10, r3.held_until - 1);
    expect_seat(&m, 3, CONCERT_SEAT_HELD, r3.held_until);
    m = map_at(st, 10, r3.held_until);
    expect_seat(&m, 3, CONCERT_SEAT_FREE, 0);
    expect_seat(&m, 5, CONCERT_SEAT_HELD, r5.held_until);

    /* Released: free at once. Paid: sold, with no hold time. */
    cr_assert_eq(concert_reservation_release(&r5, db, kim.token, r5.id), 0, "%s",
                 concert_error_last()->message);
    cr_assert_eq(concert_pay(&pay, db, kim.token, r3.id, NULL), 0, "%s",
                 concert_error_last()->message);
    m = map_at(st, 10, T0 + MINUTE);
    expect_seat(&m, 5, CONCERT_SEAT_FREE, 0);
    expect_seat(&m, 3, CONCERT_SEAT_SOLD, 0);
    cr_assert_eq(seat_in(&m, 9)->status, CONCERT_SEAT_HELD);
    /* Sold stays sold long after any hold would have run out. */
    m = map_at(st, 10, T0 + DAY);
    expect_seat(&m, 3, CONCERT_SEAT_SOLD, 0);
    expect_seat(&m, 9, CONCERT_SEAT_FREE, 0);

    /* An emitter's error stops the map and is its answer; the reader's
     * statement is left clean for the next call. */
    m = (seat_states){ .stop_after = 2 };
    cr_assert_eq(st->seat_map(st, 10, T0, collect_state, &m), CONCERT_ENOMEM);
    cr_assert_eq(m.count, 2);
    m = map_at(st, 10, T0 + MINUTE);
    cr_assert_eq(m.count, 10);

    st->free(st);
    expect_verify_clean(db);
    concert_db_close(db);
}

/* Retries: the busy handler's waits for a lock another process holds, one
 * per statement that waited, counted on the handle that waited. */
Test(sqlite, counters_count_the_waits_for_another_writer)
{
    concert_options o = options();
    concert_storage *st = NULL;
    concert_storage_counters c = { 99, 99 };
    concert_db_stats stats;
    concert_db *db = NULL;
    sqlite3 *raw;
    int64_t bal;
    int rc;

    o.busy_timeout_ms = 100;
    cr_assert_eq(concert_storage_sqlite_open(&st, path, &o), 0, "%s",
                 concert_error_last()->message);
    cr_assert_not_null(st->counters);
    cr_assert_eq(concert_db_open_storage(&db, st, &o), 0, "%s", concert_error_last()->message);
    load_small_catalog(db);
    cr_assert_eq(concert_charge_points(&bal, db, 1, 5, NULL), 0);
    cr_assert_eq(st->counters(st, &c), 0);
    cr_assert_eq(c.retries, 0, "nothing waited yet");
    cr_assert_eq(c.reconnects, 0);

    raw = raw_open();
    raw_exec(raw, "BEGIN IMMEDIATE");
    rc = concert_charge_points(&bal, db, 1, 5, NULL);
    cr_assert_eq(rc, CONCERT_EBUSY, "got %s", concert_error_name(rc));
    cr_assert_eq(concert_points_balance_get(&bal, db, 1), 0, "a WAL read does not wait");
    cr_assert_eq(st->counters(st, &c), 0);
    cr_assert_eq(c.retries, 1, "one statement waited");
    cr_assert_eq(c.reconnects, 0);
    raw_exec(raw, "COMMIT");
    sqlite3_close(raw);
    cr_assert_eq(concert_charge_points(&bal, db, 1, 5, NULL), 0);
    cr_assert_eq(st->counters(st, &c), 0);
    cr_assert_eq(c.retries, 1, "an uncontended write does not wait");

    stats.version = CONCERT_DB_STATS_VERSION;
    cr_assert_eq(concert_db_stats_get(&stats, db), 0, "%s", concert_error_last()->message);
    cr_assert_eq(stats.storage_retries, 1);
    cr_assert_eq(stats.storage_reconnects, 0);
    concert_db_close(db); /* frees st */
}
