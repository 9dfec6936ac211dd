/*
 * Scenario 3: a big venue, one schedule of --venue-seats (default 100,000).
 *
 * Measures listing every free seat (concert_seats_available, the whole
 * 100,000-item answer each time) and holding random seats in it
 * (concert_reserve_seat), each repetition on a fresh store so that every
 * listing sees the same free seats.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define DAY_MS (INT64_C(24) * 3600 * 1000)
#define VENUE_CONCERT 1
#define VENUE_SCHEDULE 1
#define VENUE_USERS 1000

typedef struct venue_result {
    bench_rep list, reserve;
    int64_t listed;
} venue_result;

static int venue_rep(const bench_options *o, int kind, int64_t lists, int64_t reserves,
                     uint64_t *seed, venue_result *res)
{
    concert_options opts = CONCERT_OPTIONS_INIT;
    bench_store st;
    bench_samples s = { 0 };
    char *tokens = NULL;
    int32_t *order = NULL;
    const int64_t seats = o->venue_seats;
    int rc = -1;

    opts.max_active = VENUE_USERS;
    opts.active_ttl_ms = DAY_MS;
    /* Each buyer holds many seats here: no per-buyer limit (issue 11's
     * default of 4 would refuse all but the first few). */
    opts.max_holds_per_user = 0;
    if (bench_store_open(&st, kind, o, &opts) != 0)
        return -1;
    tokens = malloc((size_t)VENUE_USERS * CONCERT_TOKEN_SIZE);
    order = malloc((size_t)seats * sizeof(*order));
    if (!tokens || !order)
        goto out;
    if (bench_load_users(st.db, 1, VENUE_USERS, 0) != 0 ||
        bench_load_concert(st.db, VENUE_CONCERT, VENUE_SCHEDULE, 1, seats, 100) != 0)
        goto out;
    for (int64_t u = 0; u < VENUE_USERS; u++) {
        concert_token_info info;
        if (concert_queue_issue(&info, st.db, u + 1) != 0 || info.state != CONCERT_TOKEN_ACTIVE) {
            bench_log("venue: token for user %lld not active", (long long)(u + 1));
            goto out;
        }
        memcpy(tokens + u * CONCERT_TOKEN_SIZE, info.token, CONCERT_TOKEN_SIZE);
    }

    if (bench_samples_init(&s, (size_t)lists) != 0)
        goto out;
    int64_t t_start = bench_now_ns(), c_start = bench_cpu_ns();
    for (int64_t k = 0; k < lists; k++) {
        concert_seat_list *list = NULL;
        const int64_t t0 = bench_now_ns();
        const int r = concert_seats_available(&list, st.db, tokens, VENUE_SCHEDULE);
        const int64_t dt = bench_now_ns() - t0;
        if (r != 0) {
            bench_log("venue list: %s (%s)", concert_error_name(r), concert_error_last()->message);
            goto out;
        }
        res->listed = (int64_t)list->count;
        concert_seat_list_free(list);
        bench_samples_add(&s, dt);
    }
    bench_rep_from(&res->list, lists, bench_now_ns() - t_start, bench_cpu_ns() - c_start, &s);
    bench_samples_free(&s);

    /* Distinct random seats: the first `reserves` of a shuffled 1..seats. */
    for (int64_t i = 0; i < seats; i++)
        order[i] = (int32_t)(i + 1);
    for (int64_t i = 0; i < reserves; i++) {
        const int64_t j = i + (int64_t)(bench_rand(seed) % (uint64_t)(seats - i));
        const int32_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    if (bench_samples_init(&s, (size_t)reserves) != 0)
        goto out;
    t_start = bench_now_ns();
    c_start = bench_cpu_ns();
    for (int64_t k = 0; k < reserves; k++) {
        concert_reservation r;
        const char *token = tokens + (k % VENUE_USERS) * CONCERT_TOKEN_SIZE;
        const int64_t t0 = bench_now_ns();
        const int e = concert_reserve_seat(&r, st.db, token, VENUE_SCHEDULE, order[k]);
        bench_samples_add(&s, bench_now_ns() - t0);
        if (e != 0) {
            bench_log("venue reserve: %s (%s)", concert_error_name(e),
                      concert_error_last()->message);
            goto out;
        }
    }
    bench_rep_from(&res->reserve, reserves, bench_now_ns() - t_start, bench_cpu_ns() - c_start, &s);
    rc = 0;
out:
    bench_samples_free(&s);
    free(tokens);
    free(order);
    bench_store_close(&st);
    return rc;
}

int scenario_venue(const bench_options *o, int kind)
{
    bench_rep lists[64], reserves[64];
    venue_result res;
    bench_row row_list, row_reserve;
    uint64_t seed = 4242;
    int64_t peak = -1, listed = 0;
    const int64_t list_ops = o->quick ? 5 : kind == STORE_MEMORY ? 20 : 10;
    int64_t reserve_ops = bench_default_ops(o, kind, 50000, 2000);

    if (reserve_ops > o->venue_seats / 2)
        reserve_ops = o->venue_seats / 2;
    bench_log("venue: %s, %lld seats, %lld listings and %lld holds per repetition",
              bench_store_name(kind), (long long)o->venue_seats, (long long)list_ops,
              (long long)reserve_ops);
    for (int i = 0; i < o->reps; i++) {
        memset(&res, 0, sizeof(res));
        bench_peak_rss_reset();
        if (venue_rep(o, kind, list_ops, reserve_ops, &seed, &res) != 0)
            return -1;
        lists[i] = res.list;
        reserves[i] = res.reserve;
        listed = res.listed;
        const int64_t p = bench_peak_rss_kib();
        if (p > peak)
            peak = p;
    }
    bench_row_init(&row_list, "venue.list", kind, 1);
    bench_row_init(&row_reserve, "venue.reserve", kind, 1);
    snprintf(row_list.size, sizeof(row_list.size), "%lld seats", (long long)o->venue_seats);
    snprintf(row_reserve.size, sizeof(row_reserve.size), "%lld seats", (long long)o->venue_seats);
    bench_rep_median(&row_list.median, lists, o->reps);
    bench_rep_median(&row_reserve.median, reserves, o->reps);
    row_list.ops = list_ops;
    row_reserve.ops = reserve_ops;
    row_list.reps = row_reserve.reps = o->reps;
    row_list.peak_rss_kib = row_reserve.peak_rss_kib = peak;
    row_list.value = row_list.median.mean_us * 1000.0 / (double)(listed ? listed : 1);
    snprintf(row_list.value_name, sizeof(row_list.value_name), "ns_per_seat");
    snprintf(row_list.note, sizeof(row_list.note), "whole free list (%lld seats) per call",
             (long long)listed);
    snprintf(row_reserve.note, sizeof(row_reserve.note), "random distinct seats, %d buyers' tokens",
             VENUE_USERS);
    return bench_report_add(&row_list) | bench_report_add(&row_reserve);
}
