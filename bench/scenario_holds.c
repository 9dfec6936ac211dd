/*
 * Scenario 5: seat holds per second with many threads, each thread holding
 * distinct random seats with its own buyers' ACTIVE tokens. With --pg this
 * is the library side of the comparison with pgbench (scripts/bench.sh runs
 * the equivalent single UPDATE on the same server).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define DAY_MS (INT64_C(24) * 3600 * 1000)
#define HOLDS_SEATS_PER_SCHEDULE 100000
#define HOLDS_USERS_PER_THREAD 16

typedef struct holds_worker {
    concert_db *db;
    const char *tokens;   /* HOLDS_USERS_PER_THREAD tokens */
    const int32_t *seats; /* global seat indexes, distinct */
    int64_t count;
    int64_t deadline_ns;
    int64_t done;
    bench_errors errors;
    bench_samples samples;
} holds_worker;

static void holds_run(void *arg)
{
    holds_worker *w = arg;
    concert_reservation r;
    for (int64_t k = 0; k < w->count; k++) {
        if (w->deadline_ns && (k & 7) == 0 && bench_now_ns() >= w->deadline_ns)
            break;
        const int64_t index = w->seats[k];
        const char *token = w->tokens + (k % HOLDS_USERS_PER_THREAD) * CONCERT_TOKEN_SIZE;
        const int64_t t0 = bench_now_ns();
        const int rc = concert_reserve_seat(&r, w->db, token, 1 + index / HOLDS_SEATS_PER_SCHEDULE,
                                            index % HOLDS_SEATS_PER_SCHEDULE + 1);
        if (rc != 0) {
            bench_errors_note(&w->errors, "reserve", rc);
            continue;
        }
        bench_samples_add(&w->samples, bench_now_ns() - t0);
        w->done++;
    }
}

static int holds_rep(const bench_options *o, int kind, int threads, int64_t capacity,
                     uint64_t *seed, bench_rep *rep, int64_t *done_out, bench_errors *errors)
{
    concert_options opts = CONCERT_OPTIONS_INIT;
    bench_store st;
    holds_worker *w = NULL;
    char *tokens = NULL;
    int32_t *order = NULL;
    bench_samples all = { 0 };
    const int64_t users = (int64_t)threads * HOLDS_USERS_PER_THREAD;
    const int64_t schedules = (capacity + HOLDS_SEATS_PER_SCHEDULE - 1) / HOLDS_SEATS_PER_SCHEDULE;
    int64_t elapsed = 0, cpu = 0, done = 0;
    int rc = -1;

    opts.max_active = users;
    opts.active_ttl_ms = DAY_MS;
    /* Each buyer holds many seats here: no per-buyer limit (issue 11's
     * default of 4 would refuse all but the first few). */
    opts.max_holds_per_user = 0;
    if (threads > 8)
        opts.pool_size = threads;
    if (bench_store_open(&st, kind, o, &opts) != 0)
        return -1;
    w = calloc((size_t)threads, sizeof(*w));
    tokens = malloc((size_t)users * CONCERT_TOKEN_SIZE);
    order = malloc((size_t)capacity * sizeof(*order));
    if (!w || !tokens || !order)
        goto out;
    if (bench_load_users(st.db, 1, users, 0) != 0 ||
        bench_load_concert(st.db, 1, 1, schedules, HOLDS_SEATS_PER_SCHEDULE, 100) != 0)
        goto out;
    for (int64_t u = 0; u < users; u++) {
        concert_token_info info;
        if (concert_queue_issue(&info, st.db, u + 1) != 0 || info.state != CONCERT_TOKEN_ACTIVE) {
            bench_log("holds: token for user %lld not active", (long long)(u + 1));
            goto out;
        }
        memcpy(tokens + u * CONCERT_TOKEN_SIZE, info.token, CONCERT_TOKEN_SIZE);
    }
    for (int64_t i = 0; i < capacity; i++)
        order[i] = (int32_t)i;
    for (int64_t i = capacity - 1; i > 0; i--) {
        const int64_t j = (int64_t)(bench_rand(seed) % (uint64_t)(i + 1));
        const int32_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    const int64_t per = capacity / threads;
    for (int i = 0; i < threads; i++) {
        w[i].db = st.db;
        w[i].tokens = tokens + (size_t)i * HOLDS_USERS_PER_THREAD * CONCERT_TOKEN_SIZE;
        w[i].seats = order + i * per;
        w[i].count = per;
        if (bench_samples_init(&w[i].samples, (size_t)per) != 0)
            goto out;
    }
    if (o->duration_s > 0) {
        const int64_t deadline = bench_now_ns() + (int64_t)(o->duration_s * 1e9);
        for (int i = 0; i < threads; i++)
            w[i].deadline_ns = deadline;
    }
    if (bench_parallel(threads, holds_run, w, sizeof(*w), &elapsed, &cpu) != 0)
        goto out;
    for (int i = 0; i < threads; i++) {
        done += w[i].done;
        bench_errors_merge(errors, &w[i].errors);
        if (bench_samples_merge(&all, &w[i].samples) != 0)
            goto out;
    }
    bench_rep_from(rep, done, elapsed, cpu, &all);
    *done_out = done;
    rc = 0;
out:
    if (w) {
        for (int i = 0; i < threads; i++)
            bench_samples_free(&w[i].samples);
        free(w);
    }
    bench_samples_free(&all);
    free(tokens);
    free(order);
    bench_store_close(&st);
    return rc;
}

int scenario_holds(const bench_options *o, int kind, int threads)
{
    bench_rep reps[64];
    bench_row row;
    bench_errors errors = { 0 };
    uint64_t seed = 777;
    int64_t done = 0, peak = -1;
    int64_t capacity = bench_default_ops(o, kind, 200000, 4000);

    if (o->duration_s > 0) {
        const double rate = kind == STORE_MEMORY ? 3000000.0 : 40000.0;
        capacity = (int64_t)(rate * o->duration_s);
        if (capacity > 8000000)
            capacity = 8000000;
    }
    if (capacity < threads)
        capacity = threads;
    bench_log("holds: %s, %d thread(s), up to %lld holds per repetition", bench_store_name(kind),
              threads, (long long)capacity);
    for (int i = 0; i < o->reps; i++) {
        bench_peak_rss_reset();
        if (holds_rep(o, kind, threads, capacity, &seed, &reps[i], &done, &errors) != 0)
            return -1;
        const int64_t p = bench_peak_rss_kib();
        if (p > peak)
            peak = p;
    }
    bench_row_init(&row, "holds", kind, threads);
    bench_rep_median(&row.median, reps, o->reps);
    row.ops = done;
    row.reps = o->reps;
    row.peak_rss_kib = peak;
    snprintf(row.size, sizeof(row.size), "%lld seats", (long long)capacity);
    if (errors.count)
        snprintf(row.note, sizeof(row.note), "%lld errors, first: %s", (long long)errors.count,
                 errors.first);
    else
        snprintf(row.note, sizeof(row.note), "concert_reserve_seat, distinct random seats");
    return bench_report_add(&row);
}
