/*
 * Scenario 1: the complete booking flow, in process.
 *
 * One flow = concert_queue_issue (admitted at once, or polled with
 * concert_queue_status_get until ACTIVE) -> concert_reserve_seat ->
 * concert_pay. Paying ends the token, so the buyer's active slot is free
 * again for the next flow: max_active stays at the library default.
 * Buyers never collide: each thread has its own users and its own seats,
 * which is the uncontended ceiling of the flow (contention on one seat is
 * a correctness matter, tested in tests/, not a throughput one).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define FLOW_CONCERT_ID 1
#define FLOW_FIRST_SCHEDULE 1
#define FLOW_SEATS_PER_SCHEDULE 100000
#define FLOW_MAX_USERS 100000
#define FLOW_PRICE 100
#define FLOW_POINTS INT64_C(1000000000000)
/* A token admitted at once needs no poll; this bounds a stuck one. */
#define FLOW_MAX_POLLS 1000000

typedef struct flow_worker {
    concert_db *db;
    int64_t first_user, user_count;
    int64_t first_seat, seat_count; /* global seat index range */
    int64_t deadline_ns;            /* 0: run the whole seat range */
    int64_t done, polls;
    bench_errors errors;
    bench_samples samples;
} flow_worker;

static void flow_run(void *arg)
{
    flow_worker *w = arg;
    concert_token_info info;
    concert_reservation r;
    concert_payment p;
    int rc;

    for (int64_t k = 0; k < w->seat_count; k++) {
        if (w->deadline_ns && (k & 15) == 0 && bench_now_ns() >= w->deadline_ns)
            break;
        const int64_t user = w->first_user + k % w->user_count;
        const int64_t seat_index = w->first_seat + k;
        const int64_t schedule = FLOW_FIRST_SCHEDULE + seat_index / FLOW_SEATS_PER_SCHEDULE;
        const int64_t seat = seat_index % FLOW_SEATS_PER_SCHEDULE + 1;
        const int64_t t0 = bench_now_ns();

        if ((rc = concert_queue_issue(&info, w->db, user)) != 0) {
            bench_errors_note(&w->errors, "issue", rc);
            continue;
        }
        for (int64_t polls = 0; rc == 0 && info.state == CONCERT_TOKEN_WAITING; polls++) {
            if (polls >= FLOW_MAX_POLLS) {
                rc = CONCERT_EBUSY;
                break;
            }
            rc = concert_queue_status_get(&info, w->db, info.token);
            w->polls++;
        }
        if (rc != 0) {
            bench_errors_note(&w->errors, "admit", rc);
            (void)concert_queue_leave(w->db, info.token);
            continue;
        }
        if ((rc = concert_reserve_seat(&r, w->db, info.token, schedule, seat)) != 0) {
            bench_errors_note(&w->errors, "reserve", rc);
            (void)concert_queue_leave(w->db, info.token);
            continue;
        }
        if ((rc = concert_pay(&p, w->db, info.token, r.id, NULL)) != 0) {
            bench_errors_note(&w->errors, "pay", rc);
            (void)concert_queue_leave(w->db, info.token);
            continue;
        }
        bench_samples_add(&w->samples, bench_now_ns() - t0);
        w->done++;
    }
}

/* Seats for one repetition: --ops flows, or in duration mode enough for a
 * generous rate over the duration. */
static int64_t flow_capacity(const bench_options *o, int kind)
{
    if (o->duration_s > 0) {
        const double rate = kind == STORE_MEMORY ? 1500000.0 : 20000.0;
        double cap = rate * o->duration_s;
        if (cap > 8000000.0)
            cap = 8000000.0;
        return (int64_t)cap;
    }
    return bench_default_ops(o, kind, 200000, 2000);
}

/* One repetition on a fresh store. Returns 0 or -1. */
static int flow_rep(const bench_options *o, int kind, int threads, int64_t capacity, bench_rep *rep,
                    int64_t *done_out, bench_errors *errors, int64_t *polls)
{
    concert_options opts = CONCERT_OPTIONS_INIT;
    bench_store st;
    flow_worker *workers = NULL;
    bench_samples all = { 0 };
    int64_t users = capacity < FLOW_MAX_USERS ? capacity : FLOW_MAX_USERS;
    const int64_t schedules = (capacity + FLOW_SEATS_PER_SCHEDULE - 1) / FLOW_SEATS_PER_SCHEDULE;
    int64_t elapsed = 0, cpu = 0, done = 0;
    int rc = -1;

    if (users < threads)
        users = threads;
    if (threads > 8)
        opts.pool_size = threads; /* one connection per thread, no pool waits */
    if (bench_store_open(&st, kind, o, &opts) != 0)
        return -1;
    if (bench_load_users(st.db, 1, users, FLOW_POINTS) != 0 ||
        bench_load_concert(st.db, FLOW_CONCERT_ID, FLOW_FIRST_SCHEDULE, schedules,
                           FLOW_SEATS_PER_SCHEDULE, FLOW_PRICE) != 0)
        goto out;
    workers = calloc((size_t)threads, sizeof(*workers));
    if (!workers)
        goto out;
    for (int i = 0; i < threads; i++) {
        flow_worker *w = &workers[i];
        w->db = st.db;
        w->user_count = users / threads;
        w->first_user = 1 + i * w->user_count;
        w->seat_count = capacity / threads;
        w->first_seat = i * w->seat_count;
        w->deadline_ns = 0;
        if (bench_samples_init(&w->samples, (size_t)w->seat_count) != 0)
            goto out;
    }
    /* The deadline counts from the start of the timed run, not the load. */
    if (o->duration_s > 0) {
        const int64_t deadline = bench_now_ns() + (int64_t)(o->duration_s * 1e9);
        for (int i = 0; i < threads; i++)
            workers[i].deadline_ns = deadline;
    }
    if (bench_parallel(threads, flow_run, workers, sizeof(*workers), &elapsed, &cpu) != 0)
        goto out;
    for (int i = 0; i < threads; i++) {
        done += workers[i].done;
        *polls += workers[i].polls;
        bench_errors_merge(errors, &workers[i].errors);
        if (bench_samples_merge(&all, &workers[i].samples) != 0)
            goto out;
    }
    bench_rep_from(rep, done, elapsed, cpu, &all);
    *done_out = done;
    rc = 0;
out:
    if (workers) {
        for (int i = 0; i < threads; i++)
            bench_samples_free(&workers[i].samples);
        free(workers);
    }
    bench_samples_free(&all);
    bench_store_close(&st);
    return rc;
}

int scenario_flow(const bench_options *o, int kind, int threads)
{
    bench_rep reps[64];
    bench_row row;
    bench_errors errors = { 0 };
    int64_t done = 0, polls = 0, peak = -1;
    const int64_t capacity = flow_capacity(o, kind);

    bench_row_init(&row, "flow", kind, threads);
    bench_log("flow: %s, %d thread(s), %lld flows per repetition", bench_store_name(kind), threads,
              (long long)capacity);
    for (int i = 0; i < o->reps; i++) {
        bench_peak_rss_reset();
        if (flow_rep(o, kind, threads, capacity, &reps[i], &done, &errors, &polls) != 0)
            return -1;
        const int64_t p = bench_peak_rss_kib();
        if (p > peak)
            peak = p;
    }
    bench_rep_median(&row.median, reps, o->reps);
    row.ops = done;
    row.reps = o->reps;
    row.peak_rss_kib = peak;
    snprintf(row.size, sizeof(row.size), "%lld flows",
             (long long)(o->duration_s > 0 ? done : capacity));
    if (errors.count)
        snprintf(row.note, sizeof(row.note), "%lld errors, first: %s", (long long)errors.count,
                 errors.first);
    else if (polls)
        snprintf(row.note, sizeof(row.note), "%lld status polls to get admitted", (long long)polls);
    else
        snprintf(row.note, sizeof(row.note), "issue+reserve+pay, admitted at once");
    return bench_report_add(&row);
}
