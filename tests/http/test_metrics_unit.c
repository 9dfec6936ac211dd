/*
 * concertd's metrics registry and renderer (metrics.c) and the hold watcher
 * (hold_watch.c) without sockets: bucket boundaries, label escaping, exact
 * totals under concurrent recording, replay detection, and each hold
 * decided once on a store with the fake clock (tests/support/harness.h).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "harness.h"
#include "hold_watch.h"
#include "metrics.h"

static char *render(metrics *m)
{
    char *text = NULL;
    size_t len = 0;
    cr_assert_eq(metrics_render(m, &text, &len), 0);
    cr_assert_eq(strlen(text), len);
    return text;
}

static int contains(const char *text, const char *line)
{
    return strstr(text, line) != NULL;
}

static const char *const routes[] = { "/a/{id}", "/we\"ird\\route\n" };

Test(metrics, bucket_bounds_are_inclusive_and_cumulative)
{
    metrics *m = metrics_new(routes, 2);
    cr_assert_not_null(m);
    metrics_observe_request(m, 0, "GET", 200, 500, 10);    /* exactly 0.0005 s */
    metrics_observe_request(m, 0, "GET", 200, 501, 10);    /* just above */
    metrics_observe_request(m, 0, "GET", 404, 2500000, 0); /* exactly 2.5 s */
    metrics_observe_request(m, 0, "GET", 200, 9000000, 1); /* above every bound */
    char *text = render(m);
    cr_assert(contains(text, "concert_http_request_duration_seconds_bucket{route=\"/a/{id}\","
                             "le=\"0.0005\"} 1\n"),
              "%s", text);
    cr_assert(contains(text, "concert_http_request_duration_seconds_bucket{route=\"/a/{id}\","
                             "le=\"0.001\"} 2\n"),
              "%s", text);
    cr_assert(contains(text, "concert_http_request_duration_seconds_bucket{route=\"/a/{id}\","
                             "le=\"2.5\"} 3\n"),
              "%s", text);
    cr_assert(contains(text, "concert_http_request_duration_seconds_bucket{route=\"/a/{id}\","
                             "le=\"+Inf\"} 4\n"),
              "%s", text);
    cr_assert(contains(text, "concert_http_request_duration_seconds_count{route=\"/a/{id}\"} 4\n"));
    cr_assert(contains(text, "concert_http_request_duration_seconds_sum{route=\"/a/{id}\"} "
                             "11.501001\n"),
              "%s", text);
    cr_assert(contains(text, "concert_http_requests_total{route=\"/a/{id}\",method=\"GET\","
                             "code=\"200\"} 3\n"));
    cr_assert(contains(text, "concert_http_requests_total{route=\"/a/{id}\",method=\"GET\","
                             "code=\"404\"} 1\n"));
    cr_assert(contains(text, "concert_http_response_bytes_total{route=\"/a/{id}\"} 21\n"));
    /* Nothing was recorded for the other route: no series for it. */
    cr_assert(!contains(text, "ird"), "%s", text);
    free(text);
    metrics_free(m);
}

Test(metrics, label_values_are_escaped_and_unknown_routes_and_methods_bounded)
{
    metrics *m = metrics_new(routes, 2);
    metrics_observe_request(m, 1, "GET", 200, 1, 0);
    metrics_observe_request(m, 7, "BREW", 418, 1, 0); /* not a route id: unmatched */
    metrics_observe_request(m, -1, "GET", 404, 1, 0);
    char *text = render(m);
    cr_assert(contains(text, "route=\"/we\\\"ird\\\\route\\n\",method=\"GET\",code=\"200\"} 1\n"),
              "%s", text);
    cr_assert(contains(text, "{route=\"unmatched\",method=\"other\",code=\"418\"} 1\n"), "%s",
              text);
    cr_assert(contains(text, "{route=\"unmatched\",method=\"GET\",code=\"404\"} 1\n"), "%s", text);
    free(text);
    metrics_free(m);
}

static void collect_two(metrics_writer *w, void *ctx)
{
    const int *n = ctx;
    metrics_family(w, "test_gauge", "gauge", "A help\\text\nwith a newline.");
    metrics_sample(w, "test_gauge", "stream", "a\"b", *n);
    metrics_sample(w, "test_gauge", "stream", "c", -3);
}

Test(metrics, collectors_write_after_the_built_in_families)
{
    metrics *m = metrics_new(routes, 2);
    int n = 42;
    cr_assert_eq(metrics_add_collector(m, collect_two, &n), 0);
    metrics_add(m, METRIC_HOLDS_MADE, 3);
    metrics_add(m, METRIC_POINTS_PAID, 1500);
    char *text = render(m);
    cr_assert(contains(text, "# HELP test_gauge A help\\\\text\\nwith a newline.\n"
                             "# TYPE test_gauge gauge\n"
                             "test_gauge{stream=\"a\\\"b\"} 42\n"
                             "test_gauge{stream=\"c\"} -3\n"),
              "%s", text);
    cr_assert(contains(text, "\nconcert_holds_made_total 3\n"));
    cr_assert(contains(text, "\nconcert_points_paid_total 1500\n"));
    cr_assert(contains(text, "\nconcert_holds_expired_total 0\n"));
    cr_assert_lt(strstr(text, "concert_holds_made_total"), strstr(text, "test_gauge"));
    free(text);
    metrics_free(m);
}

Test(metrics, first_sight_counts_an_id_once)
{
    metrics *m = metrics_new(routes, 2);
    cr_assert_eq(metrics_first_sight(m, METRICS_ID_PAYMENT, 7), 1);
    cr_assert_eq(metrics_first_sight(m, METRICS_ID_PAYMENT, 7), 0);
    cr_assert_eq(metrics_first_sight(m, METRICS_ID_CHARGE, 7), 1); /* another kind */
    cr_assert_eq(metrics_first_sight(NULL, METRICS_ID_PAYMENT, 8), 0);
    metrics_free(m);
}

#define THREADS 4
#define PER_THREAD 100000

static void *hammer(void *arg)
{
    metrics *m = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        metrics_observe_request(m, 0, "POST", 201, (uint64_t)(i % 3000), 2);
        metrics_add(m, METRIC_PAYMENTS, 1);
    }
    return NULL;
}

Test(metrics, concurrent_recording_loses_nothing)
{
    metrics *m = metrics_new(routes, 2);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, hammer, m), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    char *text = render(m);
    char want[160];
    snprintf(want, sizeof want, "method=\"POST\",code=\"201\"} %d\n", THREADS * PER_THREAD);
    cr_assert(contains(text, want), "%s", text);
    snprintf(want, sizeof want, "le=\"+Inf\"} %d\n", THREADS * PER_THREAD);
    cr_assert(contains(text, want), "%s", text);
    snprintf(want, sizeof want, "\nconcert_payments_total %d\n", THREADS * PER_THREAD);
    cr_assert(contains(text, want), "%s", text);
    snprintf(want, sizeof want, "_bytes_total{route=\"/a/{id}\"} %d\n", 2 * THREADS * PER_THREAD);
    cr_assert(contains(text, want), "%s", text);
    free(text);
    metrics_free(m);
}

/* ---- the hold watcher, on a store with the fake clock ---- */

TestSuite(hold_watch, .init = setup_store_with_catalog, .fini = teardown_store);

static uint64_t expired_of(metrics *m)
{
    char *text = render(m);
    const char *at = strstr(text, "\nconcert_holds_expired_total ");
    cr_assert_not_null(at);
    const uint64_t n = strtoull(at + strlen("\nconcert_holds_expired_total "), NULL, 10);
    free(text);
    return n;
}

/* The watcher looks at the clock at least once a second (real time). */
static void wait_for_expired(metrics *m, uint64_t want)
{
    const struct timespec tick = { 0, 20 * 1000 * 1000 };
    for (int i = 0; i < 500 && expired_of(m) < want; i++)
        nanosleep(&tick, NULL);
}

Test(hold_watch, settle_answers_once_per_hold)
{
    metrics *m = metrics_new(routes, 2);
    hold_watch *w = hold_watch_start(db, m, 300000);
    cr_assert_not_null(w);
    hold_watch_add(w, "tok", 5, clock_now() + HOUR);
    cr_assert_eq(hold_watch_settle(w, 5), 1);
    cr_assert_eq(hold_watch_settle(w, 5), 0);
    cr_assert_eq(hold_watch_settle(w, 6), -1);
    cr_assert_eq(hold_watch_settle(NULL, 5), -1);
    /* Many holds: the table grows and every one is still found. */
    for (int64_t id = 100; id < 5100; id++)
        hold_watch_add(w, "tok", id, clock_now() + HOUR);
    for (int64_t id = 100; id < 5100; id++)
        cr_assert_eq(hold_watch_settle(w, id), 1, "id %lld", (long long)id);
    hold_watch_stop(w);
    metrics_free(m);
}

/*
 * Four holds on schedule 10 (user 1 has 100,000 points; seats 11.. cost
 * 10,000): one left to run out with its token ACTIVE (read back EXPIRED:
 * counted), one released, one paid with a payment through this process
 * that ended the token while a fourth hold of that token was left (the
 * read is refused; the token ended here: counted). Released and paid are
 * the released one is not settled here, as if another process had released
 * it: the watcher's one read (RELEASED) keeps it out; the paid one is
 * settled as handlers_payments.c does.
 */
Test(hold_watch, each_hold_is_decided_once_after_it_ran_out)
{
    metrics *m = metrics_new(routes, 2);
    hold_watch *w = hold_watch_start(db, m, 300000);
    concert_token_info a, b;
    issue_active(1, &a);
    issue_active(3, &b);
    concert_reservation expiring, released, paid, left;
    expect_rc(concert_reserve_seat(&expiring, db, a.token, 10, 11), CONCERT_OK);
    expect_rc(concert_reserve_seat(&released, db, a.token, 10, 12), CONCERT_OK);
    expect_rc(concert_reserve_seat(&paid, db, b.token, 10, 13), CONCERT_OK);
    expect_rc(concert_reserve_seat(&left, db, b.token, 10, 14), CONCERT_OK);
    hold_watch_add(w, a.token, expiring.id, expiring.held_until);
    hold_watch_add(w, a.token, released.id, released.held_until);
    hold_watch_add(w, b.token, paid.id, paid.held_until);
    hold_watch_add(w, b.token, left.id, left.held_until);
    /* Released elsewhere: only the watcher's read can tell. */
    expect_rc(concert_reservation_release(NULL, db, a.token, released.id), CONCERT_OK);
    /* Paid here, as handlers_payments.c reports it. */
    concert_payment p;
    expect_rc(concert_pay(&p, db, b.token, paid.id, NULL), CONCERT_OK);
    cr_assert_eq(hold_watch_settle(w, paid.id), 1);
    hold_watch_token_ended(w, b.token);

    clock_advance(expiring.held_until - clock_now() + 999);
    const struct timespec settle_time = { 1, 200 * 1000 * 1000 }; /* one look at the clock */
    nanosleep(&settle_time, NULL);
    cr_assert_eq(expired_of(m), 0, "decided before held_until + 1 s");
    clock_advance(1);
    wait_for_expired(m, 2);
    nanosleep(&settle_time, NULL);
    cr_assert_eq(expired_of(m), 2);
    hold_watch_stop(w);
    metrics_free(m);
}

/* A token ended elsewhere (here: a payment nobody reported) may have paid
 * the hold: not counted. */
Test(hold_watch, a_token_ended_elsewhere_is_not_counted)
{
    metrics *m = metrics_new(routes, 2);
    hold_watch *w = hold_watch_start(db, m, 300000);
    concert_token_info a;
    issue_active(1, &a);
    concert_reservation r;
    expect_rc(concert_reserve_seat(&r, db, a.token, 10, 15), CONCERT_OK);
    hold_watch_add(w, a.token, r.id, r.held_until);
    concert_payment p;
    expect_rc(concert_pay(&p, db, a.token, r.id, NULL), CONCERT_OK);
    clock_advance(r.held_until - clock_now() + 1000);
    const struct timespec settle_time = { 1, 200 * 1000 * 1000 };
    nanosleep(&settle_time, NULL);
    hold_watch_stop(w); /* joins the thread: every due hold was looked at */
    cr_assert_eq(expired_of(m), 0);
    metrics_free(m);
}
