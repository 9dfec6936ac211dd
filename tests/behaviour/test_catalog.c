/* Browsing rules 7-10 and catalog loading. */
#include <criterion/criterion.h>
#include <string.h>

#include "harness.h"

TestSuite(catalog, .init = setup_store_with_catalog, .fini = teardown_store);

Test(catalog, lists_only_open_concerts_in_id_order)
{
    concert_token_info t;
    concert_concert_list *list = NULL;
    issue_active(1, &t);
    expect_ok(concert_concert_list_get(&list, db, t.token));
    cr_assert_eq(list->count, 3);
    cr_assert_eq(list->items[0].id, 1);
    cr_assert_str_eq(list->items[0].title, "Winter Gala");
    cr_assert_eq(list->items[0].status, CONCERT_STATUS_OPEN);
    cr_assert_eq(list->items[1].id, 4);
    cr_assert_eq(list->items[2].id, 5);
    concert_concert_list_free(list);
}

Test(catalog, concert_get_found_missing_and_not_bookable)
{
    concert_token_info t;
    concert_concert c;
    issue_active(1, &t);
    expect_ok(concert_concert_get(&c, db, t.token, 1));
    cr_assert_str_eq(c.title, "Winter Gala");
    expect_rc(concert_concert_get(&c, db, t.token, 99), CONCERT_ECONCERT_NOT_FOUND);
    expect_rc(concert_concert_get(&c, db, t.token, 2), CONCERT_ECONCERT_NOT_BOOKABLE);
    expect_rc(concert_concert_get(&c, db, t.token, 3), CONCERT_ECONCERT_NOT_BOOKABLE);
}

Test(catalog, browsing_needs_a_valid_token)
{
    concert_concert c;
    concert_concert_list *list = NULL;
    expect_rc(concert_concert_list_get(&list, db, "bogusbogusbogus"), CONCERT_ETOKEN_INVALID);
    expect_rc(concert_concert_get(&c, db, NULL, 1), CONCERT_ETOKEN_INVALID);
}

Test(catalog, available_schedules_are_bookable_ones_with_free_counts)
{
    concert_token_info t;
    concert_schedule_list *list = NULL;
    concert_reservation r;
    issue_active(1, &t);
    expect_ok(concert_reserve_seat(&r, db, t.token, 10, 3));
    expect_ok(concert_schedule_list_get(&list, db, t.token, 1));
    cr_assert_eq(list->concert_id, 1);
    cr_assert_eq(list->count, 2, "schedule 11 started an hour ago: closed");
    cr_assert_eq(list->items[0].id, 10);
    cr_assert_eq(list->items[0].starts_at, T0 + DAY);
    cr_assert_eq(list->items[0].available_seats, 49);
    cr_assert_eq(list->items[1].id, 12);
    cr_assert_eq(list->items[1].available_seats, 5);
    concert_schedule_list_free(list);
}

Test(catalog, schedule_stays_bookable_until_start_plus_cutoff)
{
    concert_token_info t;
    concert_schedule_list *list = NULL;
    concert_seat_list *seats = NULL;
    clock_set(T0 + DAY + 19 * MINUTE);
    issue_active(1, &t);
    expect_ok(concert_seats_available(&seats, db, t.token, 10));
    concert_seat_list_free(seats);
    seats = NULL;
    clock_set(T0 + DAY + 20 * MINUTE);
    expect_rc(concert_seats_available(&seats, db, t.token, 10), CONCERT_EBOOKING_CLOSED);
    cr_assert_null(seats);
    expect_ok(concert_schedule_list_get(&list, db, t.token, 1));
    cr_assert_eq(list->count, 1);
    cr_assert_eq(list->items[0].id, 12);
    concert_schedule_list_free(list);
}

Test(catalog, all_schedules_past_is_booking_closed_none_at_all_is_empty)
{
    concert_token_info t;
    concert_schedule_list *list = NULL;
    issue_active(1, &t);
    expect_rc(concert_schedule_list_get(&list, db, t.token, 4), CONCERT_EBOOKING_CLOSED);
    cr_assert_null(list);
    expect_ok(concert_schedule_list_get(&list, db, t.token, 5));
    cr_assert_eq(list->count, 0);
    concert_schedule_list_free(list);
    expect_rc(concert_schedule_list_get(&list, db, t.token, 2), CONCERT_ECONCERT_NOT_BOOKABLE);
    expect_rc(concert_schedule_list_get(&list, db, t.token, 77), CONCERT_ECONCERT_NOT_FOUND);
}

Test(catalog, seats_listed_in_order_with_grade_and_price_minus_taken_ones)
{
    concert_token_info a, b;
    concert_seat_list *seats = NULL;
    concert_reservation r;
    concert_payment p;
    issue_active(1, &a);
    issue_active(3, &b);
    expect_ok(concert_reserve_seat(&r, db, a.token, 10, 1)); /* held */
    expect_ok(concert_reserve_seat(&r, db, b.token, 10, 11));
    expect_ok(concert_pay(&p, db, b.token, r.id, NULL)); /* sold */
    expect_ok(concert_seats_available(&seats, db, a.token, 10));
    cr_assert_eq(seats->schedule_id, 10);
    cr_assert_eq(seats->count, 48);
    cr_assert_eq(seats->items[0].number, 2);
    cr_assert_str_eq(seats->items[0].grade, "VIP");
    cr_assert_eq(seats->items[0].price, 30000);
    cr_assert_eq(seats->items[9].number, 12, "11 is sold");
    cr_assert_str_eq(seats->items[9].grade, "R");
    for (size_t i = 1; i < seats->count; i++)
        cr_assert_lt(seats->items[i - 1].number, seats->items[i].number);
    concert_seat_list_free(seats);
}

Test(catalog, seats_of_missing_pending_or_closed_schedules)
{
    concert_token_info t;
    concert_seat_list *seats = NULL;
    issue_active(1, &t);
    expect_rc(concert_seats_available(&seats, db, t.token, 999), CONCERT_ESCHEDULE_NOT_FOUND);
    expect_rc(concert_seats_available(&seats, db, t.token, 20), CONCERT_ECONCERT_NOT_BOOKABLE);
    expect_rc(concert_seats_available(&seats, db, t.token, 30), CONCERT_ECONCERT_NOT_BOOKABLE);
    expect_rc(concert_seats_available(&seats, db, t.token, 11), CONCERT_EBOOKING_CLOSED);
    expect_rc(concert_seats_available(&seats, db, t.token, 40), CONCERT_EBOOKING_CLOSED);
    cr_assert_null(seats);
}

Test(catalog, admin_lists_every_concert_and_user)
{
    concert_concert_list *list = NULL;
    concert_user_list *users = NULL;
    expect_ok(concert_admin_concert_list_get(&list, db));
    cr_assert_eq(list->count, 5);
    cr_assert_eq(list->items[1].status, CONCERT_STATUS_PENDING);
    concert_concert_list_free(list);
    expect_ok(concert_admin_user_list_get(&users, db));
    cr_assert_eq(users->count, 67);
    cr_assert_eq(users->items[0].id, 1);
    cr_assert_str_eq(users->items[0].name, "Kim");
    cr_assert_eq(users->items[0].balance, 100000);
    cr_assert_eq(users->items[1].balance, 0);
    concert_user_list_free(users);
}

/* ---- loading ---- */

static int count_concerts(void)
{
    concert_concert_list *list = NULL;
    int n;
    expect_ok(concert_admin_concert_list_get(&list, db));
    n = (int)list->count;
    concert_concert_list_free(list);
    return n;
}

static int count_users(void)
{
    concert_user_list *list = NULL;
    int n;
    expect_ok(concert_admin_user_list_get(&list, db));
    n = (int)list->count;
    concert_user_list_free(list);
    return n;
}

static void expect_load_fails(const concert_catalog *c, int code, const char *place)
{
    int users = count_users(), concerts = count_concerts();
    int rc = concert_catalog_load(db, c);
    cr_assert_eq(rc, code, "expected %s, got %s: %s", concert_error_name(code),
                 concert_error_name(rc), concert_error_last()->message);
    cr_assert(strstr(concert_error_last()->message, place), "message \"%s\" should name \"%s\"",
              concert_error_last()->message, place);
    cr_assert_eq(count_users(), users, "a failed load changed the users");
    cr_assert_eq(count_concerts(), concerts, "a failed load changed the concerts");
}

Test(catalog, load_rejects_bad_fields_naming_the_place)
{
    concert_catalog_user u[] = { { 100, "New", 0 }, { 101, "Also new", 10 } };
    concert_catalog_seat_range good[] = { { 1, 5, "R", 100 } };
    concert_catalog_seat_range backwards[] = { { 1, 5, "R", 100 }, { 9, 8, "R", 100 } };
    concert_catalog_seat_range overlap[] = { { 1, 5, "R", 100 },
                                             { 6, 9, "S", 100 },
                                             { 3, 7, "R", 1 } };
    concert_catalog_seat_range negative[] = { { 1, 5, "R", -1 } };
    concert_catalog_schedule s_backwards[] = { { 500, T0 + DAY, good, 1 },
                                               { 501, T0, backwards, 2 } };
    concert_catalog_schedule s_overlap[] = { { 500, T0, overlap, 3 } };
    concert_catalog_schedule s_negative[] = { { 500, T0, negative, 1 } };
    concert_catalog_concert c_backwards[] = { { 100, "New show", CONCERT_STATUS_OPEN, 0,
                                                s_backwards, 2 } };
    concert_catalog_concert c_overlap[] = { { 100, "New show", CONCERT_STATUS_OPEN, 0, s_overlap,
                                              1 } };
    concert_catalog_concert c_negative[] = { { 100, "New show", CONCERT_STATUS_OPEN, 0, s_negative,
                                               1 } };
    concert_catalog_concert c_status[] = { { 100, "New show", 9, 0, NULL, 0 } };
    concert_catalog_concert c_existing[] = { { 100, "New", CONCERT_STATUS_OPEN, 0, NULL, 0 },
                                             { 1, "Clash", CONCERT_STATUS_OPEN, 0, NULL, 0 } };
    concert_catalog_concert c_notitle[] = { { 100, "", CONCERT_STATUS_OPEN, 0, NULL, 0 } };
    concert_catalog_concert c_badutf8[] = { { 100, "bad \xC3\x28 text", CONCERT_STATUS_OPEN, 0,
                                              NULL, 0 } };
    concert_catalog_user u_dup[] = { { 100, "A", 0 }, { 100, "B", 0 } };
    concert_catalog_user u_existing[] = { { 100, "A", 0 }, { 2, "Lee again", 0 } };
    concert_catalog_user u_negative[] = { { 100, "A", -5 } };
    concert_catalog_schedule s_existing[] = { { 10, T0, good, 1 } };
    concert_catalog_concert c_sched_existing[] = { { 100, "New", CONCERT_STATUS_OPEN, 0, s_existing,
                                                     1 } };

    concert_catalog c = { CONCERT_CATALOG_VERSION, u, 2, c_backwards, 1 };
    expect_load_fails(&c, CONCERT_EINVAL, "concerts[0].schedules[1].seats[1].to: must be >= from");
    c.concerts = c_overlap;
    expect_load_fails(&c, CONCERT_EINVAL, "concerts[0].schedules[0].seats[2]: overlaps");
    c.concerts = c_negative;
    expect_load_fails(&c, CONCERT_EINVAL, "concerts[0].schedules[0].seats[0].price");
    c.concerts = c_status;
    expect_load_fails(&c, CONCERT_EINVAL, "concerts[0].status");
    c.concerts = c_existing;
    c.concert_count = 2;
    expect_load_fails(&c, CONCERT_ECONFLICT, "concerts[1].id");
    c.concert_count = 1;
    c.concerts = c_notitle;
    expect_load_fails(&c, CONCERT_EINVAL, "concerts[0].title");
    c.concerts = c_badutf8;
    expect_load_fails(&c, CONCERT_EINVAL, "concerts[0].title: not valid UTF-8");
    c.concerts = c_sched_existing;
    expect_load_fails(&c, CONCERT_ECONFLICT, "concerts[0].schedules[0].id");
    c.concerts = NULL;
    c.concert_count = 0;
    c.users = u_dup;
    expect_load_fails(&c, CONCERT_EINVAL, "users[1].id");
    c.users = u_existing;
    expect_load_fails(&c, CONCERT_ECONFLICT, "users[1].id");
    c.users = u_negative;
    c.user_count = 1;
    expect_load_fails(&c, CONCERT_EINVAL, "users[0].points");
    c.version = 42;
    expect_load_fails(&c, CONCERT_EINVAL, "version");
}

Test(catalog, load_is_all_or_nothing_and_opening_points_are_ledgered)
{
    concert_catalog_user u[] = { { 200, "Opening", 700 }, { 201, "Empty", 0 } };
    concert_catalog_seat_range seats[] = { { 1, 1000, "A", 10 }, { 2000, 2999, "B", 20 } };
    concert_catalog_schedule s[] = { { 700, T0 + DAY, seats, 2 } };
    concert_catalog_concert c[] = { { 700, "Big Hall", CONCERT_STATUS_OPEN, 0, s, 1 } };
    concert_catalog cat = { CONCERT_CATALOG_VERSION, u, 2, c, 1 };
    concert_ledger_list *h = NULL;
    concert_token_info t;
    concert_seat_list *list = NULL;
    concert_reservation r;
    int64_t bal;

    expect_ok(concert_catalog_load(db, &cat));
    expect_ok(concert_points_balance_get(&bal, db, 200));
    cr_assert_eq(bal, 700);
    expect_ok(concert_ledger_list_get(&h, db, 200));
    cr_assert_eq(h->count, 1);
    cr_assert_eq(h->items[0].type, CONCERT_LEDGER_CHARGE);
    cr_assert_eq(h->items[0].amount, 700);
    cr_assert_eq(h->items[0].balance_after, 700);
    concert_ledger_list_free(h);
    expect_ok(concert_ledger_list_get(&h, db, 201));
    cr_assert_eq(h->count, 0);
    concert_ledger_list_free(h);

    issue_active(200, &t);
    expect_ok(concert_seats_available(&list, db, t.token, 700));
    cr_assert_eq(list->count, 2000);
    cr_assert_eq(list->items[1000].number, 2000);
    cr_assert_str_eq(list->items[1000].grade, "B");
    concert_seat_list_free(list);
    expect_ok(concert_reserve_seat(&r, db, t.token, 700, 2500));
    cr_assert_eq(r.price, 20);
    expect_rc(concert_reserve_seat(&r, db, t.token, 700, 1500), CONCERT_ESEAT_NOT_FOUND);

    /* Loading the same again conflicts and changes nothing. */
    expect_load_fails(&cat, CONCERT_ECONFLICT, "users[0].id");
}
