/*
 * PostgreSQL backend tests beyond the shared behaviour suite: schema
 * creation and versioning, the database's own invariants, connection
 * strings, the pool under many threads, reconnecting after a server restart
 * and failing fast while the server is down.
 *
 * They run against a private throwaway server (tests/pg/start.sh) because
 * they stop and restart it:
 *   CONCERT_TEST_PG_CONNINFO_FILE  its libpq conninfo (start.sh writes it;
 *                                  "<file>.tcp" holds the TCP form)
 *   CONCERT_TEST_PG_CTL            tests/pg/ctl.sh, to stop and start it
 * Run with --jobs 1: the tests share the server and some of them stop it.
 */
#define _DEFAULT_SOURCE
#include <concert/concert.h>
#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define T0 INT64_C(1800000000000)
#define DAY INT64_C(86400000)

static char base_conninfo[512]; /* the server, database "postgres" */
static char tcp_conninfo[512];
static char dbname[64];
static char store[700]; /* conninfo of this test's fresh database */

static int64_t fixed_clock(void *ctx)
{
    (void)ctx;
    return T0;
}

static concert_options options(void)
{
    concert_options o;
    concert_options_init(&o, CONCERT_OPTIONS_VERSION);
    o.clock = fixed_clock;
    return o;
}

static void read_line(const char *path, char *out, size_t size)
{
    FILE *f = fopen(path, "r");
    cr_assert(f, "cannot read %s: is the private test PostgreSQL server running?", path);
    cr_assert(fgets(out, (int)size, f), "%s is empty", path);
    fclose(f);
    out[strcspn(out, "\r\n")] = '\0';
}

/* Run SQL as the administrator on database db (NULL: the base database). */
static void admin_exec(const char *db, const char *sql)
{
    char conninfo[700];
    PGconn *c;
    PGresult *r;
    snprintf(conninfo, sizeof(conninfo), "%s%s%s", base_conninfo, db ? " dbname=" : "",
             db ? db : "");
    c = PQconnectdb(conninfo);
    cr_assert(PQstatus(c) == CONNECTION_OK, "admin connection: %s", PQerrorMessage(c));
    r = PQexec(c, sql);
    cr_assert(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
              "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

/* The SQLSTATE of sql run on this test's database, "" if it succeeded. */
static void admin_try(const char *sql, char state[6])
{
    char conninfo[700];
    PGconn *c;
    PGresult *r;
    const char *s;
    snprintf(conninfo, sizeof(conninfo), "%s dbname=%s", base_conninfo, dbname);
    c = PQconnectdb(conninfo);
    cr_assert(PQstatus(c) == CONNECTION_OK, "admin connection: %s", PQerrorMessage(c));
    r = PQexec(c, sql);
    s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    snprintf(state, 6, "%s", s ? s : "");
    PQclear(r);
    PQfinish(c);
}

static int64_t admin_int(const char *sql)
{
    char conninfo[700];
    PGconn *c;
    PGresult *r;
    int64_t v;
    snprintf(conninfo, sizeof(conninfo), "%s dbname=%s", base_conninfo, dbname);
    c = PQconnectdb(conninfo);
    cr_assert(PQstatus(c) == CONNECTION_OK, "admin connection: %s", PQerrorMessage(c));
    r = PQexec(c, sql);
    cr_assert(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1, "%s: %s", sql,
              PQerrorMessage(c));
    v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    PQfinish(c);
    return v;
}

static void server(const char *action)
{
    const char *ctl = getenv("CONCERT_TEST_PG_CTL");
    const char *file = getenv("CONCERT_TEST_PG_CONNINFO_FILE");
    char cmd[1200];
    cr_assert(ctl && file, "CONCERT_TEST_PG_CTL and CONCERT_TEST_PG_CONNINFO_FILE must be set");
    snprintf(cmd, sizeof(cmd), "'%s' '%s' %s", ctl, file, action);
    cr_assert_eq(system(cmd), 0, "%s failed", cmd);
}

static void setup(void)
{
    const char *file = getenv("CONCERT_TEST_PG_CONNINFO_FILE");
    char tcp_file[600];
    static unsigned counter;
    char sql[128];

    cr_assert(file && *file, "CONCERT_TEST_PG_CONNINFO_FILE must name the server's conninfo");
    read_line(file, base_conninfo, sizeof(base_conninfo));
    snprintf(tcp_file, sizeof(tcp_file), "%s.tcp", file);
    read_line(tcp_file, tcp_conninfo, sizeof(tcp_conninfo));
    snprintf(dbname, sizeof(dbname), "concert_pgt_%ld_%u", (long)getpid(), counter++);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", dbname);
    admin_exec(NULL, sql);
    snprintf(store, sizeof(store), "%s dbname=%s", base_conninfo, dbname);
}

static void teardown(void)
{
    char sql[128];
    /* A test that stopped the server must not leave it down for the next. */
    const char *ctl = getenv("CONCERT_TEST_PG_CTL");
    const char *file = getenv("CONCERT_TEST_PG_CONNINFO_FILE");
    PGconn *c = PQconnectdb(base_conninfo);
    int up = PQstatus(c) == CONNECTION_OK;
    PQfinish(c);
    if (!up && ctl && file) {
        char cmd[1200];
        snprintf(cmd, sizeof(cmd), "'%s' '%s' start", ctl, file);
        if (system(cmd) != 0)
            fprintf(stderr, "could not start the test server again\n");
    }
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", dbname);
    admin_exec(NULL, sql);
}

TestSuite(postgres, .init = setup, .fini = teardown, .timeout = 120);

static concert_db *open_store(const concert_options *o)
{
    concert_db *db = NULL;
    concert_options defaults = options();
    int rc = concert_open(&db, store, o ? o : &defaults);
    cr_assert_eq(rc, 0, "concert_open(%s): %s", store, concert_error_last()->message);
    return db;
}

/* Users 1..40 with 1000 points; concert 1 OPEN, schedule 10 with seats 1..200. */
static void load_catalog(concert_db *db)
{
    static char names[40][16];
    concert_catalog_user users[40];
    const concert_catalog_seat_range seats[] = {{1, 200, "R", 100}};
    const concert_catalog_schedule schedules[] = {{10, T0 + DAY, seats, 1}};
    const concert_catalog_concert concerts[] = {{1, "Test", CONCERT_STATUS_OPEN, 0, schedules, 1}};
    concert_catalog c = {CONCERT_CATALOG_VERSION, users, 40, concerts, 1};
    for (int i = 0; i < 40; i++) {
        snprintf(names[i], sizeof(names[i]), "user %d", i + 1);
        users[i] = (concert_catalog_user){i + 1, names[i], 1000};
    }
    cr_assert_eq(concert_catalog_load(db, &c), 0, "catalog: %s", concert_error_last()->message);
}

Test(postgres, schema_is_created_on_first_open_and_versioned)
{
    concert_db *db = open_store(NULL);
    cr_assert_str_eq(concert_backend_name(db), "postgresql");
    concert_close(db);
    cr_assert_eq(admin_int("SELECT value FROM concert.meta WHERE name = 'schema_version'"), 2);
    cr_assert_eq(admin_int("SELECT count(*) FROM pg_tables WHERE schemaname = 'concert'"), 11);
    /* Opening again changes nothing. */
    db = open_store(NULL);
    concert_close(db);
    cr_assert_eq(admin_int("SELECT value FROM concert.meta WHERE name = 'schema_version'"), 2);
}

Test(postgres, a_newer_schema_is_refused)
{
    concert_db *db = open_store(NULL);
    concert_options o = options();
    concert_close(db);
    admin_exec(dbname, "UPDATE concert.meta SET value = 99 WHERE name = 'schema_version'");
    cr_assert_eq(concert_open(&db, store, &o), CONCERT_ESCHEMA);
    cr_assert_null(db);
    cr_assert(strstr(concert_error_last()->message, "99"), "message: %s",
              concert_error_last()->message);
    /* Nothing was touched. */
    cr_assert_eq(admin_int("SELECT value FROM concert.meta WHERE name = 'schema_version'"), 99);
}

Test(postgres, an_older_schema_migrates_forward)
{
    concert_db *db = open_store(NULL);
    concert_token_info t;
    concert_close(db);
    /* A version 1 store: tables, no server-side functions yet. */
    admin_exec(dbname, "SET client_min_messages = warning; DROP SCHEMA concert_fn CASCADE;"
                       "UPDATE concert.meta SET value = 1 WHERE name = 'schema_version'");
    db = open_store(NULL);
    cr_assert_eq(admin_int("SELECT value FROM concert.meta WHERE name = 'schema_version'"), 2);
    load_catalog(db);
    cr_assert_eq(concert_queue_issue(&t, db, 1), 0, "%s", concert_error_last()->message);
    cr_assert_eq(t.state, CONCERT_TOKEN_ACTIVE);
    concert_close(db);
}

Test(postgres, concurrent_first_opens_create_the_schema_once)
{
    enum { PROCS = 6 };
    pid_t pids[PROCS];
    for (int i = 0; i < PROCS; i++) {
        pids[i] = fork();
        cr_assert_neq(pids[i], -1);
        if (pids[i] == 0) {
            concert_db *db = NULL;
            concert_options o = options();
            int rc = concert_open(&db, store, &o);
            if (rc != 0)
                fprintf(stderr, "open: %s\n", concert_error_last()->message);
            concert_close(db);
            _exit(rc == 0 ? 0 : 1);
        }
    }
    for (int i = 0; i < PROCS; i++) {
        int status = 0;
        cr_assert_eq(waitpid(pids[i], &status, 0), pids[i]);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "process %d failed to open", i);
    }
    cr_assert_eq(admin_int("SELECT value FROM concert.meta WHERE name = 'schema_version'"), 2);
}

Test(postgres, uri_and_conninfo_forms_open_the_same_store)
{
    char uri[900], host[64] = "", port[16] = "";
    const char *p;
    concert_options o = options();
    concert_db *db = open_store(NULL);
    int64_t balance = 0;
    load_catalog(db);
    concert_close(db);

    /* tcp_conninfo is "host=127.0.0.1 port=N user=concert dbname=postgres". */
    p = strstr(tcp_conninfo, "host=");
    cr_assert(p && sscanf(p, "host=%63s", host) == 1);
    p = strstr(tcp_conninfo, "port=");
    cr_assert(p && sscanf(p, "port=%15s", port) == 1);
    for (int scheme = 0; scheme < 2; scheme++) {
        snprintf(uri, sizeof(uri), "%s://concert@%s:%s/%s?connect_timeout=2",
                 scheme ? "postgres" : "postgresql", host, port, dbname);
        cr_assert_eq(concert_open(&db, uri, &o), 0, "%s: %s", uri, concert_error_last()->message);
        cr_assert_eq(concert_points_balance(&balance, db, 3), 0);
        cr_assert_eq(balance, 1000);
        concert_close(db);
    }
    cr_assert_eq(concert_open(&db, "host='unterminated", &o), CONCERT_EINVAL);
    cr_assert_null(db);
    cr_assert(strncmp(concert_error_last()->message, "postgresql:", 11) == 0, "message: %s",
              concert_error_last()->message);
}

Test(postgres, the_database_itself_refuses_broken_invariants)
{
    char state[6];
    concert_db *db = open_store(NULL);
    concert_token_info t;
    concert_reservation r;
    concert_payment pay;
    load_catalog(db);
    cr_assert_eq(concert_queue_issue(&t, db, 1), 0);
    cr_assert_eq(concert_reserve_seat(&r, db, t.token, 10, 7), 0);
    cr_assert_eq(concert_pay(&pay, db, t.token, r.id, NULL), 0, "%s",
                 concert_error_last()->message);
    concert_close(db);

    admin_try("UPDATE concert.users SET balance = -1 WHERE id = 2", state);
    cr_assert_str_eq(state, "23514", "negative balance: CHECK");
    /* A second CONFIRMED reservation of the sold seat. */
    admin_try("INSERT INTO concert.reservations (id, user_id, schedule_id, seat_number, price, "
              "status, held_until, created_at) VALUES (nextval('concert.reservation_ids'), 2, 10, "
              "7, 100, 2, 0, 0)",
              state);
    cr_assert_str_eq(state, "23505", "second sale of a seat: UNIQUE");
    admin_try("INSERT INTO concert.payments (reservation_id, user_id, amount, balance_after, "
              "paid_at) SELECT id, user_id, price, 0, 0 FROM concert.reservations LIMIT 1",
              state);
    cr_assert_str_eq(state, "23505", "second payment of a reservation: UNIQUE");
    admin_try("INSERT INTO concert.idempotency VALUES (1, 'charge', 'k', 'f', NULL, 0, 0), "
              "(1, 'charge', 'k', 'g', NULL, 0, 0)",
              state);
    cr_assert_str_eq(state, "23505", "idempotency key: UNIQUE (user, operation, key)");
    admin_try("INSERT INTO concert.ledger (user_id, type, amount, balance_after, at) "
              "VALUES (999, 1, 5, 5, 0)",
              state);
    cr_assert_str_eq(state, "23503", "ledger of a missing user: FOREIGN KEY");
}

Test(postgres, verify_is_clean_after_a_sale_and_finds_a_tampered_balance)
{
    concert_db *db = open_store(NULL);
    concert_verify_report *rep = NULL;
    concert_token_info t;
    concert_reservation r;
    concert_payment pay;
    load_catalog(db);
    cr_assert_eq(concert_queue_issue(&t, db, 1), 0);
    cr_assert_eq(concert_reserve_seat(&r, db, t.token, 10, 1), 0);
    cr_assert_eq(concert_pay(&pay, db, t.token, r.id, "key-1"), 0);
    cr_assert_eq(concert_verify(&rep, db), 0, "%s", concert_error_last()->message);
    cr_assert_eq(rep->violation_count, 0, "first violation: %s",
                 rep->violation_count ? rep->violations[0] : "");
    cr_assert_eq(rep->users, 40);
    cr_assert_eq(rep->seats, 200);
    cr_assert_eq(rep->seats_sold, 1);
    cr_assert_eq(rep->payments, 1);
    concert_verify_report_free(rep);

    admin_exec(dbname, "UPDATE concert.users SET balance = balance + 5 WHERE id = 1");
    cr_assert_eq(concert_verify(&rep, db), 0);
    cr_assert_eq(rep->violation_count, 1);
    cr_assert(strstr(rep->violations[0], "user 1"), "%s", rep->violations[0]);
    concert_verify_report_free(rep);
    concert_close(db);
}

/* ---- the pool under many threads ---- */

typedef struct worker {
    concert_db *db;
    int index;
    atomic_int *failures;
} worker;

static void *charge_and_hold(void *arg)
{
    worker *w = arg;
    concert_token_info t;
    concert_reservation r;
    for (int k = 0; k < 25; k++) {
        if (concert_charge_points(NULL, w->db, 40, 1, NULL) != 0)
            atomic_fetch_add(w->failures, 1);
    }
    if (concert_queue_issue(&t, w->db, w->index + 1) != 0 ||
        concert_reserve_seat(&r, w->db, t.token, 10, w->index + 1) != 0 || r.is_new != 1)
        atomic_fetch_add(w->failures, 1);
    return NULL;
}

Test(postgres, a_small_pool_serves_many_threads)
{
    enum { THREADS = 32 };
    concert_options o = options();
    pthread_t th[THREADS];
    worker w[THREADS];
    atomic_int failures = 0;
    concert_seat_list *seats = NULL;
    concert_token_info t;
    int64_t balance = 0;
    concert_db *db;

    o.pool_size = 3;
    db = open_store(&o);
    load_catalog(db);
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){db, i, &failures};
        cr_assert_eq(pthread_create(&th[i], NULL, charge_and_hold, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    cr_assert_eq(atomic_load(&failures), 0, "%d calls failed", atomic_load(&failures));
    cr_assert_eq(concert_points_balance(&balance, db, 40), 0);
    cr_assert_eq(balance, 1000 + THREADS * 25);
    cr_assert_eq(concert_queue_issue(&t, db, 40), 0);
    cr_assert_eq(concert_seats_available(&seats, db, t.token, 10), 0);
    cr_assert_eq(seats->count, 200 - THREADS);
    concert_seat_list_free(seats);
    cr_assert_lt(admin_int("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                           "'libconcert'"),
                 4, "the pool opened more connections than pool_size");
    concert_close(db);
}

/* ---- restarts and outages ---- */

static void *read_balance(void *arg)
{
    worker *w = arg;
    int64_t balance;
    if (concert_points_balance(&balance, w->db, w->index + 1) != 0) {
        fprintf(stderr, "balance after restart: %s\n", concert_error_last()->message);
        atomic_fetch_add(w->failures, 1);
    }
    return NULL;
}

/* Use every pooled connection at once, so that all of them are open. */
static int all_connections_read(concert_db *db, int n)
{
    pthread_t th[16];
    worker w[16];
    atomic_int failures = 0;
    for (int i = 0; i < n; i++) {
        w[i] = (worker){db, i, &failures};
        pthread_create(&th[i], NULL, read_balance, &w[i]);
    }
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    return atomic_load(&failures);
}

Test(postgres, reconnects_by_itself_after_the_server_restarts)
{
    concert_options o = options();
    concert_db *db;
    concert_token_info t;
    int64_t balance = 0;

    o.pool_size = 4;
    db = open_store(&o);
    load_catalog(db);
    cr_assert_eq(all_connections_read(db, 8), 0);

    server("restart");
    /* Every connection in the pool died with the old server; no call sees it. */
    cr_assert_eq(all_connections_read(db, 8), 0, "calls failed after the restart");
    cr_assert_eq(concert_charge_points(&balance, db, 5, 10, "after-restart"), 0, "%s",
                 concert_error_last()->message);
    cr_assert_eq(balance, 1010);
    cr_assert_eq(concert_queue_issue(&t, db, 5), 0, "%s", concert_error_last()->message);
    concert_close(db);
}

static double seconds_since(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

Test(postgres, fails_fast_while_the_server_is_down_then_recovers)
{
    concert_options o = options();
    concert_db *db, *other = NULL;
    struct timespec start;
    int64_t balance = 0;
    const char *msg;
    double took;

    o.pool_size = 4;
    db = open_store(&o);
    load_catalog(db);
    cr_assert_eq(all_connections_read(db, 4), 0);

    server("stop");
    clock_gettime(CLOCK_MONOTONIC, &start);
    cr_assert_eq(concert_points_balance(&balance, db, 1), CONCERT_ESTORAGE);
    msg = concert_error_last()->message;
    cr_assert(strncmp(msg, "postgresql:", 11) == 0, "message: %s", msg);
    cr_assert_null(strstr(msg, "SQLSTATE"), "message leaks a SQLSTATE: %s", msg);
    cr_assert_eq(concert_charge_points(&balance, db, 1, 5, NULL), CONCERT_ESTORAGE);
    cr_assert_eq(concert_open(&other, store, &o), CONCERT_ESTORAGE);
    cr_assert_null(other);
    took = seconds_since(&start);
    cr_assert_lt(took, 5.0, "three calls while down took %.2f s", took);

    server("start");
    cr_assert_eq(concert_points_balance(&balance, db, 1), 0, "after the server came back: %s",
                 concert_error_last()->message);
    cr_assert_eq(balance, 1000, "the failed charge must not have been applied");
    cr_assert_eq(all_connections_read(db, 8), 0);
    concert_close(db);
}
