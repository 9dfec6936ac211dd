/*
 * Scenario 2: the queue at scale.
 *
 * With max_active = 1 every token after the first WAITS. The queue is
 * filled to 1,000 and to --queue-size (default 1,000,000) waiting tokens
 * through concert_queue_issue itself (several threads for durable stores,
 * where each issue is a round trip or a commit), then measured:
 *  - status: a random waiting token polls its position through the public
 *    API on the db that issued it, which answers from the db's cache of
 *    WAITING tokens (queue_refresh_ms = 250, the default) and reads the
 *    store only to refresh its view of the queue, at most every 250 ms;
 *    timed for at least POLL_MIN_NS so that refreshes are counted in
 *    proportion (a run shorter than 250 ms might contain none);
 *  - status.store: the same poll on a db opened with queue_refresh_ms = 0,
 *    which reads the store every time: the store's own poll. SQLite and
 *    PostgreSQL open a second db on the same store; the memory store
 *    cannot be shared, so it is filled a second time;
 *  - issue: a new user joins at the back (then leaves, untimed, so the
 *    queue keeps its size across operations).
 * The measurements repeat on the same filled store: filling a million
 * tokens per repetition would cost more than everything else together.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define DAY_MS (INT64_C(24) * 3600 * 1000)
#define MEASURE_USERS 1000
/* The cached poll runs at least this long per repetition: 4 refresh
 * intervals of the default 250 ms. */
#define POLL_MIN_NS INT64_C(1000000000)
/* Latency samples kept per cached-poll repetition (32 MiB); the mean counts
 * every poll, the percentiles these. */
#define POLL_MAX_SAMPLES 4000000

typedef struct fill_worker {
    concert_db *db;
    int64_t first_user, count;
    char *tokens; /* count * CONCERT_TOKEN_SIZE bytes */
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
    bench_errors errors = { 0 };
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

/* Tokens picked per batch of polls: their copies (4 KiB) stay in L1. */
#define POLL_BATCH 64

typedef int (*poll_fn)(concert_token_info *out, concert_db *db, const char *token);

/* The calibration's stand-in for a poll: the call and the reply's write,
 * nothing else. Not inlined, so the loop around it stays the same. */
__attribute__((noinline)) static int no_poll(concert_token_info *out, concert_db *db,
                                             const char *token)
{
    (void)db;
    out->token[0] = token[0];
    return 0;
}

/* Calls of fn on random tokens: at least ops of them, and for at least
 * min_ns when min_ns > 0. Each call's wall time goes to s and *total. */
static int poll_loop(poll_fn fn, concert_db *db, const char *tokens, int64_t size, int64_t ops,
                     int64_t min_ns, uint64_t *seed, bench_samples *s, int64_t *total,
                     int64_t *done)
{
    concert_token_info info;
    char batch[POLL_BATCH][CONCERT_TOKEN_SIZE];
    size_t pick[POLL_BATCH];
    const int64_t start = bench_now_ns();
    *total = *done = 0;
    while (*done < ops || (min_ns > 0 && bench_now_ns() - start < min_ns)) {
        /* A server gets the token fresh from the request, not from a cold
         * array of the caller: the picks are copied outside the timed call,
         * a batch at a time with their loads in flight together (64 MB of
         * tokens at 1M). */
        for (int i = 0; i < POLL_BATCH; i++) {
            pick[i] = (size_t)(bench_rand(seed) % (uint64_t)size);
            __builtin_prefetch(tokens + pick[i] * CONCERT_TOKEN_SIZE);
        }
        for (int i = 0; i < POLL_BATCH; i++)
            memcpy(batch[i], tokens + pick[i] * CONCERT_TOKEN_SIZE, CONCERT_TOKEN_SIZE);
        for (int i = 0; i < POLL_BATCH; i++) {
            const int64_t t0 = bench_now_ns();
            const int rc = fn(&info, db, batch[i]);
            const int64_t dt = bench_now_ns() - t0;
            bench_samples_add(s, dt);
            *total += dt;
            (*done)++;
            if (rc != 0) {
                bench_log("queue status: %s (%s)", concert_error_name(rc),
                          concert_error_last()->message);
                return -1;
            }
        }
    }
    return 0;
}

/* Iterations of the calibration loop (the same loop without the poll). */
#define CALIBRATION_OPS INT64_C(1000000)

/*
 * Polls of random waiting tokens: at least ops of them, and for at least
 * min_ns when min_ns > 0 (then the mean is over every poll, the
 * percentiles over the first POLL_MAX_SAMPLES). Throughput is 1 / mean
 * cost of the timed call alone. The CPU time per poll is the loop's, less
 * what the same loop costs with a call that does nothing (*loop_us per
 * iteration: the random pick, the batch's copies, whose misses at a
 * million tokens are the caller's, the two clock reads and the sample):
 * unlike the wall time it leaves out the time other processes held the
 * CPU. On PostgreSQL it also leaves out the server's share, so only the
 * wall time counts there.
 */
static int measure_status(concert_db *db, const char *tokens, int64_t size, int64_t ops,
                          int64_t min_ns, uint64_t *seed, bench_rep *rep, double *loop_us)
{
    bench_samples s;
    int64_t total = 0, done = 0, cal_total = 0, cal_done = 0;
    if (bench_samples_init(&s, min_ns > 0 ? POLL_MAX_SAMPLES : (size_t)ops) != 0)
        return -1;
    const int64_t cpu0 = bench_cpu_ns();
    if (poll_loop(concert_queue_status_get, db, tokens, size, ops, min_ns, seed, &s, &total,
                  &done) != 0) {
        bench_samples_free(&s);
        return -1;
    }
    const int64_t cpu = bench_cpu_ns() - cpu0;
    bench_rep_from(rep, done, total, -1, &s);
    s.count = 0;
    const int64_t cal_ops = done < CALIBRATION_OPS ? done : CALIBRATION_OPS;
    const int64_t cal0 = bench_cpu_ns();
    (void)poll_loop(no_poll, db, tokens, size, cal_ops, 0, seed, &s, &cal_total, &cal_done);
    const double per_loop = (double)(bench_cpu_ns() - cal0) / (double)cal_done;
    const double net = (double)cpu / (double)done - per_loop;
    rep->cpu_us = net > 0 ? net / 1000.0 : 0.0;
    *loop_us = per_loop / 1000.0;
    bench_samples_free(&s);
    return 0;
}

static double median_of(const double *v, int n)
{
    double sorted[64];
    memcpy(sorted, v, (size_t)n * sizeof(*v));
    for (int i = 1; i < n; i++) {
        for (int j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
            const double t = sorted[j];
            sorted[j] = sorted[j - 1];
            sorted[j - 1] = t;
        }
    }
    return n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
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

typedef struct queue_medians {
    bench_rep issue;
    bench_rep status;       /* public API, cached */
    bench_rep status_store; /* queue_refresh_ms = 0 */
} queue_medians;

/* Load the users and issue `size` tokens into an open store. */
static int queue_load(concert_db *db, int kind, int64_t size, int fill_threads, char *tokens,
                      double *fill_rate)
{
    concert_queue_stats stats;
    bench_log("queue: %s, loading %lld users", bench_store_name(kind),
              (long long)(size + MEASURE_USERS));
    if (bench_load_users(db, 1, size + MEASURE_USERS, 0) != 0)
        return -1;
    bench_log("queue: %s, issuing %lld tokens with %d thread(s)", bench_store_name(kind),
              (long long)size, fill_threads);
    if (queue_fill(db, size, fill_threads, tokens, fill_rate) != 0)
        return -1;
    if (concert_queue_stats_get(&stats, db) != 0 || stats.waiting < size - 1) {
        bench_log("queue: expected %lld waiting, store reports %lld", (long long)size - 1,
                  (long long)stats.waiting);
        return -1;
    }
    return 0;
}

/*
 * The store's own poll: a db with queue_refresh_ms = 0 on the filled store
 * (SQLite, PostgreSQL), or on a second memory store filled the same way
 * (tokens is then overwritten with that store's tokens).
 */
static int measure_store_polls(const bench_options *o, int kind, const bench_store *st,
                               const concert_options *opts, int64_t size, int fill_threads,
                               char *tokens, int64_t ops, uint64_t *seed, bench_rep *med,
                               double *loop_us)
{
    concert_options raw_opts = *opts;
    bench_store mem;
    concert_db *raw = NULL;
    bench_rep reps[64];
    double fill_rate = 0.0, loop[64];
    int rc = -1;

    raw_opts.queue_refresh_ms = 0;
    memset(&mem, 0, sizeof(mem));
    if (kind == STORE_MEMORY) {
        if (bench_store_open(&mem, kind, o, &raw_opts) != 0)
            return -1;
        if (queue_load(mem.db, kind, size, fill_threads, tokens, &fill_rate) != 0)
            goto out;
        raw = mem.db;
    } else if (concert_db_open(&raw, st->uri, &raw_opts) != 0) {
        bench_log("queue: cannot open a second db on the %s store: %s", bench_store_name(kind),
                  concert_error_last()->message);
        return -1;
    }
    for (int i = 0; i < o->reps; i++) {
        if (measure_status(raw, tokens, size, ops, 0, seed, &reps[i], &loop[i]) != 0)
            goto out;
    }
    bench_rep_median(med, reps, o->reps);
    *loop_us = median_of(loop, o->reps);
    rc = 0;
out:
    if (kind == STORE_MEMORY)
        bench_store_close(&mem);
    else
        concert_db_close(raw);
    return rc;
}

/* Fill a fresh store to `size` waiting tokens and add its rows. */
static int queue_size_run(const bench_options *o, int kind, int64_t size, queue_medians *med)
{
    concert_options opts = CONCERT_OPTIONS_INIT;
    bench_store st;
    bench_rep issue[64], status[64];
    double loop[64], store_loop_us = 0.0;
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
    /* Cached polls cost about the same on every store: as many as memory. */
    const int64_t cached_ops = bench_default_ops(o, STORE_MEMORY, 100000, 100000);
    const int64_t cached_min_ns = o->quick ? POLL_MIN_NS / 2 : POLL_MIN_NS;
    bench_row row_issue, row_status, row_store;

    opts.max_active = 1;
    opts.active_ttl_ms = DAY_MS; /* nothing may expire or drop while we measure */
    opts.wait_ttl_ms = DAY_MS;
    if (fill_threads > 8)
        opts.pool_size = fill_threads;
    bench_row_init(&row_issue, "queue.issue", kind, 1);
    bench_row_init(&row_status, "queue.status", kind, 1);
    bench_row_init(&row_store, "queue.status.store", kind, 1);
    size_label(row_issue.size, sizeof(row_issue.size), size);
    snprintf(row_status.size, sizeof(row_status.size), "%s", row_issue.size);
    snprintf(row_store.size, sizeof(row_store.size), "%s", row_issue.size);

    bench_peak_rss_reset();
    if (bench_store_open(&st, kind, o, &opts) != 0)
        return -1;
    tokens = malloc((size_t)size * CONCERT_TOKEN_SIZE);
    if (!tokens)
        goto out;
    if (queue_load(st.db, kind, size, fill_threads, tokens, &fill_rate) != 0)
        goto out;
    /* Polls first, on the queue exactly as filled. Joins leave ended tokens
     * behind; at most `size` of them per repetition, so the store never
     * holds more than (reps + 1) x size tokens. */
    for (int i = 0; i < o->reps; i++) {
        if (measure_status(st.db, tokens, size, cached_ops, cached_min_ns, &seed, &status[i],
                           &loop[i]) != 0)
            goto out;
    }
    for (int i = 0; i < o->reps; i++) {
        if (measure_issue(st.db, size, issue_ops, &issue[i]) != 0)
            goto out;
    }
    bench_rep_median(&med->issue, issue, o->reps);
    bench_rep_median(&med->status, status, o->reps);
    row_issue.peak_rss_kib = row_status.peak_rss_kib = bench_peak_rss_kib();
    /* The memory store's second fill must not stand beside the first. */
    if (kind == STORE_MEMORY) {
        bench_store_close(&st);
        bench_peak_rss_reset();
    }
    if (measure_store_polls(o, kind, &st, &opts, size, fill_threads, tokens, ops, &seed,
                            &med->status_store, &store_loop_us) != 0)
        goto out;
    row_issue.median = med->issue;
    row_status.median = med->status;
    row_store.median = med->status_store;
    row_issue.ops = issue_ops;
    row_status.ops = cached_ops; /* at least; the run lasts cached_min_ns */
    row_store.ops = ops;
    row_issue.reps = row_status.reps = row_store.reps = o->reps;
    row_store.peak_rss_kib = bench_peak_rss_kib();
    snprintf(row_issue.note, sizeof(row_issue.note),
             "join at the back (leave untimed); filled at %.0f issues/s with %d thread(s)",
             fill_rate, fill_threads);
    snprintf(row_status.note, sizeof(row_status.note),
             "public API, cached (queue_refresh_ms 250), random waiting token, %lld waiting, "
             ">= %.1f s per rep; CPU net of the loop's own %.3f us",
             (long long)size - 1, (double)cached_min_ns / 1e9, median_of(loop, o->reps));
    snprintf(row_store.note, sizeof(row_store.note),
             "the store's own poll (queue_refresh_ms 0), random waiting token, %lld waiting; "
             "CPU net of the loop's own %.3f us",
             (long long)size - 1, store_loop_us);
    rc =
        bench_report_add(&row_issue) | bench_report_add(&row_status) | bench_report_add(&row_store);
out:
    free(tokens);
    bench_store_close(&st);
    return rc;
}

/*
 * big/small cost of a poll. The value is the ratio of CPU time per poll when
 * all the work is in this process (memory, SQLite, and the cached poll on
 * PostgreSQL, whose store reads are a few per second): on a shared machine
 * it does not count the time other processes held the CPU. The store's own
 * poll on PostgreSQL is mostly the server's work: wall time there.
 */
static int ratio_row(const char *scenario, int kind, int64_t big, const bench_options *o,
                     const bench_rep *small, const bench_rep *large, const char *what, int by_cpu,
                     double issue_ratio)
{
    bench_row row;
    const double mean = small->mean_us > 0 ? large->mean_us / small->mean_us : 0.0;
    const double cpu = small->cpu_us > 0 ? large->cpu_us / small->cpu_us : 0.0;
    bench_row_init(&row, scenario, kind, 1);
    snprintf(row.size, sizeof(row.size), "%lld/1000", (long long)big);
    row.reps = o->reps;
    row.value = by_cpu && cpu > 0 ? cpu : mean;
    snprintf(row.value_name, sizeof(row.value_name),
             by_cpu && cpu > 0 ? "cpu_ratio" : "cost_ratio");
    snprintf(row.note, sizeof(row.note),
             "%s, big/small: CPU %.2f, wall mean %.2f, p50 %.2f; issue %.2f", what, cpu, mean,
             small->p50_us > 0 ? large->p50_us / small->p50_us : 0.0, issue_ratio);
    return bench_report_add(&row);
}

int scenario_queue(const bench_options *o, int kind)
{
    queue_medians small, large;
    /* Durable stores under --quick fill 100,000: a million commits or
     * round trips take minutes. The size used is in every row. */
    int64_t big = o->queue_size > 0 ? o->queue_size : 1000000;
    if (kind == STORE_SQLITE && o->durable_queue_size > 0)
        big = o->durable_queue_size;
    else if (kind == STORE_PG && o->pg_queue_size > 0)
        big = o->pg_queue_size;
    else if (kind != STORE_MEMORY && o->quick && o->queue_size == 0)
        big = 100000;

    if (queue_size_run(o, kind, 1000, &small) != 0)
        return -1;
    if (queue_size_run(o, kind, big, &large) != 0)
        return -1;
    const double issue_ratio =
        small.issue.mean_us > 0 ? large.issue.mean_us / small.issue.mean_us : 0.0;
    return ratio_row("queue.status.ratio", kind, big, o, &small.status, &large.status,
                     "cached poll (public API)", 1, issue_ratio) |
           ratio_row("queue.status.store.ratio", kind, big, o, &small.status_store,
                     &large.status_store, "store's poll (refresh 0)", kind != STORE_PG,
                     issue_ratio);
}
