/*
 * The demo catalog: loads into an empty store only, holds every concert
 * state, past and future schedules relative to the store's clock, graded
 * seats, users with and without points, and passes verify.
 * Runs on the store named by CONCERT_TEST_STORE (default "memory:").
 */
#include "catalog_json.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

/* 2026-11-25T21:30:00Z: not on a day boundary, so "today 19:00" is past. */
static int64_t fake_now = INT64_C(1795642200000);

static int64_t fake_clock(void *ctx)
{
    (void)ctx;
    return fake_now;
}

static concert_db *open_store(void)
{
    concert_options opts;
    cr_assert_eq(concert_options_init(&opts, CONCERT_OPTIONS_VERSION), 0);
    opts.clock = fake_clock;
    const char *uri = getenv("CONCERT_TEST_STORE");
    concert_db *db = NULL;
    const int rc = concert_db_open(&db, uri != NULL && uri[0] ? uri : "memory:", &opts);
    cr_assert_eq(rc, 0, "concert_db_open: %s", concert_error_last()->message);
    return db;
}

static int64_t balance_of(concert_db *db, int64_t user)
{
    int64_t balance = -1;
    cr_assert_eq(concert_points_balance_get(&balance, db, user), 0);
    return balance;
}

Test(demo_catalog, loads_once_with_every_state)
{
    concert_db *db = open_store();
    char err[256];
    int loaded = -1;
    cr_assert_eq(catalog_demo_load_if_empty(db, &loaded, err, sizeof err), 0, "%s", err);
    cr_expect_eq(loaded, 1);

    concert_user_list *users = NULL;
    cr_assert_eq(concert_admin_user_list_get(&users, db), 0);
    cr_expect_geq(users->count, 2);
    concert_user_list_free(users);
    cr_expect_eq(balance_of(db, 1), 500000);
    cr_expect_eq(balance_of(db, 2), 0);

    concert_concert_list *concerts = NULL;
    cr_assert_eq(concert_admin_concert_list_get(&concerts, db), 0);
    int seen[4] = { 0, 0, 0, 0 };
    for (size_t i = 0; i < concerts->count; i++) {
        const int status = concerts->items[i].status;
        cr_assert(status >= 1 && status <= 3);
        seen[status]++;
    }
    concert_concert_list_free(concerts);
    cr_expect_gt(seen[CONCERT_STATUS_OPEN], 0);
    cr_expect_gt(seen[CONCERT_STATUS_PENDING], 0);
    cr_expect_gt(seen[CONCERT_STATUS_CLOSED], 0);

    /* A second call leaves the store alone. */
    loaded = -1;
    cr_expect_eq(catalog_demo_load_if_empty(db, &loaded, err, sizeof err), 0, "%s", err);
    cr_expect_eq(loaded, 0);
    cr_expect_eq(balance_of(db, 1), 500000);

    concert_verify_report *report = NULL;
    cr_assert_eq(concert_admin_verify(&report, db), 0);
    cr_expect_eq(report->violation_count, 0);
    cr_expect_gt(report->seats, 0);
    concert_verify_report_free(report);
    concert_db_close(db);
}

Test(demo_catalog, schedules_past_and_future_with_graded_seats)
{
    concert_db *db = open_store();
    char err[256];
    cr_assert_eq(catalog_demo_load_if_empty(db, NULL, err, sizeof err), 0, "%s", err);

    concert_token_info token;
    cr_assert_eq(concert_queue_issue(&token, db, 1), 0);
    cr_assert_eq(token.state, CONCERT_TOKEN_ACTIVE);

    /* Concert 1 has one schedule in the past and two ahead. */
    concert_schedule_list *schedules = NULL;
    cr_assert_eq(concert_schedule_list_get(&schedules, db, token.token, 1), 0, "%s",
                 concert_error_last()->message);
    cr_assert_eq(schedules->count, 2);
    for (size_t i = 0; i < schedules->count; i++) {
        cr_expect_gt(schedules->items[i].starts_at, fake_now);
        cr_expect_eq(schedules->items[i].available_seats, 300);
    }
    const int64_t schedule_id = schedules->items[0].id;
    concert_schedule_list_free(schedules);

    /* Graded seats with different prices. */
    concert_seat_list *seats = NULL;
    cr_assert_eq(concert_seats_available(&seats, db, token.token, schedule_id), 0);
    cr_assert_eq(seats->count, 300);
    cr_expect_str_eq(seats->items[0].grade, "VIP");
    cr_expect_str_eq(seats->items[299].grade, "S");
    cr_expect_gt(seats->items[0].price, seats->items[299].price);
    concert_seat_list_free(seats);

    /* An OPEN concert whose only schedule is past: booking closed.
     * PENDING and CLOSED concerts: not bookable. */
    cr_expect_eq(concert_schedule_list_get(&schedules, db, token.token, 5),
                 CONCERT_EBOOKING_CLOSED);
    cr_expect_eq(concert_schedule_list_get(&schedules, db, token.token, 3),
                 CONCERT_ECONCERT_NOT_BOOKABLE);
    cr_expect_eq(concert_schedule_list_get(&schedules, db, token.token, 4),
                 CONCERT_ECONCERT_NOT_BOOKABLE);
    concert_db_close(db);
}

Test(demo_catalog, not_loaded_into_a_store_with_data)
{
    concert_db *db = open_store();
    const concert_catalog_user user = { 77, "Someone", 10 };
    const concert_catalog catalog = { CONCERT_CATALOG_VERSION, &user, 1, NULL, 0 };
    cr_assert_eq(concert_catalog_load(db, &catalog), 0, "%s", concert_error_last()->message);
    char err[256];
    int loaded = -1;
    cr_expect_eq(catalog_demo_load_if_empty(db, &loaded, err, sizeof err), 0, "%s", err);
    cr_expect_eq(loaded, 0);
    int64_t balance;
    cr_expect_eq(concert_points_balance_get(&balance, db, 1), CONCERT_EUSER_NOT_FOUND);
    concert_db_close(db);
}
