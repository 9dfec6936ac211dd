/*
 * concert-bench-sse: thousands of Server-Sent Events subscribers on one
 * running concertd (issue 13), from one thread and one epoll set.
 *
 * The server is started by the caller (scripts/bench.sh) with a catalog of
 * enough users and --max-active SEATS+TRIGGERS+1, so that the users this
 * bench joins are, in order:
 *   SEATS seat subscribers (ACTIVE: a seat stream needs an ACTIVE token),
 *   TRIGGERS leavers (ACTIVE; each leaves once, which admits the head of
 *   the queue: every waiting subscriber's position goes down by one),
 *   one holder (ACTIVE; holds and releases one seat: a change of the map),
 *   N - SEATS queue subscribers (WAITING), and POLLERS tokens that wrk
 *   polls (WAITING, behind the subscribers so their polling moves nothing).
 *
 * It measures, from /proc/PID of the server: RSS before and with the
 * subscribers connected, the CPU time used over a quiet window (no
 * changes: the cost of idle subscribers), and, from the client side: how
 * long each change takes to reach each subscriber (p50/p99/max), and the
 * HTTP poll throughput of wrk on other connections with and without the
 * subscribers connected (alternating runs, medians, ratio).
 *
 * Usage: concert-bench-sse --port N --pid PID [options] (--help).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "httpc.h"
#include "procstat.h"
#include "stats.h"
#include "subs.h"
#include "wrkrun.h"

#define TOKEN_MAX 128
/* A change is late (not delivered) after this long. */
#define DELIVERY_TIMEOUT_S 10.0
/* How long the server may take to notice closed streams. */
#define CLOSE_WAIT_S 45.0

typedef struct options {
    int port;
    pid_t pid;
    long subscribers, seat_subscribers, triggers, pollers, first_user, reps;
    long wrk_conns, wrk_threads, duration_s, quiet_s, inflight;
    int64_t schedule, seat;
    const char *wrk, *wrk_script, *out_dir, *json_path;
    int no_wrk;
} options;

static void usage(FILE *f)
{
    fputs("usage: concert-bench-sse --port N --pid PID [options]\n"
          "  --subscribers N       SSE subscribers in all (default 5000)\n"
          "  --seat-subscribers N  of them on the seat stream (default a tenth)\n"
          "  --schedule ID         the schedule they watch (default 1)\n"
          "  --seat N              the seat held and released (default 1)\n"
          "  --triggers N          changes of each kind (default 5)\n"
          "  --first-user ID       the first user id joined (default 1)\n"
          "  --pollers N           waiting tokens wrk polls (default 1000)\n"
          "  --quiet S             the idle CPU window, seconds (default 10)\n"
          "  --reps N              wrk runs each way, with and without (default 5)\n"
          "  --duration S          seconds per wrk run (default 10)\n"
          "  --wrk-conns N         wrk connections (default 64)\n"
          "  --wrk PATH            wrk (default wrk)\n"
          "  --wrk-script FILE     (default bench/http/status.lua)\n"
          "  --no-wrk              skip the throughput part\n"
          "  --inflight N          handshakes at a time (default 500)\n"
          "  --out DIR             token file and wrk logs (default .)\n"
          "  --json FILE           the figures as one JSON object\n"
          "The server needs --max-active SEAT_SUBSCRIBERS+TRIGGERS+1 and users\n"
          "FIRST_USER..FIRST_USER+SUBSCRIBERS+TRIGGERS+POLLERS.\n",
          f);
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    const long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_options(int argc, char **argv, options *o)
{
    enum {
        O_PORT = 1,
        O_PID,
        O_SUBS,
        O_SEATSUBS,
        O_SCHED,
        O_SEAT,
        O_TRIG,
        O_FIRST,
        O_POLL,
        O_QUIET,
        O_REPS,
        O_DUR,
        O_CONNS,
        O_WRK,
        O_SCRIPT,
        O_NOWRK,
        O_INFL,
        O_OUT,
        O_JSON,
        O_HELP
    };
    static const struct option longs[] = { { "port", 1, 0, O_PORT },
                                           { "pid", 1, 0, O_PID },
                                           { "subscribers", 1, 0, O_SUBS },
                                           { "seat-subscribers", 1, 0, O_SEATSUBS },
                                           { "schedule", 1, 0, O_SCHED },
                                           { "seat", 1, 0, O_SEAT },
                                           { "triggers", 1, 0, O_TRIG },
                                           { "first-user", 1, 0, O_FIRST },
                                           { "pollers", 1, 0, O_POLL },
                                           { "quiet", 1, 0, O_QUIET },
                                           { "reps", 1, 0, O_REPS },
                                           { "duration", 1, 0, O_DUR },
                                           { "wrk-conns", 1, 0, O_CONNS },
                                           { "wrk", 1, 0, O_WRK },
                                           { "wrk-script", 1, 0, O_SCRIPT },
                                           { "no-wrk", 0, 0, O_NOWRK },
                                           { "inflight", 1, 0, O_INFL },
                                           { "out", 1, 0, O_OUT },
                                           { "json", 1, 0, O_JSON },
                                           { "help", 0, 0, O_HELP },
                                           { 0, 0, 0, 0 } };
    *o = (options){ .subscribers = 5000,
                    .seat_subscribers = -1,
                    .triggers = 5,
                    .pollers = 1000,
                    .first_user = 1,
                    .reps = 5,
                    .wrk_conns = 64,
                    .wrk_threads = 2,
                    .duration_s = 10,
                    .quiet_s = 10,
                    .inflight = 500,
                    .schedule = 1,
                    .seat = 1,
                    .wrk = "wrk",
                    .wrk_script = "bench/http/status.lua",
                    .out_dir = "." };
    long v, port = 0, pid = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case O_PORT:
            bad = parse_long(optarg, 1, 65535, &port);
            break;
        case O_PID:
            bad = parse_long(optarg, 1, 1L << 30, &pid);
            break;
        case O_SUBS:
            bad = parse_long(optarg, 1, 1000000, &o->subscribers);
            break;
        case O_SEATSUBS:
            bad = parse_long(optarg, 0, 1000000, &o->seat_subscribers);
            break;
        case O_SCHED:
            bad = parse_long(optarg, 1, 1L << 40, &v);
            o->schedule = v;
            break;
        case O_SEAT:
            bad = parse_long(optarg, 1, 1L << 30, &v);
            o->seat = v;
            break;
        case O_TRIG:
            bad = parse_long(optarg, 1, 1000, &o->triggers);
            break;
        case O_FIRST:
            bad = parse_long(optarg, 1, 1L << 40, &o->first_user);
            break;
        case O_POLL:
            bad = parse_long(optarg, 1, 1000000, &o->pollers);
            break;
        case O_QUIET:
            bad = parse_long(optarg, 1, 3600, &o->quiet_s);
            break;
        case O_REPS:
            bad = parse_long(optarg, 1, 100, &o->reps);
            break;
        case O_DUR:
            bad = parse_long(optarg, 1, 3600, &o->duration_s);
            break;
        case O_CONNS:
            bad = parse_long(optarg, 1, 100000, &o->wrk_conns);
            break;
        case O_WRK:
            o->wrk = optarg;
            break;
        case O_SCRIPT:
            o->wrk_script = optarg;
            break;
        case O_NOWRK:
            o->no_wrk = 1;
            break;
        case O_INFL:
            bad = parse_long(optarg, 1, 100000, &o->inflight);
            break;
        case O_OUT:
            o->out_dir = optarg;
            break;
        case O_JSON:
            o->json_path = optarg;
            break;
        case O_HELP:
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
        if (bad) {
            fprintf(stderr, "concert-bench-sse: bad value '%s' for --%s\n", optarg,
                    longs[c - 1].name);
            return -1;
        }
    }
    if (optind < argc || port == 0 || pid == 0) {
        fprintf(stderr, "concert-bench-sse: --port and --pid are required\n");
        usage(stderr);
        return -1;
    }
    o->port = (int)port;
    o->pid = (pid_t)pid;
    if (o->seat_subscribers < 0)
        o->seat_subscribers = o->subscribers / 10;
    if (o->seat_subscribers > o->subscribers) {
        fprintf(stderr, "concert-bench-sse: --seat-subscribers is more than --subscribers\n");
        return -1;
    }
    return 0;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    char stamp[16];
    const time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(stamp, sizeof stamp, "%H:%M:%S", &tm);
    fprintf(stderr, "concert-bench-sse %s: ", stamp);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* Pump the subscribers for s seconds. */
static void pump_for(subs_pool *pool, double s)
{
    const double end = now_s() + s;
    while (now_s() < end)
        subs_pump(pool, 50);
}

/* Let the server drain what it owes (previous wrk run) before measuring:
 * a health check answered within 20 ms, or give up after 30 s. */
static void wait_idle(int port, subs_pool *pool)
{
    httpc c = { .fd = -1, .port = port };
    char body[256];
    for (int i = 0; i < 60; i++) {
        const double t0 = now_s();
        const int st = httpc_request(&c, "GET", "/healthz", NULL, NULL, body, sizeof body);
        if (st == 200 && now_s() - t0 < 0.02)
            break;
        if (pool)
            pump_for(pool, 0.5);
        else
            usleep(500000);
    }
    httpc_close(&c);
}

/* Join users first..first+count-1 and keep their tokens; each must come
 * back in state want ("ACTIVE"/"WAITING"). */
static int join_users(httpc *c, long first, long count, const char *want, char (*tokens)[TOKEN_MAX],
                      const options *o)
{
    char body[4096], json[64], state[32];
    for (long i = 0; i < count; i++) {
        snprintf(json, sizeof json, "{\"user_id\":%ld}", first + i);
        const int st =
            httpc_request(c, "POST", "/api/v1/queue/tokens", NULL, json, body, sizeof body);
        if (st != 201 && st != 200) {
            fprintf(stderr, "concert-bench-sse: joining user %ld: HTTP %d %s\n", first + i, st,
                    body);
            return -1;
        }
        if (json_string_field(body, "token", tokens[i], TOKEN_MAX) != 0 ||
            json_string_field(body, "status", state, sizeof state) != 0) {
            fprintf(stderr, "concert-bench-sse: joining user %ld: no token in %s\n", first + i,
                    body);
            return -1;
        }
        if (strcmp(state, want) != 0) {
            fprintf(stderr,
                    "concert-bench-sse: user %ld joined %s, expected %s: start concertd with "
                    "--max-active %ld and no other tokens\n",
                    first + i, state, want, o->seat_subscribers + o->triggers + 1);
            return -1;
        }
    }
    return 0;
}

static void raise_nofile(long need)
{
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0)
        return;
    if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
        getrlimit(RLIMIT_NOFILE, &lim);
    }
    if (lim.rlim_cur != RLIM_INFINITY && (long)lim.rlim_cur < need)
        say("warning: open-file limit %ld is below the %ld this run needs", (long)lim.rlim_cur,
            need);
}

/* Wait until the server's descriptors are back to at most base + slack
 * (closed streams noticed). Seconds waited; *left gets the excess. */
/* KiB (as /proc reports them) in MiB, for printing. */
static double mib(int64_t kib)
{
    return (double)kib / 1024.0;
}

static double wait_closed(pid_t pid, int base, int *left)
{
    const double t0 = now_s();
    int fds = procstat_fds(pid);
    while (fds > base + 16 && now_s() - t0 < CLOSE_WAIT_S) {
        usleep(200000);
        fds = procstat_fds(pid);
    }
    *left = fds > base ? fds - base : 0;
    return now_s() - t0;
}

typedef struct wrk_side {
    samples rps, p99;
    samples cpu_us; /* concertd CPU per request (schedstat): not charged for
                       the time other processes held the CPUs */
    long long errors;
    uint64_t events; /* events the subscribers received during the runs */
} wrk_side;

typedef struct figures {
    double load_start, load_end;
    int64_t rss_before, rss_with, hwm_with;
    int fds_before, fds_with, threads_with;
    size_t open_queue, open_seats, failed;
    double connect_s;
    int64_t quiet_cpu_ms;
    double quiet_s;
    uint64_t quiet_events, quiet_keepalives;
    double between_s, between_cpu_pct;
    int64_t rss_after; /* after the reconnections of the poll part */
    double between_after_pct, quiet_after_pct;
    samples lat_queue, lat_seats;
    size_t expected_queue, expected_seats, delivered_queue, delivered_seats;
    double worst_trigger_ms[2];
    wrk_side with, without;
    size_t with_subs_min;
    double close_wait_max;
    int close_left_max;
    char first_failure[256];
} figures;

static void measure_connect(subs_pool *pool, const options *o, figures *f)
{
    int64_t hwm;
    f->fds_before = procstat_fds(o->pid);
    procstat_memory(o->pid, &f->rss_before, &hwm);
    say("concertd RSS before: %.1f MiB, %d fds; connecting %ld subscribers", mib(f->rss_before),
        f->fds_before, o->subscribers);
    const double t0 = now_s();
    subs_connect(pool, (size_t)o->inflight, 120);
    f->connect_s = now_s() - t0;
    subs_counts c;
    subs_get_counts(pool, &c);
    f->open_queue = c.open[SUB_QUEUE];
    f->open_seats = c.open[SUB_SEATS];
    f->failed = c.failed;
    snprintf(f->first_failure, sizeof f->first_failure, "%s", c.first_failure);
    say("connected in %.1f s: %zu queue + %zu seat streams open, %zu failed%s%s", f->connect_s,
        f->open_queue, f->open_seats, f->failed, c.failed ? ": " : "", c.first_failure);
    pump_for(pool, 2); /* let the server settle what connecting allocated */
    procstat_memory(o->pid, &f->rss_with, &f->hwm_with);
    f->fds_with = procstat_fds(o->pid);
    f->threads_with = procstat_threads(o->pid);
    say("concertd RSS with them: %.1f MiB (peak %.1f), %d fds, %d threads", mib(f->rss_with),
        mib(f->hwm_with), f->fds_with, f->threads_with);
}

/* The quiet window: no trigger. The whole window's utime+stime, and, cut
 * in 100 ms slices timed with schedstat, the CPU of the slices in which no
 * event arrived, nor in the slice before or after (the server's own
 * updates, such as an ETA that moves, fall outside them): what idle
 * subscribers cost between updates. */
#define SLICE_S 0.1
static void measure_quiet(subs_pool *pool, const options *o, figures *f)
{
    subs_counts c0, c1;
    subs_get_counts(pool, &c0);
    const size_t slices = (size_t)((double)o->quiet_s / SLICE_S);
    int64_t *cpu = calloc(slices + 1, sizeof *cpu);
    uint64_t *events = calloc(slices + 1, sizeof *events);
    if (cpu == NULL || events == NULL) {
        free(cpu);
        free(events);
        return;
    }
    const int64_t cpu0 = procstat_cpu_ms(o->pid);
    const double t0 = now_s();
    cpu[0] = procstat_cpu_ns(o->pid);
    events[0] = c0.events;
    for (size_t i = 1; i <= slices; i++) {
        pump_for(pool, t0 + (double)i * SLICE_S - now_s());
        cpu[i] = procstat_cpu_ns(o->pid);
        subs_counts ci;
        subs_get_counts(pool, &ci);
        events[i] = ci.events;
    }
    const int64_t cpu1 = procstat_cpu_ms(o->pid);
    f->quiet_s = now_s() - t0;
    subs_get_counts(pool, &c1);
    f->quiet_cpu_ms = cpu1 - cpu0;
    f->quiet_events = c1.events - c0.events;
    f->quiet_keepalives = c1.keepalives - c0.keepalives;
    int64_t idle_ns = 0;
    size_t idle = 0;
    for (size_t i = 1; i <= slices; i++) {
        const int before = i < 2 || events[i - 1] == events[i - 2];
        const int during = events[i] == events[i - 1];
        const int after = i == slices || events[i + 1] == events[i];
        if (before && during && after) {
            idle_ns += cpu[i] - cpu[i - 1];
            idle++;
        }
    }
    f->between_s = (double)idle * SLICE_S;
    f->between_cpu_pct = idle ? 100.0 * (double)idle_ns / (f->between_s * 1e9) : -1;
    free(cpu);
    free(events);
    say("quiet %.1f s: concertd used %" PRId64 " ms CPU (%.2f%% of a core); %" PRIu64
        " events, %" PRIu64 " keepalive comments received; between them (%.1f s): %.2f%% of a core",
        f->quiet_s, f->quiet_cpu_ms, 100.0 * (double)f->quiet_cpu_ms / (f->quiet_s * 1000.0),
        f->quiet_events, f->quiet_keepalives, f->between_s, f->between_cpu_pct);
}

static int measure_delivery(subs_pool *pool, httpc *c, const options *o, char (*leavers)[TOKEN_MAX],
                            const char *holder, figures *f)
{
    char body[4096], json[96], path[96];
    long long reservation = 0;
    for (long i = 0; i < o->triggers; i++) {
        /* The seat stream: hold the seat, then release it, alternately. */
        const int hold = i % 2 == 0;
        const double t0 = now_s();
        const size_t want =
            subs_expect_seat(pool, t0, o->seat, hold ? "!FREE" : "FREE", &f->lat_seats);
        int st;
        if (hold) {
            snprintf(json, sizeof json, "{\"schedule_id\":%" PRId64 ",\"seat_number\":%" PRId64 "}",
                     o->schedule, o->seat);
            st = httpc_request(c, "POST", "/api/v1/reservations", holder, json, body, sizeof body);
            if (st != 201 || json_int_field(body, "id", &reservation) != 0) {
                fprintf(stderr, "concert-bench-sse: hold: HTTP %d %s\n", st, body);
                return -1;
            }
        } else {
            snprintf(path, sizeof path, "/api/v1/reservations/%lld", reservation);
            st = httpc_request(c, "DELETE", path, holder, NULL, body, sizeof body);
            if (st != 204 && st != 200) {
                fprintf(stderr, "concert-bench-sse: release: HTTP %d %s\n", st, body);
                return -1;
            }
        }
        const size_t n0 = f->lat_seats.n;
        const size_t got = subs_wait(pool, DELIVERY_TIMEOUT_S);
        double worst = 0;
        for (size_t k = n0; k < f->lat_seats.n; k++)
            if (f->lat_seats.v[k] > worst)
                worst = f->lat_seats.v[k];
        if (worst > f->worst_trigger_ms[1])
            f->worst_trigger_ms[1] = worst;
        f->expected_seats += want;
        f->delivered_seats += got;
        say("seat change %ld (%s): %zu of %zu subscribers in %.0f ms (the last)", i + 1,
            hold ? "hold" : "release", got, want, worst);

        /* The queue streams: an ACTIVE buyer leaves, the head is admitted. */
        pump_for(pool, 1.0);
        const double t1 = now_s();
        const size_t qwant = subs_expect_queue(pool, t1, &f->lat_queue);
        st = httpc_request(c, "DELETE", "/api/v1/queue/tokens/current", leavers[i], NULL, body,
                           sizeof body);
        if (st != 204 && st != 200) {
            fprintf(stderr, "concert-bench-sse: leave: HTTP %d %s\n", st, body);
            return -1;
        }
        const size_t q0 = f->lat_queue.n;
        const size_t qgot = subs_wait(pool, DELIVERY_TIMEOUT_S);
        worst = 0;
        for (size_t k = q0; k < f->lat_queue.n; k++)
            if (f->lat_queue.v[k] > worst)
                worst = f->lat_queue.v[k];
        if (worst > f->worst_trigger_ms[0])
            f->worst_trigger_ms[0] = worst;
        f->expected_queue += qwant;
        f->delivered_queue += qgot;
        say("admission %ld: %zu of %zu subscribers in %.0f ms (the last)", i + 1, qgot, qwant,
            worst);
        pump_for(pool, 1.0);
    }
    return 0;
}

static int one_wrk(const options *o, subs_pool *pool, const char *tokens_path, const char *label,
                   long rep, wrk_side *side)
{
    char conns[16], threads[16], dur[16], url[64], logp[1024];
    snprintf(conns, sizeof conns, "%ld", o->wrk_conns);
    snprintf(threads, sizeof threads, "%ld", o->wrk_threads);
    snprintf(dur, sizeof dur, "%lds", o->duration_s);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", o->port);
    snprintf(logp, sizeof logp, "%s/wrk.sse-poll.%s.%ld.log", o->out_dir, label, rep);
    char *argv[] = { (char *)o->wrk,
                     "-t",
                     threads,
                     "-c",
                     conns,
                     "-d",
                     dur,
                     "--timeout",
                     "5s",
                     "-s",
                     (char *)o->wrk_script,
                     url,
                     "--",
                     (char *)tokens_path,
                     NULL };
    wait_idle(o->port, pool);
    const double load = procstat_load1();
    subs_counts c0 = { 0 }, c1 = { 0 };
    if (pool)
        subs_get_counts(pool, &c0);
    const int64_t cpu0 = procstat_cpu_ns(o->pid);
    wrk_result r;
    if (wrk_run(argv, logp, pool, &r) != 0) {
        fprintf(stderr, "concert-bench-sse: wrk gave no result, see %s\n", logp);
        return -1;
    }
    const int64_t cpu1 = procstat_cpu_ns(o->pid);
    if (pool)
        subs_get_counts(pool, &c1);
    const double cpu_us = r.requests > 0 ? (double)(cpu1 - cpu0) / 1000.0 / (double)r.requests : 0;
    samples_add(&side->rps, r.rps);
    samples_add(&side->p99, r.p99_us / 1000.0);
    samples_add(&side->cpu_us, cpu_us);
    side->errors += r.errors;
    side->events += c1.events - c0.events;
    int64_t rss = 0, hwm = 0;
    procstat_memory(o->pid, &rss, &hwm);
    say("poll %s subscribers, rep %ld: %.0f req/s, p50 %.2f ms, p99 %.2f ms, concertd CPU "
        "%.2f us/request, %lld errors, %" PRIu64 " events meanwhile, load %.2f, RSS %.1f MiB",
        label, rep, r.rps, r.p50_us / 1000.0, r.p99_us / 1000.0, cpu_us, r.errors,
        c1.events - c0.events, load, mib(rss));
    return 0;
}

static int measure_polls(subs_pool *pool, const options *o, const char *tokens_path, figures *f)
{
    int connected = 1;
    int64_t hwm;
    f->with_subs_min = SIZE_MAX;
    for (long rep = 1; rep <= o->reps; rep++) {
        /* Alternate which goes first, so drift in the machine's load hits
         * both sides alike. */
        for (int k = 0; k < 2; k++) {
            const int with = (rep % 2 == 1) == (k == 0);
            if (with && !connected) {
                subs_connect(pool, (size_t)o->inflight, 120);
                pump_for(pool, 1);
                connected = 1;
            } else if (!with && connected) {
                subs_disconnect(pool);
                int left;
                const double waited = wait_closed(o->pid, f->fds_before, &left);
                if (waited > f->close_wait_max)
                    f->close_wait_max = waited;
                if (left > f->close_left_max)
                    f->close_left_max = left;
                connected = 0;
            }
            if (with) {
                subs_counts c;
                subs_get_counts(pool, &c);
                const size_t open = c.open[SUB_QUEUE] + c.open[SUB_SEATS];
                if (open < f->with_subs_min)
                    f->with_subs_min = open;
            }
            if (one_wrk(o, with ? pool : NULL, tokens_path, with ? "with" : "without", rep,
                        with ? &f->with : &f->without) != 0)
                return -1;
        }
    }
    /* After the reconnections: is idle as cheap as at first (nothing
     * left behind by the streams that closed)? */
    if (!connected) {
        subs_connect(pool, (size_t)o->inflight, 120);
        pump_for(pool, 2);
    }
    procstat_memory(o->pid, &f->rss_after, &hwm);
    figures again = *f;
    say("after %ld reconnections: RSS %.1f MiB", o->reps, mib(f->rss_after));
    measure_quiet(pool, o, &again);
    f->between_after_pct = again.between_cpu_pct;
    f->quiet_after_pct = 100.0 * (double)again.quiet_cpu_ms / (again.quiet_s * 1000.0);
    return 0;
}

static void print_report(const options *o, figures *f)
{
    const double qp50 = samples_quantile(&f->lat_queue, 0.5),
                 qp99 = samples_quantile(&f->lat_queue, 0.99);
    const double sp50 = samples_quantile(&f->lat_seats, 0.5),
                 sp99 = samples_quantile(&f->lat_seats, 0.99);
    const double qmax = samples_max(&f->lat_queue), smax = samples_max(&f->lat_seats);
    const double with = samples_median(&f->with.rps), without = samples_median(&f->without.rps);
    const double cpu_pct = 100.0 * (double)f->quiet_cpu_ms / (f->quiet_s * 1000.0);
    printf("SSE subscribers on one concertd (pid %d): %zu queue + %zu seat streams open of %ld, "
           "%zu failed, connected in %.1f s\n",
           (int)o->pid, f->open_queue, f->open_seats, o->subscribers, f->failed, f->connect_s);
    printf("  RSS: %.1f MiB before, %.1f MiB with them (+%.1f MiB, %.1f KiB per subscriber; "
           "peak %.1f MiB); %d threads, %d fds\n",
           mib(f->rss_before), mib(f->rss_with), mib(f->rss_with - f->rss_before),
           (double)(f->rss_with - f->rss_before) /
               (double)(f->open_queue + f->open_seats + !(f->open_queue + f->open_seats)),
           mib(f->hwm_with), f->threads_with, f->fds_with);
    printf("  CPU while idle: %" PRId64 " ms over %.1f s (%.2f%% of one core); %" PRIu64
           " events, %" PRIu64 " keepalives received meanwhile; between events (%.1f s of it): "
           "%.2f%% of one core\n",
           f->quiet_cpu_ms, f->quiet_s, cpu_pct, f->quiet_events, f->quiet_keepalives, f->between_s,
           f->between_cpu_pct);
    printf("  delivery, queue (admissions): %zu of %zu; p50 %.0f ms, p99 %.0f ms, max %.0f ms\n",
           f->delivered_queue, f->expected_queue, qp50, qp99, qmax);
    printf("  delivery, seats (hold/release): %zu of %zu; p50 %.0f ms, p99 %.0f ms, max %.0f ms\n",
           f->delivered_seats, f->expected_seats, sp50, sp99, smax);
    if (!o->no_wrk)
        printf(
            "  poll throughput (wrk -c%ld, %ld s, median of %ld each): %.0f req/s with "
            "(>= %zu subscribers), %.0f without: ratio %.3f; p99 %.2f vs %.2f ms; errors "
            "%lld/%lld; "
            "closed streams noticed within %.1f s\n"
            "  concertd CPU per poll: %.2f us with, %.2f us without (ratio %.3f); %" PRIu64
            " events reached the subscribers during the runs with them\n",
            o->wrk_conns, o->duration_s, o->reps, with, f->with_subs_min, without,
            without > 0 ? with / without : 0, samples_median(&f->with.p99),
            samples_median(&f->without.p99), f->with.errors, f->without.errors, f->close_wait_max,
            samples_median(&f->with.cpu_us), samples_median(&f->without.cpu_us),
            samples_median(&f->with.cpu_us) / samples_median(&f->without.cpu_us), f->with.events);
    if (!o->no_wrk)
        printf("  after %ld reconnections: RSS %.1f MiB; CPU while idle %.2f%%, between events "
               "%.2f%% of one core\n",
               o->reps, mib(f->rss_after), f->quiet_after_pct, f->between_after_pct);
    printf("  load average %.2f at start, %.2f at end\n", f->load_start, f->load_end);
    if (f->first_failure[0])
        printf("  first failure: %s\n", f->first_failure);

    if (o->json_path == NULL)
        return;
    FILE *j = fopen(o->json_path, "w");
    if (j == NULL) {
        perror(o->json_path);
        return;
    }
    fprintf(j,
            "{\"bench\":\"sse\",\"subscribers\":%ld,\"seat_subscribers\":%ld,\"open_queue\":%zu,"
            "\"open_seats\":%zu,\"failed\":%zu,\"connect_s\":%.2f,"
            "\"rss_before_kib\":%" PRId64 ",\"rss_with_kib\":%" PRId64 ",\"hwm_with_kib\":%" PRId64
            ",\"threads\":%d,\"fds_with\":%d,"
            "\"quiet_s\":%.2f,\"quiet_cpu_ms\":%" PRId64 ",\"quiet_cpu_pct\":%.3f,"
            "\"quiet_events\":%" PRIu64 ",\"quiet_keepalives\":%" PRIu64 ","
            "\"between_s\":%.1f,\"between_cpu_pct\":%.3f,"
            "\"queue_expected\":%zu,\"queue_delivered\":%zu,\"queue_p50_ms\":%.1f,"
            "\"queue_p99_ms\":%.1f,\"queue_max_ms\":%.1f,"
            "\"seats_expected\":%zu,\"seats_delivered\":%zu,\"seats_p50_ms\":%.1f,"
            "\"seats_p99_ms\":%.1f,\"seats_max_ms\":%.1f,\"triggers\":%ld,",
            o->subscribers, o->seat_subscribers, f->open_queue, f->open_seats, f->failed,
            f->connect_s, f->rss_before, f->rss_with, f->hwm_with, f->threads_with, f->fds_with,
            f->quiet_s, f->quiet_cpu_ms, cpu_pct, f->quiet_events, f->quiet_keepalives,
            f->between_s, f->between_cpu_pct, f->expected_queue, f->delivered_queue, qp50, qp99,
            qmax, f->expected_seats, f->delivered_seats, sp50, sp99, smax, o->triggers);
    if (!o->no_wrk) {
        fprintf(
            j,
            "\"wrk_conns\":%ld,\"wrk_duration_s\":%ld,\"reps\":%ld,\"with_subscribers_min\":%zu,"
            "\"poll_rps_with\":%.1f,\"poll_rps_without\":%.1f,\"poll_ratio\":%.4f,"
            "\"poll_p99_ms_with\":%.2f,\"poll_p99_ms_without\":%.2f,"
            "\"poll_errors_with\":%lld,\"poll_errors_without\":%lld,\"close_wait_s\":%.1f,"
            "\"poll_cpu_us_with\":%.3f,\"poll_cpu_us_without\":%.3f,"
            "\"poll_events_with\":%" PRIu64 ",\"rss_after_kib\":%" PRId64 ","
            "\"quiet_after_cpu_pct\":%.3f,\"between_after_cpu_pct\":%.3f,",
            o->wrk_conns, o->duration_s, o->reps, f->with_subs_min, with, without,
            without > 0 ? with / without : 0, samples_median(&f->with.p99),
            samples_median(&f->without.p99), f->with.errors, f->without.errors, f->close_wait_max,
            samples_median(&f->with.cpu_us), samples_median(&f->without.cpu_us), f->with.events,
            f->rss_after, f->quiet_after_pct, f->between_after_pct);
        fputs("\"poll_rps_with_runs\":[", j);
        for (size_t i = 0; i < f->with.rps.n; i++)
            fprintf(j, "%s%.1f", i ? "," : "", f->with.rps.v[i]);
        fputs("],\"poll_rps_without_runs\":[", j);
        for (size_t i = 0; i < f->without.rps.n; i++)
            fprintf(j, "%s%.1f", i ? "," : "", f->without.rps.v[i]);
        fputs("],", j);
    }
    fprintf(j, "\"load_start\":%.2f,\"load_end\":%.2f}\n", f->load_start, f->load_end);
    fclose(j);
}

int main(int argc, char **argv)
{
    options o;
    if (parse_options(argc, argv, &o) != 0)
        return 2;
    raise_nofile(o.subscribers + o.wrk_conns + 64);
    figures f;
    memset(&f, 0, sizeof f);
    f.load_start = procstat_load1();

    const long active = o.seat_subscribers + o.triggers + 1;
    const long waiting = o.subscribers - o.seat_subscribers;
    const long total = active + waiting + o.pollers;
    char(*tokens)[TOKEN_MAX] = calloc((size_t)total, TOKEN_MAX);
    subs_pool *pool = subs_new(o.port, o.schedule);
    httpc c = { .fd = -1, .port = o.port };
    int rc = 1;
    if (tokens == NULL || pool == NULL) {
        fprintf(stderr, "concert-bench-sse: out of memory\n");
        goto done;
    }
    say("joining %ld users from %ld (%ld ACTIVE, %ld WAITING)", total, o.first_user, active,
        waiting + o.pollers);
    if (join_users(&c, o.first_user, active, "ACTIVE", tokens, &o) != 0 ||
        join_users(&c, o.first_user + active, waiting + o.pollers, "WAITING", tokens + active,
                   &o) != 0)
        goto done;
    char(*seat_tokens)[TOKEN_MAX] = tokens;
    char(*leavers)[TOKEN_MAX] = tokens + o.seat_subscribers;
    const char *holder = tokens[o.seat_subscribers + o.triggers];
    char(*queue_tokens)[TOKEN_MAX] = tokens + active;
    char(*poll_tokens)[TOKEN_MAX] = tokens + active + waiting;
    for (long i = 0; i < waiting; i++)
        if (subs_add(pool, SUB_QUEUE, queue_tokens[i]) != 0)
            goto done;
    for (long i = 0; i < o.seat_subscribers; i++)
        if (subs_add(pool, SUB_SEATS, seat_tokens[i]) != 0)
            goto done;
    char tokens_path[1024];
    snprintf(tokens_path, sizeof tokens_path, "%s/sse-poll.tokens", o.out_dir);
    FILE *tf = fopen(tokens_path, "w");
    if (tf == NULL) {
        perror(tokens_path);
        goto done;
    }
    for (long i = 0; i < o.pollers; i++)
        fprintf(tf, "%s\n", poll_tokens[i]);
    fclose(tf);

    measure_connect(pool, &o, &f);
    if (f.open_queue + f.open_seats == 0) {
        fprintf(stderr, "concert-bench-sse: no stream opened (%s)\n", f.first_failure);
        goto done;
    }
    measure_quiet(pool, &o, &f);
    if (measure_delivery(pool, &c, &o, leavers, holder, &f) != 0)
        goto done;
    if (!o.no_wrk && measure_polls(pool, &o, tokens_path, &f) != 0)
        goto done;
    f.load_end = procstat_load1();
    print_report(&o, &f);
    rc = 0;
done:
    httpc_close(&c);
    subs_free(pool);
    free(tokens);
    samples_free(&f.lat_queue);
    samples_free(&f.lat_seats);
    samples_free(&f.with.rps);
    samples_free(&f.with.p99);
    samples_free(&f.without.rps);
    samples_free(&f.without.p99);
    samples_free(&f.with.cpu_us);
    samples_free(&f.without.cpu_us);
    return rc;
}
