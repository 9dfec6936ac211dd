#define _DEFAULT_SOURCE /* mkdtemp */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef CONCERT_TEST_HAVE_LIBPQ
#include <libpq-fe.h>
#endif

#include "harness.h"

concert_db *db;

static _Atomic int64_t fake_now = T0;
static char store_uri[1024];
static char temp_dir[256];
#ifdef CONCERT_TEST_HAVE_LIBPQ
static char pg_base[512];
static char pg_dbname[64];
#endif

void clock_set(int64_t ms)
{
    atomic_store(&fake_now, ms);
}

void clock_advance(int64_t ms)
{
    atomic_fetch_add(&fake_now, ms);
}

int64_t clock_now(void)
{
    return atomic_load(&fake_now);
}

static int64_t fake_clock(void *ctx)
{
    (void)ctx;
    return atomic_load(&fake_now);
}

concert_options test_options(void)
{
    concert_options o;
    concert_options_init(&o, CONCERT_OPTIONS_VERSION);
    o.clock = fake_clock;
    return o;
}

const char *store_kind(void)
{
    const char *k = getenv("CONCERT_TEST_STORE");
    return k && *k ? k : "memory";
}

#ifdef CONCERT_TEST_HAVE_LIBPQ
static void pg_exec_admin(const char *sql)
{
    PGconn *c = PQconnectdb(pg_base);
    PGresult *r;
    cr_assert(PQstatus(c) == CONNECTION_OK, "cannot reach the test PostgreSQL (%s): %s", pg_base,
              PQerrorMessage(c));
    r = PQexec(c, sql);
    cr_assert(PQresultStatus(r) == PGRES_COMMAND_OK, "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

static void pg_prepare(void)
{
    const char *file = getenv("CONCERT_TEST_PG_CONNINFO_FILE");
    FILE *f;
    char sql[128];
    static unsigned counter;

    cr_assert(file && *file, "CONCERT_TEST_STORE=postgres needs CONCERT_TEST_PG_CONNINFO_FILE");
    f = fopen(file, "r");
    cr_assert(f, "cannot read %s (is the test PostgreSQL server running?)", file);
    cr_assert(fgets(pg_base, sizeof(pg_base), f), "empty %s", file);
    fclose(f);
    pg_base[strcspn(pg_base, "\r\n")] = '\0';
    snprintf(pg_dbname, sizeof(pg_dbname), "concert_t_%ld_%u_%ld", (long)getpid(), counter++,
             (long)(rand() % 100000));
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", pg_dbname);
    pg_exec_admin(sql);
    snprintf(store_uri, sizeof(store_uri), "%s dbname=%s", pg_base, pg_dbname);
}

static void pg_drop(void)
{
    char sql[160];
    if (!pg_dbname[0])
        return;
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", pg_dbname);
    pg_exec_admin(sql);
    pg_dbname[0] = '\0';
}
#endif

static void store_remove(void)
{
    if (temp_dir[0]) {
        char path[400];
        static const char *const SUFFIXES[] = { "", "-wal", "-shm", "-journal" };
        for (size_t i = 0; i < 4; i++) {
            snprintf(path, sizeof(path), "%s/store.db%s", temp_dir, SUFFIXES[i]);
            unlink(path);
        }
        rmdir(temp_dir);
        temp_dir[0] = '\0';
    }
#ifdef CONCERT_TEST_HAVE_LIBPQ
    pg_drop();
#endif
}

void store_close(void)
{
    concert_db_close(db);
    db = NULL;
    store_remove();
}

const char *store_uri_get(void)
{
    return store_uri;
}

/* A fresh, empty store of the configured kind; its URI in store_uri. */
void store_prepare(void)
{
    const char *kind = store_kind();

    store_close();
    if (strcmp(kind, "memory") == 0) {
        snprintf(store_uri, sizeof(store_uri), "memory:");
    } else if (strcmp(kind, "sqlite") == 0) {
        const char *tmp = getenv("TMPDIR");
        snprintf(temp_dir, sizeof(temp_dir), "%s/concert-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        cr_assert(mkdtemp(temp_dir), "mkdtemp failed");
        snprintf(store_uri, sizeof(store_uri), "sqlite:%s/store.db", temp_dir);
    } else if (strcmp(kind, "postgres") == 0) {
#ifdef CONCERT_TEST_HAVE_LIBPQ
        pg_prepare();
#else
        cr_assert_fail("this test build has no libpq: cannot run CONCERT_TEST_STORE=postgres");
#endif
    } else {
        cr_assert_fail("unknown CONCERT_TEST_STORE \"%s\" (memory, sqlite, postgres)", kind);
    }
}

void store_open(const concert_options *opts)
{
    concert_options defaults = test_options();
    int rc;

    store_prepare();
    rc = concert_db_open(&db, store_uri, opts ? opts : &defaults);
    cr_assert_eq(rc, 0, "concert_db_open(%s): %s", store_uri, concert_error_last()->message);
}

concert_db *store_open_again(const concert_options *opts)
{
    concert_options defaults = test_options();
    concert_db *other = NULL;
    if (strcmp(store_kind(), "memory") == 0)
        return NULL;
    cr_assert_eq(concert_db_open(&other, store_uri, opts ? opts : &defaults), 0, "reopen: %s",
                 concert_error_last()->message);
    return other;
}

void setup_store(void)
{
    clock_set(T0);
    store_open(NULL);
}

void setup_store_with_catalog(void)
{
    setup_store();
    standard_catalog_load();
}

void teardown_store(void)
{
    store_close();
}

void issue_active(int64_t user_id, concert_token_info *out)
{
    int rc = concert_queue_issue(out, db, user_id);
    cr_assert_eq(rc, 0, "queue_issue(%lld): %s", (long long)user_id, concert_error_last()->message);
    cr_assert_eq(out->state, CONCERT_TOKEN_ACTIVE, "user %lld's token is not ACTIVE",
                 (long long)user_id);
}

void standard_catalog_load(void)
{
    static char names[64][32];
    concert_catalog_user users[67];
    const concert_catalog_seat_range s10[] = { { 1, 10, "VIP", 30000 }, { 11, 50, "R", 10000 } };
    const concert_catalog_seat_range s12[] = { { 1, 5, "S", 5000 } };
    const concert_catalog_seat_range s20[] = { { 1, 10, "R", 1000 } };
    const concert_catalog_seat_range s30[] = { { 1, 10, "R", 1000 } };
    const concert_catalog_seat_range s40[] = { { 1, 10, "R", 1000 } };
    const concert_catalog_schedule c1[] = { { 10, T0 + DAY, s10, 2 },
                                            { 11, T0 - HOUR, s12, 1 },
                                            { 12, T0 + 2 * DAY, s12, 1 } };
    const concert_catalog_schedule c2[] = { { 20, T0 + 30 * DAY, s20, 1 } };
    const concert_catalog_schedule c3[] = { { 30, T0 + DAY, s30, 1 } };
    const concert_catalog_schedule c4[] = { { 40, T0 - 2 * DAY, s40, 1 } };
    const concert_catalog_concert concerts[] = {
        { 1, "Winter Gala", CONCERT_STATUS_OPEN, 0, c1, 3 },
        { 2, "Spring Preview", CONCERT_STATUS_PENDING, 0, c2, 1 },
        { 3, "Autumn Finale", CONCERT_STATUS_CLOSED, 0, c3, 1 },
        { 4, "Last Year's Show", CONCERT_STATUS_OPEN, 0, c4, 1 },
        { 5, "Unscheduled", CONCERT_STATUS_OPEN, 0, NULL, 0 },
    };
    concert_catalog catalog = { CONCERT_CATALOG_VERSION, users, 67, concerts, 5 };
    int rc;

    users[0] = (concert_catalog_user){ 1, "Kim", 100000 };
    users[1] = (concert_catalog_user){ 2, "Lee", 0 };
    users[2] = (concert_catalog_user){ 3, "Park", 50000 };
    for (int i = 3; i < 67; i++) {
        snprintf(names[i - 3], sizeof(names[0]), "buyer %d", i + 1);
        users[i] = (concert_catalog_user){ i + 1, names[i - 3], 1000 };
    }
    rc = concert_catalog_load(db, &catalog);
    cr_assert_eq(rc, 0, "standard catalog: %s", concert_error_last()->message);
}

void limits_catalog_load(void)
{
    const concert_catalog_user users[] = { { 100, "Rich A", 1000000000 },
                                           { 101, "Rich B", 1000000000 },
                                           { 102, "Poor", 150 } };
    const concert_catalog_seat_range s70[] = { { 1, 20, "R", 100 } };
    const concert_catalog_seat_range s80[] = { { 1, 5000, "G", 1 } };
    const concert_catalog_schedule c7[] = { { 70, T0 + DAY, s70, 1 } };
    const concert_catalog_schedule c8[] = { { 80, T0 + DAY, s80, 1 } };
    const concert_catalog_concert concerts[] = {
        { 7, "Family Day", CONCERT_STATUS_OPEN, 2, c7, 1 },
        { 8, "Big Hall", CONCERT_STATUS_OPEN, 0, c8, 1 },
    };
    concert_catalog catalog = { CONCERT_CATALOG_VERSION, users, 3, concerts, 2 };
    int rc = concert_catalog_load(db, &catalog);
    cr_assert_eq(rc, 0, "limits catalog: %s", concert_error_last()->message);
}
