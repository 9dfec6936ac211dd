/*
 * One concert_db shared by many threads: exactly one winner per seat, exact
 * sums, one payment per reservation. The races themselves live in
 * support/races.c so the ThreadSanitizer driver runs the very same code.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "harness.h"
#include "races.h"

#define THREADS 64

TestSuite(threads, .init = setup_store_with_catalog, .fini = teardown_store, .timeout = 120);

static concert_token_info tokens[THREADS];

/* The first unexpected result with the failing worker's own code and
 * message (races.c keeps them; concert_error_last() here would be the main
 * thread's, another call's). */
#define expect_clean(res)                                                                          \
    cr_assert_eq((res).others, 0, "%d unexpected results, first %s (%d) in a worker: %s",          \
                 (res).others, concert_error_name((res).first_other_rc), (res).first_other_rc,     \
                 (res).first_other_message)

Test(threads, sixty_four_buyers_one_seat_one_winner)
{
    race_result res;
    concert_seat_list *seats = NULL;
    for (int i = 0; i < THREADS; i++)
        issue_active(4 + i, &tokens[i]);
    race_reserve_same_seat(db, tokens, THREADS, 10, 5, &res);
    expect_clean(res);
    cr_assert_eq(res.successes, 1);
    cr_assert_eq(res.expected, THREADS - 1);
    expect_ok(concert_seats_available(&seats, db, tokens[0].token, 10));
    cr_assert_eq(seats->count, 49);
    concert_seat_list_free(seats);
}

/* The report itself: workers charging a user who does not exist each fail
 * in their own thread; the result carries that failure, not whatever the
 * main thread last saw. */
Test(threads, a_workers_failure_is_reported_with_its_own_code_and_message)
{
    race_result res;
    int64_t bal;
    expect_rc(concert_points_balance_get(&bal, db, 2), CONCERT_OK);
    race_charge_one_user(db, 987654, 4, &res);
    cr_assert_eq(res.successes, 0);
    cr_assert_eq(res.others, 4 * 10);
    cr_assert_eq(res.first_other_rc, CONCERT_EUSER_NOT_FOUND, "%s",
                 concert_error_name(res.first_other_rc));
    cr_assert(strstr(res.first_other_message, "987654"), "worker's message: '%s'",
              res.first_other_message);
    cr_assert_null(strstr(concert_error_last()->message, "987654"),
                   "the main thread never made that call");
}

Test(threads, sixty_four_chargers_exact_sum)
{
    race_result res;
    int64_t bal, expected = 0;
    concert_ledger_list *h = NULL;
    race_charge_one_user(db, 2, THREADS, &res);
    expect_clean(res);
    cr_assert_eq(res.successes, THREADS * 10);
    for (int i = 0; i < THREADS; i++)
        expected += 10 * (1 + i);
    expect_ok(concert_points_balance_get(&bal, db, 2));
    cr_assert_eq(bal, expected);
    expect_ok(concert_ledger_list_get(&h, db, 2));
    cr_assert_eq(h->count, THREADS * 10);
    cr_assert_eq(h->items[0].balance_after, expected, "the newest entry ends at the balance");
    concert_ledger_list_free(h);
}

Test(threads, sixty_four_payers_one_payment)
{
    race_result res;
    concert_reservation r;
    concert_ledger_list *h = NULL;
    int64_t bal;
    issue_active(1, &tokens[0]);
    expect_ok(concert_reserve_seat(&r, db, tokens[0].token, 10, 1));
    race_pay_one_reservation(db, tokens[0].token, r.id, NULL, THREADS, &res);
    expect_clean(res);
    cr_assert_eq(res.successes, 1);
    expect_ok(concert_points_balance_get(&bal, db, 1));
    cr_assert_eq(bal, 100000 - 30000);
    expect_ok(concert_ledger_list_get(&h, db, 1));
    cr_assert_eq(h->count, 2);
    concert_ledger_list_free(h);
}

Test(threads, concurrent_retries_with_one_key_all_see_the_one_payment)
{
    race_result res;
    concert_reservation r;
    int64_t bal;
    issue_active(1, &tokens[0]);
    expect_ok(concert_reserve_seat(&r, db, tokens[0].token, 10, 1));
    race_pay_one_reservation(db, tokens[0].token, r.id, "same-order", THREADS, &res);
    expect_clean(res);
    cr_assert_eq(res.successes, THREADS);
    expect_ok(concert_points_balance_get(&bal, db, 1));
    cr_assert_eq(bal, 100000 - 30000);
}

Test(threads, queue_never_admits_more_than_max_active)
{
    concert_options o = test_options();
    concert_queue_stats st;
    race_result res;
    int active = 0;
    o.max_active = 10;
    /* 64 joiners on 8 pooled connections: at load 10 some waited past the
     * 5 s default for a free one (STORAGE_BUSY). What is tested is the
     * admission limit; the bound has its own tests. */
    o.busy_timeout_ms = 30000;
    store_open(&o);
    standard_catalog_load();
    race_join_queue(db, 4, THREADS, tokens, &res);
    expect_clean(res);
    cr_assert_eq(res.successes, THREADS);
    for (int i = 0; i < THREADS; i++)
        active += tokens[i].state == CONCERT_TOKEN_ACTIVE;
    /* A join may leave admission to the next queue step when another holds
     * the admission lock (PostgreSQL), but never admits past the limit. */
    cr_assert_leq(active, 10);
    clock_advance(SECOND); /* past the db's cached view */
    expect_ok(concert_queue_stats_get(&st, db));
    cr_assert_eq(st.active, 10);
    active = 0;
    for (int i = 0; i < THREADS; i++) {
        expect_ok(concert_queue_status_get(&tokens[i], db, tokens[i].token));
        active += tokens[i].state == CONCERT_TOKEN_ACTIVE;
    }
    cr_assert_eq(active, 10);
    /* Positions of the waiting ones are distinct: 1..54. */
    for (int i = 0; i < THREADS; i++) {
        if (tokens[i].state != CONCERT_TOKEN_WAITING)
            continue;
        cr_assert(tokens[i].position >= 1 && tokens[i].position <= THREADS - 10);
        for (int j = 0; j < i; j++)
            if (tokens[j].state == CONCERT_TOKEN_WAITING)
                cr_assert_neq(tokens[i].position, tokens[j].position);
    }
}

Test(threads, polls_racing_leaves_never_see_a_position_go_up)
{
    concert_options o = test_options();
    race_result res;
    o.max_active = 8;
    store_open(&o);
    standard_catalog_load();
    race_join_queue(db, 4, THREADS, tokens, &res);
    expect_clean(res);
    race_poll_queue(db, tokens, THREADS, 8, 100, &res);
    expect_clean(res);
    cr_assert_gt(res.successes, 7 * 100 * 50);
}
