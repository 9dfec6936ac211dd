/*
 * One concert_db shared by many threads: exactly one winner per seat, exact
 * sums, one payment per reservation. Run under ThreadSanitizer in CI.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "harness.h"

#define THREADS 64

TestSuite(threads, .init = setup_store_with_catalog, .fini = teardown_store, .timeout = 120);

static pthread_barrier_t start_line;
static concert_token_info tokens[THREADS];
static atomic_int successes, taken, others;
static concert_reservation shared_reservation;

static void run_threads(void *(*fn)(void *))
{
    pthread_t th[THREADS];
    atomic_store(&successes, 0);
    atomic_store(&taken, 0);
    atomic_store(&others, 0);
    pthread_barrier_init(&start_line, NULL, THREADS);
    for (intptr_t i = 0; i < THREADS; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, fn, (void *)i), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start_line);
}

static void *reserve_same_seat(void *arg)
{
    intptr_t i = (intptr_t)arg;
    concert_reservation r;
    int rc;
    pthread_barrier_wait(&start_line);
    rc = concert_reserve_seat(&r, db, tokens[i].token, 10, 5);
    if (rc == 0)
        atomic_fetch_add(&successes, 1);
    else if (rc == CONCERT_ESEAT_TAKEN)
        atomic_fetch_add(&taken, 1);
    else
        atomic_fetch_add(&others, 1);
    return NULL;
}

Test(threads, sixty_four_buyers_one_seat_one_winner)
{
    concert_seat_list *seats = NULL;
    for (int i = 0; i < THREADS; i++)
        issue_active(4 + i, &tokens[i]);
    run_threads(reserve_same_seat);
    cr_assert_eq(atomic_load(&successes), 1);
    cr_assert_eq(atomic_load(&taken), THREADS - 1);
    cr_assert_eq(atomic_load(&others), 0);
    expect_ok(concert_seats_available(&seats, db, tokens[0].token, 10));
    cr_assert_eq(seats->count, 49);
    concert_seat_list_free(seats);
}

static void *charge_one_user(void *arg)
{
    intptr_t i = (intptr_t)arg;
    pthread_barrier_wait(&start_line);
    for (int k = 0; k < 10; k++) {
        if (concert_charge_points(NULL, db, 2, 1 + i, NULL) == 0)
            atomic_fetch_add(&successes, 1);
        else
            atomic_fetch_add(&others, 1);
    }
    return NULL;
}

Test(threads, sixty_four_chargers_exact_sum)
{
    int64_t bal, expected = 0;
    concert_ledger_list *h = NULL;
    run_threads(charge_one_user);
    for (int i = 0; i < THREADS; i++)
        expected += 10 * (1 + i);
    cr_assert_eq(atomic_load(&others), 0);
    expect_ok(concert_points_balance(&bal, db, 2));
    cr_assert_eq(bal, expected);
    expect_ok(concert_points_history(&h, db, 2));
    cr_assert_eq(h->count, THREADS * 10);
    cr_assert_eq(h->items[0].balance_after, expected, "the newest entry ends at the balance");
    concert_ledger_list_free(h);
}

static void *pay_one_reservation(void *arg)
{
    concert_payment p;
    int rc;
    (void)arg;
    pthread_barrier_wait(&start_line);
    rc = concert_pay(&p, db, tokens[0].token, shared_reservation.id, NULL);
    if (rc == 0)
        atomic_fetch_add(&successes, 1);
    else if (rc == CONCERT_ETOKEN_INVALID || rc == CONCERT_EALREADY_PAID)
        atomic_fetch_add(&taken, 1);
    else
        atomic_fetch_add(&others, 1);
    return NULL;
}

Test(threads, sixty_four_payers_one_payment)
{
    int64_t bal;
    concert_ledger_list *h = NULL;
    issue_active(1, &tokens[0]);
    expect_ok(concert_reserve_seat(&shared_reservation, db, tokens[0].token, 10, 1));
    run_threads(pay_one_reservation);
    cr_assert_eq(atomic_load(&successes), 1);
    cr_assert_eq(atomic_load(&others), 0);
    expect_ok(concert_points_balance(&bal, db, 1));
    cr_assert_eq(bal, 100000 - 30000);
    expect_ok(concert_points_history(&h, db, 1));
    cr_assert_eq(h->count, 2);
    concert_ledger_list_free(h);
}

static void *idempotent_pay_one_reservation(void *arg)
{
    concert_payment p;
    (void)arg;
    pthread_barrier_wait(&start_line);
    if (concert_pay(&p, db, tokens[0].token, shared_reservation.id, "same-order") == 0 &&
        p.reservation_id == shared_reservation.id)
        atomic_fetch_add(&successes, 1);
    else
        atomic_fetch_add(&others, 1);
    return NULL;
}

Test(threads, concurrent_retries_with_one_key_all_see_the_one_payment)
{
    int64_t bal;
    issue_active(1, &tokens[0]);
    expect_ok(concert_reserve_seat(&shared_reservation, db, tokens[0].token, 10, 1));
    run_threads(idempotent_pay_one_reservation);
    cr_assert_eq(atomic_load(&successes), THREADS, "%d saw an error",
                 atomic_load(&others));
    expect_ok(concert_points_balance(&bal, db, 1));
    cr_assert_eq(bal, 100000 - 30000);
}

static void *join_queue(void *arg)
{
    intptr_t i = (intptr_t)arg;
    pthread_barrier_wait(&start_line);
    if (concert_queue_issue(&tokens[i], db, 4 + i) == 0)
        atomic_fetch_add(&successes, 1);
    else
        atomic_fetch_add(&others, 1);
    return NULL;
}

Test(threads, queue_never_admits_more_than_max_active)
{
    concert_options o = test_options();
    concert_queue_stats st;
    int active = 0;
    o.max_active = 10;
    store_open(&o);
    standard_catalog_load();
    run_threads(join_queue);
    cr_assert_eq(atomic_load(&successes), THREADS);
    for (int i = 0; i < THREADS; i++)
        active += tokens[i].state == CONCERT_TOKEN_ACTIVE;
    cr_assert_eq(active, 10);
    expect_ok(concert_queue_stats_get(&st, db));
    cr_assert_eq(st.active, 10);
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
