/*
 * Test harness for the behaviour suite: one store per test, picked by the
 * environment, and a fake clock.
 *
 *   CONCERT_TEST_STORE=memory    (default) a fresh in-memory store
 *   CONCERT_TEST_STORE=sqlite    a fresh SQLite file in a temp directory
 *   CONCERT_TEST_STORE=postgres  a fresh database on the server whose libpq
 *                                conninfo is in the file named by
 *                                CONCERT_TEST_PG_CONNINFO_FILE
 */
#ifndef CONCERT_TEST_HARNESS_H
#define CONCERT_TEST_HARNESS_H

#include <concert/concert.h>

/* 2027-01-15T08:00:00Z: tests start here and move the clock by hand. */
#define T0 INT64_C(1800000000000)
#define SECOND INT64_C(1000)
#define MINUTE (60 * SECOND)
#define HOUR (60 * MINUTE)
#define DAY (24 * HOUR)

extern concert_db *db;

void clock_set(int64_t ms);
void clock_advance(int64_t ms);
int64_t clock_now(void);

/* Options with the fake clock installed; tweak, then store_open(). */
concert_options test_options(void);
/* Open a fresh store of the configured kind (closing any open one). */
void store_open(const concert_options *opts);
/* Open another handle on the SAME store (not for memory: returns NULL). */
concert_db *store_open_again(const concert_options *opts);
void store_close(void);
/* Close any open store and prepare a fresh empty one without opening it;
 * store_uri_get() names it (for opening it some other way). */
void store_prepare(void);
const char *store_uri_get(void);
const char *store_kind(void);

/* Criterion init/fini for suites that want a default store and catalog. */
void setup_store(void);
void setup_store_with_catalog(void);
void teardown_store(void);

/*
 * The standard catalog (times relative to T0):
 *  users: 1 Kim 100000 pts, 2 Lee 0 pts, 3 Park 50000 pts, 4..67 "buyer N" 1000 pts
 *  concert 1 OPEN "Winter Gala":
 *     schedule 10 at T0+1d: seats 1-10 VIP 30000, 11-50 R 10000
 *     schedule 11 at T0-1h (closed: cutoff is 20 min)
 *     schedule 12 at T0+2d: seats 1-5 S 5000
 *  concert 2 PENDING "Spring Preview": schedule 20 at T0+30d, seats 1-10 R 1000
 *  concert 3 CLOSED "Autumn Finale":   schedule 30 at T0+1d, seats 1-10 R 1000
 *  concert 4 OPEN "Last Year's Show":  schedule 40 at T0-2d (closed)
 *  concert 5 OPEN "Unscheduled":       no schedules
 */
void standard_catalog_load(void);

/*
 * A second catalog for the per-buyer limits and orders (load it after the
 * standard one):
 *  users: 100 "Rich A" and 101 "Rich B" 1000000000 pts, 102 "Poor" 150 pts
 *  concert 7 OPEN "Family Day", max_per_user 2: schedule 70 at T0+1d,
 *     seats 1-20 R 100
 *  concert 8 OPEN "Big Hall": schedule 80 at T0+1d, seats 1-5000 G 1
 */
void limits_catalog_load(void);

/* Issue a token for user and assert it is ACTIVE; returns it (static buffer
 * per call site is the caller's concern: copies into out). */
void issue_active(int64_t user_id, concert_token_info *out);

/* Assert rc == expected, printing the library's error detail otherwise. */
#define expect_rc(call, expected)                                                                  \
    do {                                                                                           \
        int rc__ = (call);                                                                         \
        cr_assert_eq(rc__, (expected), "%s returned %s (%d), expected %s: %s", #call,              \
                     concert_error_name(rc__), rc__, concert_error_name(expected),                 \
                     concert_error_last()->message);                                               \
    } while (0)

#define expect_ok(call) expect_rc(call, CONCERT_OK)

#endif
