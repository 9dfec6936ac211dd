/*
 * The free lists' versions (issue 12): what a server compares before it
 * serves a list it rendered earlier. The promise under test: every hold,
 * release, sale and hold expiry gives a new version, at the instant it
 * happens, and two equal versions always mean two equal lists.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "harness.h"

TestSuite(list_version, .init = setup_store_with_catalog, .fini = teardown_store);

static int version_equal(const concert_list_version *a, const concert_list_version *b)
{
    return a->epoch == b->epoch && a->changes == b->changes &&
           a->expired_through == b->expired_through && a->past == b->past;
}

static concert_list_version seats_version(const char *token, int64_t schedule_id)
{
    concert_list_version v;
    expect_ok(concert_seat_list_version_get(&v, db, token, schedule_id));
    return v;
}

static concert_list_version schedules_version(const char *token, int64_t concert_id)
{
    concert_list_version v;
    expect_ok(concert_schedule_list_version_get(&v, db, token, concert_id));
    return v;
}

/* The free seat numbers of a schedule, as a bitmap (the standard catalog's
 * schedules have at most 50 seats). */
static uint64_t free_seats(const char *token, int64_t schedule_id)
{
    concert_seat_list *list = NULL;
    uint64_t bits = 0;
    expect_ok(concert_seats_available(&list, db, token, schedule_id));
    for (size_t i = 0; i < list->count; i++)
        bits |= UINT64_C(1) << list->items[i].number;
    concert_seat_list_free(list);
    return bits;
}

#define expect_same(a, b) cr_assert(version_equal(&(a), &(b)), "the version changed: %s", #b)
#define expect_new(a, b) cr_assert(!version_equal(&(a), &(b)), "the version stayed: %s", #b)

Test(list_version, stays_put_while_nothing_changes)
{
    concert_token_info t;
    issue_active(1, &t);
    const concert_list_version a = seats_version(t.token, 10);
    clock_advance(MINUTE);
    const concert_list_version b = seats_version(t.token, 10);
    expect_same(a, b);
    (void)free_seats(t.token, 10); /* reading the list changes nothing either */
    const concert_list_version c = seats_version(t.token, 10);
    expect_same(a, c);
    const concert_list_version s1 = schedules_version(t.token, 1);
    const concert_list_version s2 = schedules_version(t.token, 1);
    expect_same(s1, s2);
}

Test(list_version, hold_release_and_sale_each_give_a_new_version)
{
    concert_token_info a, b;
    concert_reservation r, r2;
    concert_payment p;
    issue_active(1, &a);
    issue_active(3, &b);
    const concert_list_version v0 = seats_version(a.token, 10);
    const concert_list_version c0 = schedules_version(a.token, 1);

    expect_ok(concert_reserve_seat(&r, db, a.token, 10, 11));
    const concert_list_version v1 = seats_version(a.token, 10);
    const concert_list_version c1 = schedules_version(a.token, 1);
    expect_new(v0, v1);
    expect_new(c0, c1);

    /* Re-reporting the same hold changes nothing. */
    expect_ok(concert_reserve_seat(&r2, db, a.token, 10, 11));
    cr_assert_eq(r2.is_new, 0);
    const concert_list_version v1b = seats_version(a.token, 10);
    expect_same(v1, v1b);

    expect_ok(concert_reservation_release(NULL, db, a.token, r.id));
    const concert_list_version v2 = seats_version(a.token, 10);
    expect_new(v1, v2);
    expect_new(v0, v2); /* the same list as v0, but never an older version */

    expect_ok(concert_reserve_seat(&r, db, b.token, 10, 12));
    const concert_list_version v3 = seats_version(a.token, 10);
    expect_new(v2, v3);
    expect_ok(concert_pay(&p, db, b.token, r.id, NULL));
    const concert_list_version v4 = seats_version(a.token, 10);
    const concert_list_version c4 = schedules_version(a.token, 1);
    expect_new(v3, v4);
    expect_new(c1, c4);
}

Test(list_version, another_schedule_leaves_this_one_alone)
{
    concert_token_info a;
    concert_reservation r;
    issue_active(1, &a);
    const concert_list_version v0 = seats_version(a.token, 10);
    const concert_list_version c0 = schedules_version(a.token, 1);
    expect_ok(concert_reserve_seat(&r, db, a.token, 12, 1));
    const concert_list_version v1 = seats_version(a.token, 10);
    const concert_list_version c1 = schedules_version(a.token, 1);
    expect_same(v0, v1);
    expect_new(c0, c1); /* schedule 12 is concert 1's too */
}

Test(list_version, a_hold_expiring_changes_it_at_that_instant)
{
    concert_options o = test_options();
    concert_token_info a, b;
    concert_reservation r;
    o.hold_ttl_ms = 2 * MINUTE;
    store_open(&o);
    standard_catalog_load();
    issue_active(1, &a);
    issue_active(3, &b);
    expect_ok(concert_reserve_seat(&r, db, a.token, 10, 11));
    const concert_list_version held = seats_version(b.token, 10);
    const concert_list_version held_c = schedules_version(b.token, 1);
    cr_assert_eq(free_seats(b.token, 10) >> 11 & 1, 0);

    clock_set(r.held_until - 1);
    const concert_list_version before = seats_version(b.token, 10);
    expect_same(held, before);
    cr_assert_eq(free_seats(b.token, 10) >> 11 & 1, 0);

    clock_set(r.held_until);
    const concert_list_version at = seats_version(b.token, 10);
    const concert_list_version at_c = schedules_version(b.token, 1);
    expect_new(before, at);
    expect_new(held_c, at_c);
    cr_assert_eq(free_seats(b.token, 10) >> 11 & 1, 1, "the seat is free at held_until");

    clock_advance(MINUTE);
    const concert_list_version later = seats_version(b.token, 10);
    expect_same(at, later);
}

Test(list_version, a_schedule_leaving_the_list_changes_the_concerts_version)
{
    concert_token_info a;
    issue_active(1, &a);
    const concert_list_version v0 = schedules_version(a.token, 1);
    /* Schedule 10 starts at T0 + 1 day; booking closes 20 minutes after. */
    clock_set(T0 + DAY + 20 * MINUTE - 1);
    issue_active(1, &a);
    const concert_list_version v1 = schedules_version(a.token, 1);
    expect_same(v0, v1);
    clock_set(T0 + DAY + 20 * MINUTE);
    issue_active(1, &a);
    const concert_list_version v2 = schedules_version(a.token, 1);
    expect_new(v1, v2);
}

Test(list_version, refuses_exactly_what_the_listing_refuses)
{
    concert_token_info a;
    concert_list_version v;
    issue_active(1, &a);
    expect_rc(concert_seat_list_version_get(&v, db, "not-a-token", 10), CONCERT_ETOKEN_INVALID);
    expect_rc(concert_seat_list_version_get(&v, db, a.token, 999), CONCERT_ESCHEDULE_NOT_FOUND);
    expect_rc(concert_seat_list_version_get(&v, db, a.token, 0), CONCERT_ESCHEDULE_NOT_FOUND);
    expect_rc(concert_seat_list_version_get(&v, db, a.token, 11), CONCERT_EBOOKING_CLOSED);
    expect_rc(concert_seat_list_version_get(&v, db, a.token, 20), CONCERT_ECONCERT_NOT_BOOKABLE);
    expect_rc(concert_seat_list_version_get(&v, db, a.token, 30), CONCERT_ECONCERT_NOT_BOOKABLE);
    expect_rc(concert_seat_list_version_get(NULL, db, a.token, 10), CONCERT_EINVAL);
    expect_rc(concert_seat_list_version_get(&v, NULL, a.token, 10), CONCERT_EINVAL);
    expect_rc(concert_schedule_list_version_get(&v, db, "not-a-token", 1), CONCERT_ETOKEN_INVALID);
    expect_rc(concert_schedule_list_version_get(&v, db, a.token, 999), CONCERT_ECONCERT_NOT_FOUND);
    expect_rc(concert_schedule_list_version_get(&v, db, a.token, 2), CONCERT_ECONCERT_NOT_BOOKABLE);
    expect_rc(concert_schedule_list_version_get(NULL, db, a.token, 1), CONCERT_EINVAL);
}

Test(list_version, a_token_this_db_ended_is_refused_at_once)
{
    concert_token_info a;
    concert_reservation r;
    concert_payment p;
    concert_list_version v;
    concert_seat_list *list = NULL;
    issue_active(1, &a);
    expect_ok(concert_seat_list_version_get(&v, db, a.token, 10)); /* now remembered ACTIVE */
    expect_ok(concert_reserve_seat(&r, db, a.token, 10, 11));
    expect_ok(concert_pay(&p, db, a.token, r.id, NULL));
    expect_rc(concert_seat_list_version_get(&v, db, a.token, 10), CONCERT_ETOKEN_INVALID);
    expect_rc(concert_seats_available(&list, db, a.token, 10), CONCERT_ETOKEN_INVALID);

    issue_active(3, &a);
    expect_ok(concert_seat_list_version_get(&v, db, a.token, 10));
    expect_ok(concert_queue_leave(db, a.token));
    expect_rc(concert_seat_list_version_get(&v, db, a.token, 10), CONCERT_ETOKEN_INVALID);
}

Test(list_version, a_token_another_process_ended_is_refused_within_the_refresh)
{
    concert_options o = test_options();
    concert_token_info a;
    concert_reservation r;
    concert_payment p;
    concert_list_version v;
    concert_db *other = store_open_again(&o);
    if (!other)
        cr_skip_test("a memory store has one handle");
    issue_active(1, &a);
    expect_ok(concert_seat_list_version_get(&v, db, a.token, 10));
    expect_ok(concert_reserve_seat(&r, other, a.token, 10, 11));
    expect_ok(concert_pay(&p, other, a.token, r.id, NULL));
    clock_advance(o.queue_refresh_ms);
    expect_rc(concert_seat_list_version_get(&v, db, a.token, 10), CONCERT_ETOKEN_INVALID);
    concert_db_close(other);
}

Test(list_version, a_change_through_another_handle_is_seen_at_once)
{
    concert_options o = test_options();
    concert_token_info a;
    concert_reservation r;
    concert_db *other = store_open_again(&o);
    if (!other)
        cr_skip_test("a memory store has one handle");
    issue_active(1, &a);
    const concert_list_version v0 = seats_version(a.token, 10);
    expect_ok(concert_reserve_seat(&r, other, a.token, 10, 11));
    const concert_list_version v1 = seats_version(a.token, 10);
    expect_new(v0, v1);
    expect_ok(concert_reservation_release(NULL, other, a.token, r.id));
    const concert_list_version v2 = seats_version(a.token, 10);
    expect_new(v1, v2);
    concert_db_close(other);
}

/*
 * The promise itself, on a random walk: whenever a version repeats, the
 * list it labels is the list seen with it before. Holds, releases, sales
 * and clock moves that let holds run out, on schedule 12's five seats.
 */
#define WALK_STEPS 300
Test(list_version, equal_versions_always_mean_equal_lists)
{
    concert_options o = test_options();
    concert_token_info buyers[3], watcher;
    concert_list_version seen[WALK_STEPS];
    uint64_t lists[WALK_STEPS];
    size_t n = 0;
    uint64_t state = 12345;
    o.hold_ttl_ms = 3 * MINUTE;
    o.max_holds_per_user = 0;
    store_open(&o);
    standard_catalog_load();
    for (int i = 0; i < 3; i++)
        issue_active(4 + i, &buyers[i]);
    issue_active(1, &watcher);
    for (int step = 0; step < WALK_STEPS; step++) {
        state = state * 6364136223846793005u + 1442695040888963407u;
        const unsigned pick = (unsigned)(state >> 33);
        concert_token_info *b = &buyers[pick % 3];
        concert_reservation r;
        concert_payment p;
        switch (pick / 3 % 4) {
        case 0: /* hold a seat (it may be taken: fine) */
            (void)concert_reserve_seat(&r, db, b->token, 12, 1 + (int64_t)(pick / 12 % 5));
            break;
        case 1: /* release one of theirs, if that seat is theirs */
            if (concert_reserve_seat(&r, db, b->token, 12, 1 + (int64_t)(pick / 12 % 5)) == 0)
                (void)concert_reservation_release(NULL, db, b->token, r.id);
            break;
        case 2: /* let time pass: some holds run out */
            clock_advance((int64_t)(pick / 12 % 90) * SECOND);
            break;
        default: /* a sale now and then (a buyer has 1000 points: seats cost 5000, so
                  * only user 1 can pay; use the watcher for sales) */
            if (concert_reserve_seat(&r, db, watcher.token, 12, 1 + (int64_t)(pick / 12 % 5)) == 0)
                (void)concert_pay(&p, db, watcher.token, r.id, NULL);
            issue_active(1, &watcher);
            break;
        }
        /* Tokens run out after 10 minutes: keep everyone ACTIVE. */
        for (int i = 0; i < 3; i++)
            issue_active(4 + i, &buyers[i]);
        issue_active(1, &watcher);
        const concert_list_version v = seats_version(watcher.token, 12);
        const uint64_t list = free_seats(watcher.token, 12);
        for (size_t k = 0; k < n; k++) {
            if (version_equal(&seen[k], &v))
                cr_assert_eq(lists[k], list,
                             "step %d: version %lld/%lld/%lld seen before with another list", step,
                             (long long)v.changes, (long long)v.expired_through, (long long)v.past);
        }
        seen[n] = v;
        lists[n++] = list;
    }
}
