/*
 * Per-buyer limits (issue 11): max_holds_per_user across the store, a
 * concert's own max_per_user over held plus paid seats, enforced inside the
 * hold's atomic step so that no race lets one more through.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>

#include "harness.h"

static void setup_limits(void)
{
    setup_store_with_catalog();
    limits_catalog_load();
}

TestSuite(limits, .init = setup_limits, .fini = teardown_store);

Test(limits, the_fifth_hold_is_refused_and_names_the_limit)
{
    concert_token_info t;
    concert_reservation r;
    issue_active(100, &t);
    for (int seat = 1; seat <= 4; seat++)
        expect_ok(concert_reserve_seat(&r, db, t.token, 80, seat));
    expect_rc(concert_reserve_seat(&r, db, t.token, 80, 5), CONCERT_EHOLD_LIMIT);
    cr_assert(strstr(concert_error_last()->message, "4"), "message names the limit: %s",
              concert_error_last()->message);
    /* Asking again for a seat already held is not a new hold. */
    expect_ok(concert_reserve_seat(&r, db, t.token, 80, 2));
    cr_assert_eq(r.is_new, 0);
    /* The refused seat is still free for someone else. */
    issue_active(101, &t);
    expect_ok(concert_reserve_seat(&r, db, t.token, 80, 5));
}

Test(limits, the_limit_is_store_wide_across_concerts)
{
    concert_token_info t;
    concert_reservation r;
    issue_active(1, &t);
    expect_ok(concert_reserve_seat(&r, db, t.token, 10, 1));
    expect_ok(concert_reserve_seat(&r, db, t.token, 12, 1));
    expect_ok(concert_reserve_seat(&r, db, t.token, 80, 1));
    expect_ok(concert_reserve_seat(&r, db, t.token, 80, 2));
    expect_rc(concert_reserve_seat(&r, db, t.token, 10, 2), CONCERT_EHOLD_LIMIT);
}

Test(limits, expired_and_released_holds_no_longer_count)
{
    concert_token_info t;
    concert_reservation r, first, last;
    issue_active(100, &t);
    expect_ok(concert_reserve_seat(&first, db, t.token, 80, 1));
    clock_advance(MINUTE);
    for (int seat = 2; seat <= 4; seat++)
        expect_ok(concert_reserve_seat(&last, db, t.token, 80, seat));
    expect_rc(concert_reserve_seat(&r, db, t.token, 80, 5), CONCERT_EHOLD_LIMIT);
    expect_ok(concert_reservation_release(NULL, db, t.token, last.id));
    expect_ok(concert_reserve_seat(&r, db, t.token, 80, 5));
    expect_rc(concert_reserve_seat(&r, db, t.token, 80, 6), CONCERT_EHOLD_LIMIT);
    /* The first hold runs out four minutes later: room for one more. */
    clock_advance(4 * MINUTE);
    expect_ok(concert_reserve_seat(&r, db, t.token, 80, 6));
    expect_rc(concert_reserve_seat(&r, db, t.token, 80, 7), CONCERT_EHOLD_LIMIT);
}

Test(limits, paid_seats_do_not_count_against_the_store_wide_limit)
{
    concert_token_info t;
    concert_reservation r;
    concert_payment p;
    int64_t ids[4];
    issue_active(100, &t);
    for (int seat = 1; seat <= 4; seat++) {
        expect_ok(concert_reserve_seat(&r, db, t.token, 80, seat));
        ids[seat - 1] = r.id;
    }
    expect_ok(concert_order_pay(&p, db, t.token, ids, 4, NULL));
    issue_active(100, &t);
    for (int seat = 5; seat <= 8; seat++)
        expect_ok(concert_reserve_seat(&r, db, t.token, 80, seat));
    expect_rc(concert_reserve_seat(&r, db, t.token, 80, 9), CONCERT_EHOLD_LIMIT);
}

Test(limits, a_concert_limit_counts_held_and_paid_seats_of_that_concert)
{
    concert_token_info t;
    concert_reservation r, a;
    concert_payment p;
    concert_concert c;
    issue_active(100, &t);
    expect_ok(concert_concert_get(&c, db, t.token, 7));
    cr_assert_eq(c.max_per_user, 2);
    expect_ok(concert_reserve_seat(&a, db, t.token, 70, 1));
    expect_ok(concert_reserve_seat(&r, db, t.token, 70, 2));
    expect_rc(concert_reserve_seat(&r, db, t.token, 70, 3), CONCERT_EHOLD_LIMIT);
    cr_assert(strstr(concert_error_last()->message, "2"), "%s", concert_error_last()->message);
    cr_assert(strstr(concert_error_last()->message, "concert 7"), "%s",
              concert_error_last()->message);
    /* Paying does not make room: a paid seat counts too. */
    expect_ok(concert_pay(&p, db, t.token, a.id, NULL));
    issue_active(100, &t);
    expect_rc(concert_reserve_seat(&r, db, t.token, 70, 3), CONCERT_EHOLD_LIMIT);
    /* Other concerts are under the store-wide limit, which the paid seat and
     * the hold on concert 7 do not exhaust. */
    expect_ok(concert_reserve_seat(&r, db, t.token, 80, 1));
    /* Another buyer is not affected. */
    issue_active(101, &t);
    expect_ok(concert_reserve_seat(&r, db, t.token, 70, 3));
}

Test(limits, a_concert_limit_replaces_the_store_wide_one_for_its_holds)
{
    concert_options o = test_options();
    concert_token_info t;
    concert_reservation r;
    o.max_holds_per_user = 1;
    store_open(&o);
    standard_catalog_load();
    limits_catalog_load();
    issue_active(100, &t);
    expect_ok(concert_reserve_seat(&r, db, t.token, 80, 1));
    expect_rc(concert_reserve_seat(&r, db, t.token, 80, 2), CONCERT_EHOLD_LIMIT);
    cr_assert(strstr(concert_error_last()->message, "1"), "%s", concert_error_last()->message);
    /* Concert 7 allows 2 of its own whatever the store-wide limit. */
    expect_ok(concert_reserve_seat(&r, db, t.token, 70, 1));
    expect_ok(concert_reserve_seat(&r, db, t.token, 70, 2));
}

Test(limits, zero_means_no_store_wide_limit)
{
    concert_options o = test_options();
    concert_token_info t;
    concert_reservation r;
    o.max_holds_per_user = 0;
    store_open(&o);
    standard_catalog_load();
    limits_catalog_load();
    issue_active(100, &t);
    for (int seat = 1; seat <= 40; seat++)
        expect_ok(concert_reserve_seat(&r, db, t.token, 80, seat));
}

Test(limits, options_and_catalogs_out_of_range_are_refused)
{
    concert_options o = test_options();
    concert_db *d = NULL;
    const concert_catalog_seat_range seats[] = { { 1, 2, "R", 1 } };
    const concert_catalog_schedule sched[] = { { 90, T0 + DAY, seats, 1 } };
    concert_catalog_concert concert = { 9, "Too many", CONCERT_STATUS_OPEN, 65, sched, 1 };
    concert_catalog cat = { CONCERT_CATALOG_VERSION, NULL, 0, &concert, 1 };
    concert_concert_list *all = NULL;

    o.max_holds_per_user = -1;
    expect_rc(concert_db_open(&d, "memory:", &o), CONCERT_EINVAL);
    cr_assert(strstr(concert_error_last()->message, "max_holds_per_user"));
    expect_rc(concert_catalog_load(db, &cat), CONCERT_EINVAL);
    cr_assert(strstr(concert_error_last()->message, "concerts[0].max_per_user"), "%s",
              concert_error_last()->message);
    /* Version 1 catalogs had a reserved field there that had to be 0. */
    cat.version = 1;
    concert.max_per_user = 2;
    expect_rc(concert_catalog_load(db, &cat), CONCERT_EINVAL);
    concert.max_per_user = 0;
    expect_ok(concert_catalog_load(db, &cat));
    expect_ok(concert_admin_concert_list_get(&all, db));
    for (size_t i = 0; i < all->count; i++) {
        if (all->items[i].id == 7)
            cr_assert_eq(all->items[i].max_per_user, 2);
        else
            cr_assert_eq(all->items[i].max_per_user, 0);
    }
    concert_concert_list_free(all);
}

Test(limits, options_version_2_structs_get_the_default_limit)
{
    concert_options o = test_options();
    concert_token_info t;
    concert_reservation r;
    o.version = 2;
    o.max_holds_per_user = 99; /* past a version-2 struct: never read */
    store_open(&o);
    standard_catalog_load();
    limits_catalog_load();
    issue_active(100, &t);
    for (int seat = 1; seat <= 4; seat++)
        expect_ok(concert_reserve_seat(&r, db, t.token, 80, seat));
    expect_rc(concert_reserve_seat(&r, db, t.token, 80, 5), CONCERT_EHOLD_LIMIT);
}

/* ---- one buyer, many threads ---- */

#define HOLDERS 32

typedef struct holder {
    const char *token;
    int64_t seat;
    int rc;
} holder;

static pthread_barrier_t start_line;

static void *hold_one(void *arg)
{
    holder *h = arg;
    concert_reservation r;
    pthread_barrier_wait(&start_line);
    h->rc = concert_reserve_seat(&r, db, h->token, 80, h->seat);
    return NULL;
}

Test(limits, one_buyer_on_many_threads_never_passes_the_limit, .timeout = 120)
{
    concert_token_info t;
    pthread_t threads[HOLDERS];
    holder holders[HOLDERS];
    int rounds = strcmp(store_kind(), "memory") == 0 ? 20 : 4;

    for (int round = 0; round < rounds; round++) {
        int ok = 0, limited = 0;
        issue_active(100 + round % 2, &t);
        pthread_barrier_init(&start_line, NULL, HOLDERS);
        for (int i = 0; i < HOLDERS; i++) {
            holders[i] = (holder){ t.token, 1 + round * HOLDERS + i, 0 };
            cr_assert_eq(pthread_create(&threads[i], NULL, hold_one, &holders[i]), 0);
        }
        for (int i = 0; i < HOLDERS; i++)
            pthread_join(threads[i], NULL);
        pthread_barrier_destroy(&start_line);
        for (int i = 0; i < HOLDERS; i++) {
            if (holders[i].rc == 0)
                ok++;
            else if (holders[i].rc == CONCERT_EHOLD_LIMIT)
                limited++;
            else
                cr_assert_fail("round %d: hold %d: %s", round, i,
                               concert_error_name(holders[i].rc));
        }
        cr_assert_eq(ok, 4, "round %d: %d holds landed, the limit is 4", round, ok);
        cr_assert_eq(limited, HOLDERS - 4);
        /* Let them run out before the next round of the same user. */
        clock_advance(5 * MINUTE);
    }
}
