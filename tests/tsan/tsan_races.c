/*
 * The thread races of the behaviour suite, without Criterion (whose shared
 * arena cannot be set up under ThreadSanitizer), for the TSan pass of
 * scripts/test.sh. Usage: tsan_races STORE_URI   (a fresh, empty store)
 * Exit status 0 when every race ended as the rules say.
 */
#include <stdio.h>
#include <string.h>

#include "races.h"

#define THREADS 64
#define FIRST_BUYER 100

static int failures, checks;

static void check(int ok, const char *what)
{
    checks++;
    printf("%s %s\n", ok ? "ok  " : "FAIL", what);
    if (!ok)
        failures++;
}

static int load_catalog(concert_db *db)
{
    concert_catalog_user users[THREADS + 3];
    char names[THREADS + 3][16];
    concert_catalog_seat_range seats[] = { { 1, 200, "R", 100 } };
    concert_catalog_schedule schedules[] = { { 10, concert_db_now(db) + 86400000, seats, 1 } };
    concert_catalog_concert concerts[] = { { 1, "Race", CONCERT_STATUS_OPEN, 0, schedules, 1 } };
    concert_catalog c = { CONCERT_CATALOG_VERSION, users, THREADS + 3, concerts, 1 };
    users[0] = (concert_catalog_user){ 1, "payer", 1000 };
    users[1] = (concert_catalog_user){ 2, "charged", 0 };
    users[THREADS + 2] = (concert_catalog_user){ 3, "hoarder", 0 };
    for (int i = 0; i < THREADS; i++) {
        snprintf(names[i], sizeof(names[i]), "buyer %d", i);
        users[i + 2] = (concert_catalog_user){ FIRST_BUYER + i, names[i], 0 };
    }
    return concert_catalog_load(db, &c);
}

int main(int argc, char **argv)
{
    concert_db *db = NULL;
    concert_options o;
    concert_token_info tokens[THREADS], payer, hoarder;
    concert_reservation r;
    race_result res;
    int64_t bal, expected = 0;

    if (argc != 2) {
        fprintf(stderr, "usage: %s STORE_URI\n", argv[0]);
        return 2;
    }
    concert_options_init(&o, CONCERT_OPTIONS_VERSION);
    o.max_active = 200;
    if (concert_db_open(&db, argv[1], &o) != 0 || load_catalog(db) != 0) {
        fprintf(stderr, "setup: %s\n", concert_error_last()->message);
        return 1;
    }

    race_join_queue(db, FIRST_BUYER, THREADS, tokens, &res);
    check(res.successes == THREADS, "64 threads join the queue");
    race_reserve_same_seat(db, tokens, THREADS, 10, 5, &res);
    check(res.successes == 1 && res.expected == THREADS - 1 && res.others == 0,
          "64 threads, one seat, one winner");
    /* A buyer of their own: any of the racers above may have won seat 5,
     * which would count against the limit. */
    if (concert_queue_issue(&hoarder, db, 3) != 0) {
        fprintf(stderr, "setup hoarder: %s\n", concert_error_last()->message);
        return 1;
    }
    race_hold_with_one_token(db, hoarder.token, THREADS, 10, 100, &res);
    if (res.others)
        fprintf(stderr, "hold race: %d held, %d refused, %d others (first %s: %s)\n", res.successes,
                res.expected, res.others, concert_error_name(res.first_other_rc),
                res.first_other_message);
    check(res.successes == CONCERT_DEFAULT_MAX_HOLDS_PER_USER &&
              res.expected == THREADS - CONCERT_DEFAULT_MAX_HOLDS_PER_USER && res.others == 0,
          "64 threads holding with one buyer's token: exactly the limit lands");

    race_charge_one_user(db, 2, THREADS, &res);
    for (int i = 0; i < THREADS; i++)
        expected += 10 * (1 + i);
    check(res.others == 0 && concert_points_balance_get(&bal, db, 2) == 0 && bal == expected,
          "64 threads charging one user give the exact sum");

    if (concert_queue_issue(&payer, db, 1) != 0 ||
        concert_reserve_seat(&r, db, payer.token, 10, 1) != 0) {
        fprintf(stderr, "setup payment: %s\n", concert_error_last()->message);
        return 1;
    }
    race_pay_one_reservation(db, payer.token, r.id, NULL, THREADS, &res);
    check(res.successes == 1 && res.others == 0 && concert_points_balance_get(&bal, db, 1) == 0 &&
              bal == 900,
          "64 threads paying one reservation give one payment");

    concert_db_close(db);

    /* The queue cache: a fresh store where most buyers wait (for SQLite, a
     * second file beside the first). */
    {
        char uri[1024];
        snprintf(uri, sizeof(uri), "%s%s", argv[1],
                 strncmp(argv[1], "sqlite:", 7) == 0 ? "-poll" : "");
        o.max_active = 8;
        db = NULL;
        if (concert_db_open(&db, uri, &o) != 0 || load_catalog(db) != 0) {
            fprintf(stderr, "setup polls: %s\n", concert_error_last()->message);
            return 1;
        }
        race_join_queue(db, FIRST_BUYER, THREADS, tokens, &res);
        check(res.successes == THREADS, "64 threads join a queue with room for 8");
        race_poll_queue(db, tokens, THREADS, 8, 200, &res);
        check(res.others == 0 && res.successes > 0,
              "7 threads poll while one makes buyers leave: positions never go up");
        concert_db_close(db);
    }
    printf("%d passed, %d failed\n", checks - failures, failures);
    return failures ? 1 : 0;
}
