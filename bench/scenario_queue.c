/*
 * Scenario 2: the queue at scale.
 *
 * With max_active = 1 every token after the first WAITS. The queue is
 * filled to 1,000 and to --queue-size (default 1,000,000) waiting tokens
 * through concert_queue_issue itself (several threads for durable stores,
 * where each issue is a round trip or a commit), then measured:
 *  - issue: a new user joins at the back (then leaves, untimed, so the
 *    queue keeps its size across operations);
 *  - status: a random waiting token polls its position.
 * Both measurements repeat on the same filled store: filling a million
 * tokens per repetition would cost more than everything else together.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define DAY_MS (INT64_C(24) * 3600 * 1000)
#define MEASURE_USERS 1000

typedef struct fill_worker {
    concert_db *db;
    int64_t first_user, count;
    char *tokens;                 /* count * CONCERT_TOKEN_SIZE bytes */
    bench_errors errors;
} fill_worker;

static void fill_run(void *arg)
{
    fill_worker *w = arg;
    concert_token_info info;
    for (int64_t i = 0; i < w->count; i++) {
        const int rc = concert_queue_issue(&info, w->db, w->first_user + i);
        if (rc != 0) {
            bench_errors_note(&w->errors, "fill issue", rc);
            w->tokens[i * CONCERT_TOKEN_SIZE] = '\0';
            continue;
        }
        memcpy(w->tokens + i * CONCERT_TOKEN_SIZE, info.token, CONCERT_TOKEN_SIZE);
    }
}

/* Issue tokens for users 1..size with `threads` threads; tokens[] gets them. */
static int queue_fill(concert_db *db, int64_t size, int threads, char *tokens, double *rate)
{
    fill_worker *w = calloc((size_t)threads, sizeof(*w));
    bench_errors errors = {0};
    int64_t elapsed = 0;
    if (!w)
        return -1;
    const int64_t per = size / threads;
    for (int i = 0; i < threads; i++) {
        w[i].db = db;
        w[i].first_user = 1 + i * per;
        w[i].count = i == threads - 1 ? size - i * per : per;
        w[i].tokens = tokens + (size_t)(i * per) * CONCERT_TOKEN_SIZE;
    }
    const int rc = bench_parallel(threads, fill_run, w, sizeof(*w), &elapsed, NULL);
    for (int i = 0; i < threads; i++)
        bench_errors_merge(&errors, &w[i].errors);
    free(w);
    if (rc != 0)
        return -1;
    if (errors.count) {
        bench_log("queue fill: %lld errors, first: %s", (long long)errors.count, errors.first);
        return -1;
    }
    *rate = elapsed > 0 ? (double)size * 1e9 / (double)elapsed : 0.0;
    return 0;
}

/* One repetition of joins: issue timed, leave untimed. */
static int measure_issue(concert_db *db, int64_t size, int64_t ops, bench_rep *rep)
{
    bench_samples s;
    concert_token_info info;
    int64_t total = 0;
    if (bench_samples_init(&s, (size_t)ops) != 0)
        return -1;
    for (int64_t k = 0; k < ops; k++) {
        const int64_t user = size + 1 + k % MEASURE_USERS;
        const int64_t t0 = bench_now_ns();
        int rc = concert_queue_issue(&info, db, user);
        const int64_t dt = bench_now_ns() - t0;
        if (rc == 0 && !info.is_new)
            rc = CONCERT_EINTERNAL; /* would time a lookup, not a join */
        if (rc == 0)
            rc = concert_queue_leave(db, info.token);
        if (rc != 0) {
            bench_log("queue issue: %s (%s)", concert_error_name(rc),
                      concert_error_last()->message);
            bench_samples_free(&s);
            return -1;
        }
        bench_samples_add(&s, dt);
        total += dt;
    }
    /* Throughput here is 1 / mean cost of the timed call alone (the CPU
     * time would include the leaves, so it is not reported). */
    bench_rep_from(rep, ops, total, -1, &s);
    bench_samples_free(&s);
    return 0;
}

static int measure_status(concert_db *db, const char *tokens, int64_t size, int64_t ops,
                          uint64_t *seed, bench_rep *rep)
{
    bench_samples s;
    concert_token_info info;
    char token[CONCERT_TOKEN_SIZE];
    int64_t total = 0;
    if (bench_samples_init(&s, (size_t)ops) != 0)
        return -1;
    for (int64_t k = 0; k < ops; k++) {
        /* Copied outside the timed call: a server gets the token fresh
         * from the request, not from a cold 64 MB array of the caller. */
        memcpy(token, tokens + (bench_rand(seed) % (uint64_t)size) * CONCERT_TOKEN_SIZE,
               sizeof(token));
        const int64_t t0 = bench_now_ns();
        const int rc = concert_queue_status(&info, db, token);
        const int64_t dt = bench_now_ns() - t0;
        bench_samples_add(&s, dt);
        total += dt;
        if (rc != 0) {
            bench_log("queue status: %s (%s)", concert_error_name(rc),
                      concert_error_last()->message);
            bench_samples_free(&s);
            return -1;
        }
    }
    /* Throughput is 1 / mean cost of the timed call alone. */
    bench_rep_from(rep, ops, total, -1, &s);
    bench_samples_free(&s);
    return 0;
}

static void size_label(char *buf, size_t n, int64_t size)
{
    char digits[32];
    snprintf(digits, sizeof(digits), "%lld", (long long)size);
    const size_t len = strlen(digits);
    size_t o = 0;
    for (size_t i = 0; i < len && o + 1 < n; i++) {
        if (i > 0 && (len - i) % 3 == 0 && o + 2 < n)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    strncat(buf, " waiting", n - strlen(buf) - 1);
}

/* Fill a fresh store to `size` waiting tokens and add the two rows. */
static int queue_size_run(const bench_options *o, int kind, int64_t size, bench_rep *issue_med,
                          bench_rep *status_med)
{
    concert_options opts = CONCERT_OPTIONS_INIT;
    bench_store st;
    bench_rep issue[64], status[64];
    concert_queue_stats stats;
    char *tokens = NULL;
    double fill_rate = 0.0;
    uint64_t seed = 12345;
    int rc = -1;
    /* Fastest honest fill through the API: memory is CPU-bound (1 thread),
     * SQLite serialises writers (2 overlap the reads), PostgreSQL is
     * round-trip bound (16 connections in flight). */
    const int fill_threads = kind == STORE_MEMORY ? 1 : kind == STORE_SQLITE ? 2 : 16;
    const int64_t ops = bench_default_ops(o, kind, 100000, 2000);
    const int64_t issue_ops = ops < size ? ops : size;
    bench_row row_issue, row_status;

    opts.max_active = 1;
    opts.active_ttl_ms = DAY_MS; /* nothing may expire or drop while we measure */
    opts.wait_ttl_ms = DAY_MS;
    if (fill_threads > 8)
        opts.pool_size = fill_threads;
    bench_row_init(&row_issue, "queue.issue", kind, 1);
    bench_row_init(&row_status, "queue.status", kind, 1);
    size_label(row_issue.size, sizeof(row_issue.size), size);
    snprintf(row_status.size, sizeof(row_status.size), "%s", row_issue.size);

    bench_peak_rss_reset();
    if (bench_store_open(&st, kind, o, &opts) != 0)
        return -1;
    tokens = malloc((size_t)size * CONCERT_TOKEN_SIZE);
    if (!tokens)
        goto out;
    bench_log("queue: %s, loading %lld users", bench_store_name(kind),
              (long long)(size + MEASURE_USERS));
    if (bench_load_users(st.db, 1, size + MEASURE_USERS, 0) != 0)
        goto out;
    bench_log("queue: %s, issuing %lld tokens with %d thread(s)", bench_store_name(kind),
              (long long)size, fill_threads);
    if (queue_fill(st.db, size, fill_threads, tokens, &fill_rate) != 0)
        goto out;
    if (concert_queue_stats_get(&stats, st.db) != 0 || stats.waiting < size - 1) {
        bench_log("queue: expected %lld waiting, store reports %lld", (long long)size - 1,
                  (long long)stats.waiting);
        goto out;
    }
    /* Polls first, on the queue exactly as filled. Joins leave ended tokens
     * behind; at most `size` of them per repetition, so the store never
     * holds more than (reps + 1) x size tokens. */
    for (int i = 0; i < o->reps; i++) {
        if (measure_status(st.db, tokens, size, ops, &seed, &status[i]) != 0)
            goto out;
    }
    for (int i = 0; i < o->reps; i++) {
        if (measure_issue(st.db, size, issue_ops, &issue[i]) != 0)
            goto out;
    }
    bench_rep_median(issue_med, issue, o->reps);
    bench_rep_median(status_med, status, o->reps);
    row_issue.median = *issue_med;
    row_status.median = *status_med;
    row_issue.ops = issue_ops;
    row_status.ops = ops;
    row_issue.reps = row_status.reps = o->reps;
    row_issue.peak_rss_kib = row_status.peak_rss_kib = bench_peak_rss_kib();
    snprintf(row_issue.note, sizeof(row_issue.note),
             "join at the back (leave untimed); filled at %.0f issues/s with %d thread(s)",
             fill_rate, fill_threads);
    snprintf(row_status.note, sizeof(row_status.note), "random waiting token, %lld waiting",
             (long long)stats.waiting);
    rc = bench_report_add(&row_issue) | bench_report_add(&row_status);
out:
    free(tokens);
    bench_store_close(&st);
    return rc;
}

int scenario_queue(const bench_options *o, int kind)
{
    bench_rep small_issue, small_status, big_issue, big_status;
    /* Durable stores under --quick fill 100,000: a million commits or
     * round trips take minutes. The size used is in every row. */
    int64_t big = o->queue_size > 0 ? o->queue_size : 1000000;
    if (kind == STORE_SQLITE && o->durable_queue_size > 0)
        big = o->durable_queue_size;
    else if (kind == STORE_PG && o->pg_queue_size > 0)
        big = o->pg_queue_size;
    else if (kind != STORE_MEMORY && o->quick && o->queue_size == 0)
        big = 100000;

    if (queue_size_run(o, kind, 1000, &small_issue, &small_status) != 0)
        return -1;
    if (queue_size_run(o, kind, big, &big_issue, &big_status) != 0)
        return -1;
    bench_row row;
    bench_row_init(&row, "queue.status.ratio", kind, 1);
    snprintf(row.size, sizeof(row.size), "%lld/1000", (long long)big);
    row.reps = o->reps;
    row.value = small_status.mean_us > 0 ? big_status.mean_us / small_status.mean_us : 0.0;
    snprintf(row.value_name, sizeof(row.value_name), "cost_ratio");
    snprintf(row.note, sizeof(row.note),
             "status poll mean cost big/small (p50 ratio %.2f); issue cost ratio %.2f",
             small_status.p50_us > 0 ? big_status.p50_us / small_status.p50_us : 0.0,
             small_issue.mean_us > 0 ? big_issue.mean_us / small_issue.mean_us : 0.0);
    return bench_report_add(&row);
}
