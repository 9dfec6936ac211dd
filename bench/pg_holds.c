/*
 * concert-bench-pg-holds: seat holds per second on PostgreSQL through the
 * library (concert_reserve_seat), against pgbench running the hold's own
 * statement -- the very text the backend prepares (PG_SEAT_HOLD_SQL, one
 * call of concert_fn.seat_hold, token check included) -- on the same
 * server, the same database and the same workload, side by side in one run
 * (issue 11's target: >= 0.8x pgbench).
 *
 *   concert-bench-pg-holds --pg CONNINFO --pgbench PATH [--threads 16]
 *                          [--duration 10] [--reps 3] [--users 256]
 *                          [--seats 500000] [--limit 0] [--tsv FILE]
 *
 * CONNINFO names a server (any database); a database concert_pg_holds is
 * created there and dropped at the end. Workload, the same on both sides:
 * --threads clients (library: threads on a pool of as many connections;
 * pgbench: -c clients -j clients, -M prepared: one thread per client on
 * both sides, so that on a loaded machine neither gets a larger share of
 * the CPU for having more threads), each call a random buyer among
 * --users (all ACTIVE) and a random seat of a fresh schedule of --seats
 * seats per run, so both meet the same share of taken seats. Each
 * repetition runs both, each on its own schedule: the library first in odd
 * repetitions, pgbench first in even ones, so that a machine getting busier
 * or quieter during the run favours neither.
 * Buyers' tokens are set to the decimal text of 10^18 + user id after they
 * are issued, so that pgbench can name them; the library uses the same.
 * Per-buyer limits are off by default (max_holds_per_user 0, no
 * max_per_user): with them on, 256 buyers would reach their limit within a
 * second. --limit N sets max_holds_per_user (and pgbench's $9) to N, to
 * measure the limit's count: each side of each repetition then has its own
 * share of the buyers (holds live 5 minutes, so buyers used before would
 * be at their limit); give it many --users so that few of them reach it (a
 * refused hold counts as a call on both sides).
 *
 * Prints one line per repetition, then the medians and their ratio; a
 * figure, never a pass/fail.
 */
#include <concert/concert.h>
#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pg_admin.h"

/* PG_SEAT_HOLD_SQL: the statement the backend runs for a hold. */
#include "../lib/storage/postgres_sql.h"

#define BENCH_DB "concert_pg_holds"
#define DAY_MS (INT64_C(86400000))
#define TOKEN_BASE INT64_C(1000000000000000000)
#define MAX_REPS 15

typedef struct config {
    const char *conninfo;
    const char *pgbench;
    const char *tsv;
    int threads;
    int duration_s;
    int reps;
    int64_t users;
    int64_t seats;
    int64_t limit;
} config;

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t admin_count(const char *conninfo, const char *sql)
{
    PGconn *c = PQconnectdb(conninfo);
    PGresult *r = PQstatus(c) == CONNECTION_OK ? PQexec(c, sql) : NULL;
    int64_t v = -1;
    if (r && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    else
        fprintf(stderr, "pg_holds: %s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return v;
}

/* Users 1..users with no points, concert 1 with one schedule of seats per
 * run (schedule r for run r), every buyer ACTIVE. */
static int load(concert_db *db, const config *cf)
{
    const int schedules = 2 * cf->reps;
    concert_catalog_user *users = calloc((size_t)cf->users, sizeof(*users));
    char(*names)[24] = calloc((size_t)cf->users, sizeof(*names));
    concert_catalog_schedule sch[2 * MAX_REPS];
    concert_catalog_seat_range range = { 1, cf->seats, "R", 100 };
    concert_catalog_concert concert = {
        1, "Bench", CONCERT_STATUS_OPEN, 0, sch, (size_t)schedules
    };
    concert_catalog c = { CONCERT_CATALOG_VERSION, users, (size_t)cf->users, &concert, 1 };
    int rc = -1;

    if (!users || !names)
        goto out;
    for (int64_t i = 0; i < cf->users; i++) {
        snprintf(names[i], sizeof(names[i]), "u%lld", (long long)(i + 1));
        users[i] = (concert_catalog_user){ i + 1, names[i], 0 };
    }
    for (int s = 0; s < schedules; s++)
        sch[s] = (concert_catalog_schedule){ s + 1, wall_ms() + 30 * DAY_MS, &range, 1 };
    fprintf(stderr, "pg_holds: loading %lld users and %d x %lld seats\n", (long long)cf->users,
            schedules, (long long)cf->seats);
    if (concert_catalog_load(db, &c) != 0) {
        fprintf(stderr, "pg_holds: catalog: %s\n", concert_error_last()->message);
        goto out;
    }
    for (int64_t u = 1; u <= cf->users; u++) {
        concert_token_info t;
        if (concert_queue_issue(&t, db, u) != 0 || t.state != CONCERT_TOKEN_ACTIVE) {
            fprintf(stderr, "pg_holds: token of user %lld not ACTIVE: %s\n", (long long)u,
                    concert_error_last()->message);
            goto out;
        }
    }
    rc = 0;
out:
    free(users);
    free(names);
    return rc;
}

typedef struct holder {
    concert_db *db;
    const config *cf;
    int64_t first_buyer, buyers;
    int64_t schedule;
    uint64_t seed;
    double stop_at;
    atomic_int *go;
    int64_t calls, holds, taken, errors;
    double *lat_ms;
    size_t lat_count, lat_cap;
} holder;

static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void *hold_loop(void *arg)
{
    holder *h = arg;
    concert_reservation r;
    char token[32];
    while (!atomic_load(h->go))
        ;
    for (int64_t k = 0;; k++) {
        if ((k & 7) == 0 && pg_admin_mono_s() >= h->stop_at)
            break;
        const int64_t buyer = h->first_buyer + (int64_t)(next_rand(&h->seed) % (uint64_t)h->buyers);
        const int64_t seat = 1 + (int64_t)(next_rand(&h->seed) % (uint64_t)h->cf->seats);
        snprintf(token, sizeof(token), "%lld", (long long)(TOKEN_BASE + buyer));
        const double t0 = pg_admin_mono_s();
        const int rc = concert_reserve_seat(&r, h->db, token, h->schedule, seat);
        const double took = (pg_admin_mono_s() - t0) * 1000.0;
        if (rc == 0 || rc == CONCERT_ESEAT_TAKEN || rc == CONCERT_EHOLD_LIMIT) {
            h->calls++;
            if (rc == 0 && r.is_new)
                h->holds++;
            else
                h->taken++;
            if (h->lat_count < h->lat_cap)
                h->lat_ms[h->lat_count++] = took;
        } else if (h->errors++ == 0) {
            fprintf(stderr, "pg_holds: hold failed: %s\n", concert_error_last()->message);
        }
    }
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct run_result {
    double per_s;
    int64_t calls, holds, errors;
    double p50_ms, p99_ms;
} run_result;

/* The buyers of one side of one repetition: all of them without a limit,
 * else a share of their own. */
static void buyers_of(const config *cf, int64_t schedule, int64_t *first, int64_t *count)
{
    if (cf->limit == 0) {
        *first = 1;
        *count = cf->users;
        return;
    }
    *count = cf->users / (2 * cf->reps);
    *first = 1 + (schedule - 1) * *count;
}

static int library_run(concert_db *db, const config *cf, int64_t schedule, run_result *out)
{
    holder *h = calloc((size_t)cf->threads, sizeof(*h));
    pthread_t *th = calloc((size_t)cf->threads, sizeof(*th));
    const size_t cap = (size_t)cf->duration_s * 20000;
    atomic_int go = 0;
    double start, elapsed, *all = NULL;
    size_t n = 0;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (!h || !th)
        goto out;
    for (int i = 0; i < cf->threads; i++) {
        h[i] = (holder){ db,
                         cf,
                         0,
                         0,
                         schedule,
                         0x9e3779b97f4a7c15u * (uint64_t)(i + 1) + (uint64_t)schedule,
                         0,
                         &go,
                         0,
                         0,
                         0,
                         0,
                         malloc(cap * sizeof(double)),
                         0,
                         cap };
        buyers_of(cf, schedule, &h[i].first_buyer, &h[i].buyers);
        if (!h[i].lat_ms || pthread_create(&th[i], NULL, hold_loop, &h[i]) != 0)
            goto out;
    }
    start = pg_admin_mono_s();
    for (int i = 0; i < cf->threads; i++)
        h[i].stop_at = start + cf->duration_s;
    atomic_store(&go, 1);
    for (int i = 0; i < cf->threads; i++)
        pthread_join(th[i], NULL);
    elapsed = pg_admin_mono_s() - start;
    for (int i = 0; i < cf->threads; i++) {
        out->calls += h[i].calls;
        out->holds += h[i].holds;
        out->errors += h[i].errors;
        n += h[i].lat_count;
    }
    out->per_s = elapsed > 0 ? (double)out->calls / elapsed : 0.0;
    all = malloc((n ? n : 1) * sizeof(double));
    if (!all)
        goto out;
    n = 0;
    for (int i = 0; i < cf->threads; i++) {
        memcpy(all + n, h[i].lat_ms, h[i].lat_count * sizeof(double));
        n += h[i].lat_count;
    }
    qsort(all, n, sizeof(double), cmp_double);
    if (n) {
        out->p50_ms = all[n / 2];
        out->p99_ms = all[(size_t)((double)n * 0.99)];
    }
    rc = 0;
out:
    if (h) {
        for (int i = 0; i < cf->threads; i++)
            free(h[i].lat_ms);
    }
    free(all);
    free(h);
    free(th);
    return rc;
}

/* The pgbench script: PG_SEAT_HOLD_SQL with $n replaced by :vn, the buyer's
 * token (v1) and the seat (v3) drawn per transaction, the rest from -D. */
static int write_script(char *path)
{
    static const char head[] = "\\set buyer random(:first, :last)\n"
                               "\\set v1 "
                               "1000000000000000000"
                               " + :buyer\n"
                               "\\set v3 random(1, :seats)\n";
    const char *sql = PG_SEAT_HOLD_SQL;
    char body[1024];
    size_t used = 0;
    int fd = mkstemp(path);
    FILE *f;

    for (const char *p = sql; *p && used + 4 < sizeof(body); p++) {
        if (*p == '$') {
            body[used++] = ':';
            body[used++] = 'v';
        } else {
            body[used++] = *p;
        }
    }
    body[used] = '\0';
    if (fd < 0 || !(f = fdopen(fd, "w"))) {
        fprintf(stderr, "pg_holds: cannot write the pgbench script\n");
        if (fd >= 0)
            close(fd);
        return -1;
    }
    fprintf(f, "%s%s;\n", head, body);
    fclose(f);
    return 0;
}

static int pgbench_run(const config *cf, const char *store, const char *script, int64_t schedule,
                       run_result *out)
{
    char clients[16], duration[16], first[48], last[48], seats[48], v2[48], v4[48], v5[48], v6[48],
        v7[48], v9[48], line[512];
    int pipefd[2], status = 0;
    int64_t now = wall_ms();
    FILE *in;
    pid_t pid;

    memset(out, 0, sizeof(*out));
    snprintf(clients, sizeof(clients), "%d", cf->threads);
    snprintf(duration, sizeof(duration), "%d", cf->duration_s);
    int64_t b_first, b_count;
    buyers_of(cf, schedule, &b_first, &b_count);
    snprintf(first, sizeof(first), "first=%lld", (long long)b_first);
    snprintf(last, sizeof(last), "last=%lld", (long long)(b_first + b_count - 1));
    snprintf(seats, sizeof(seats), "seats=%lld", (long long)cf->seats);
    snprintf(v2, sizeof(v2), "v2=%lld", (long long)schedule);
    snprintf(v4, sizeof(v4), "v4=%lld", (long long)now);
    /* The library's defaults: hold_ttl 5 minutes, wait_ttl as opened. */
    snprintf(v5, sizeof(v5), "v5=%lld", (long long)(now + 300000));
    snprintf(v6, sizeof(v6), "v6=%lld", (long long)DAY_MS);
    snprintf(v7, sizeof(v7), "v7=1");
    snprintf(v9, sizeof(v9), "v9=%lld", (long long)cf->limit);
    if (pipe(pipefd) != 0)
        return -1;
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        char *argv[] = { (char *)cf->pgbench,
                         "-n",
                         "-M",
                         "prepared",
                         "-c",
                         clients,
                         "-j",
                         clients,
                         "-T",
                         duration,
                         "-f",
                         (char *)script,
                         "-D",
                         first,
                         "-D",
                         last,
                         "-D",
                         seats,
                         "-D",
                         v2,
                         "-D",
                         v4,
                         "-D",
                         v5,
                         "-D",
                         v6,
                         "-D",
                         v7,
                         "-D",
                         "v8=0",
                         "-D",
                         v9,
                         (char *)store,
                         NULL };
        dup2(pipefd[1], STDOUT_FILENO);
        close(pipefd[0]);
        close(pipefd[1]);
        execv(cf->pgbench, argv);
        _exit(127);
    }
    close(pipefd[1]);
    in = fdopen(pipefd[0], "r");
    while (in && fgets(line, sizeof(line), in)) {
        if (strncmp(line, "tps = ", 6) == 0)
            out->per_s = strtod(line + 6, NULL);
        else if (strncmp(line, "latency average = ", 18) == 0)
            out->p50_ms = strtod(line + 18, NULL); /* the average: pgbench's only figure */
        else if (strncmp(line, "number of transactions actually processed: ", 43) == 0)
            out->calls = strtoll(line + 43, NULL, 10);
        else if (strncmp(line, "number of failed transactions: ", 31) == 0)
            out->errors = strtoll(line + 31, NULL, 10);
    }
    if (in)
        fclose(in);
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || out->per_s <= 0) {
        fprintf(stderr, "pg_holds: pgbench failed (status %d)\n", status);
        return -1;
    }
    return 0;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int usage(void)
{
    fprintf(stderr, "usage: concert-bench-pg-holds --pg CONNINFO --pgbench PATH [--threads N] "
                    "[--duration S] [--reps N] [--users N] [--seats N] [--limit N] "
                    "[--tsv FILE]\n");
    return 2;
}

int main(int argc, char **argv)
{
    config cf = { NULL, NULL, NULL, 16, 10, 3, 256, 500000, 0 };
    char store[1200], sql[300], script[] = "/tmp/concert-pg-holds-XXXXXX";
    double lib[MAX_REPS], bench[MAX_REPS];
    run_result lr[MAX_REPS], br[MAX_REPS];
    concert_options o;
    concert_db *db = NULL;
    FILE *tsv = NULL;
    int64_t v, errors = 0;
    int rc = 1, have_script = 0;

    for (int i = 1; i < argc; i++) {
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!next)
            return usage();
        if (strcmp(argv[i], "--pg") == 0)
            cf.conninfo = next;
        else if (strcmp(argv[i], "--pgbench") == 0)
            cf.pgbench = next;
        else if (strcmp(argv[i], "--tsv") == 0)
            cf.tsv = next;
        else if (strcmp(argv[i], "--threads") == 0 && pg_admin_parse_int(next, 1, 256, &v) == 0)
            cf.threads = (int)v;
        else if (strcmp(argv[i], "--duration") == 0 && pg_admin_parse_int(next, 1, 3600, &v) == 0)
            cf.duration_s = (int)v;
        else if (strcmp(argv[i], "--reps") == 0 && pg_admin_parse_int(next, 1, MAX_REPS, &v) == 0)
            cf.reps = (int)v;
        else if (strcmp(argv[i], "--users") == 0 && pg_admin_parse_int(next, 30, 1000000, &v) == 0)
            cf.users = v;
        else if (strcmp(argv[i], "--seats") == 0 &&
                 pg_admin_parse_int(next, 1000, 10000000, &v) == 0)
            cf.seats = v;
        else if (strcmp(argv[i], "--limit") == 0 && pg_admin_parse_int(next, 0, 1000000, &v) == 0)
            cf.limit = v;
        else
            return usage();
        i++;
    }
    if (!cf.conninfo || !cf.pgbench)
        return usage();
    if (snprintf(store, sizeof(store), "%s dbname=" BENCH_DB, cf.conninfo) >= (int)sizeof(store))
        return usage();
    if (cf.tsv && !(tsv = fopen(cf.tsv, "w"))) {
        fprintf(stderr, "pg_holds: cannot write %s\n", cf.tsv);
        return 1;
    }

    if (pg_admin_sql("pg_holds", cf.conninfo,
                     "DROP DATABASE IF EXISTS " BENCH_DB " WITH (FORCE)") != 0 ||
        pg_admin_sql("pg_holds", cf.conninfo, "CREATE DATABASE " BENCH_DB) != 0)
        goto done;
    concert_options_init(&o, CONCERT_OPTIONS_VERSION);
    o.pool_size = cf.threads;
    o.max_active = cf.users;
    o.active_ttl_ms = DAY_MS;
    o.wait_ttl_ms = DAY_MS;
    o.max_holds_per_user = cf.limit;
    if (concert_db_open(&db, store, &o) != 0) {
        fprintf(stderr, "pg_holds: open: %s\n", concert_error_last()->message);
        goto done;
    }
    if (load(db, &cf) != 0)
        goto done;
    snprintf(sql, sizeof(sql),
             "UPDATE concert.tokens SET token = (%lld + user_id)::text, "
             "lookup = hashtextextended((%lld + user_id)::text, 0)",
             (long long)TOKEN_BASE, (long long)TOKEN_BASE);
    if (pg_admin_sql("pg_holds", store, sql) != 0 || write_script(script) != 0)
        goto done;
    have_script = 1;

    for (int r = 0; r < cf.reps; r++) {
        for (int side = 0; side < 2; side++) {
            const int library_now = (side == 0) == (r % 2 == 0);
            if (pg_admin_sql("pg_holds", store, "VACUUM ANALYZE") != 0)
                goto done;
            if (library_now && library_run(db, &cf, 2 * r + 1, &lr[r]) != 0)
                goto done;
            if (!library_now && pgbench_run(&cf, store, script, 2 * r + 2, &br[r]) != 0)
                goto done;
        }
        errors += lr[r].errors;
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM concert.reservations WHERE schedule_id = %d", 2 * r + 2);
        br[r].holds = admin_count(store, sql);
        lib[r] = lr[r].per_s;
        bench[r] = br[r].per_s;
        printf("rep %d: library %.0f holds/s (%lld calls, %lld new holds, p50 %.2f ms, p99 "
               "%.2f ms, %lld errors) | pgbench %.0f tps (%lld transactions, %lld new holds, "
               "latency avg %.2f ms, %lld failed) | ratio %.2f\n",
               r + 1, lr[r].per_s, (long long)lr[r].calls, (long long)lr[r].holds, lr[r].p50_ms,
               lr[r].p99_ms, (long long)lr[r].errors, br[r].per_s, (long long)br[r].calls,
               (long long)br[r].holds, br[r].p50_ms, (long long)br[r].errors,
               lr[r].per_s / br[r].per_s);
        fflush(stdout);
        if (tsv)
            fprintf(tsv, "%d\t%.1f\t%lld\t%.3f\t%.3f\t%.1f\t%lld\t%.3f\n", r + 1, lr[r].per_s,
                    (long long)lr[r].holds, lr[r].p50_ms, lr[r].p99_ms, br[r].per_s,
                    (long long)br[r].holds, br[r].p50_ms);
    }
    {
        const double ml = median(lib, cf.reps), mb = median(bench, cf.reps);
        printf("PostgreSQL holds, %d clients, %d s per run, median of %d, same server, same "
               "run, %lld buyers, max_holds_per_user %lld\n",
               cf.threads, cf.duration_s, cf.reps, (long long)cf.users, (long long)cf.limit);
        printf("library concert_reserve_seat:     %10.0f holds/s\n", ml);
        printf("pgbench, the hold's own statement: %10.0f tps\n", mb);
        printf("ratio library/pgbench:            %10.2f\n", ml / mb);
        printf("PG_HOLDS_RESULT lib=%.0f pgbench=%.0f ratio=%.2f errors=%lld\n", ml, mb, ml / mb,
               (long long)errors);
    }
    rc = errors == 0 ? 0 : 1;
done:
    if (have_script)
        unlink(script);
    if (tsv)
        fclose(tsv);
    concert_db_close(db);
    pg_admin_sql("pg_holds", cf.conninfo, "DROP DATABASE IF EXISTS " BENCH_DB " WITH (FORCE)");
    return rc;
}
