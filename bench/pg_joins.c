/*
 * concert-bench-pg-joins: queue joins per second on PostgreSQL through the
 * library, against pgbench running a single-row INSERT into a table with the
 * same columns, indexes and foreign key as concert.tokens, on the same
 * server in the same run (issue 10's target: >= 0.5x pgbench, and >= 5x the
 * ~1,500 joins/s of schema 2, where every join locked the queue_state row).
 *
 *   concert-bench-pg-joins --pg CONNINFO --pgbench PATH [--threads 16]
 *                          [--duration 10] [--users 200000]
 *
 * CONNINFO names a server (any database); a database concert_pg_joins is
 * created there and dropped at the end. Every join is a new user's (is_new),
 * max_active is 1 so the line only grows (the stampede before admission can
 * keep up), and the library runs one pooled connection per thread. Prints
 * the two rates and their ratio; a figure, never a pass/fail.
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

#define BENCH_DB "concert_pg_joins"
#define DAY_MS (INT64_C(86400000))

typedef struct config {
    const char *conninfo;
    const char *pgbench;
    int threads;
    int duration_s;
    int64_t users;
} config;

/* Users 1..count, no points, loaded in chunks (each all or nothing). */
static int load_users(concert_db *db, int64_t count)
{
    enum {
        CHUNK = 20000
    };
    concert_catalog_user *users = calloc(CHUNK, sizeof(*users));
    char(*names)[24] = calloc(CHUNK, sizeof(*names));
    int rc = 0;
    if (!users || !names) {
        free(users);
        free(names);
        return -1;
    }
    for (int64_t first = 1; first <= count && rc == 0; first += CHUNK) {
        size_t n = 0;
        concert_catalog c = { CONCERT_CATALOG_VERSION, users, 0, NULL, 0 };
        for (int64_t id = first; id < first + CHUNK && id <= count; id++, n++) {
            snprintf(names[n], sizeof(names[n]), "u%lld", (long long)id);
            users[n] = (concert_catalog_user){ id, names[n], 0 };
        }
        c.user_count = n;
        if ((rc = concert_catalog_load(db, &c)) != 0)
            fprintf(stderr, "pg_joins: loading users: %s\n", concert_error_last()->message);
    }
    free(users);
    free(names);
    return rc;
}

typedef struct joiner {
    concert_db *db;
    int64_t first_user, last_user;
    double stop_at;
    int64_t joins, errors;
    atomic_int *go;
} joiner;

static void *join_loop(void *arg)
{
    joiner *j = arg;
    concert_token_info t;
    while (!atomic_load(j->go))
        ;
    for (int64_t user = j->first_user; user <= j->last_user; user++) {
        if ((user & 15) == 0 && pg_admin_mono_s() >= j->stop_at)
            break;
        if (concert_queue_issue(&t, j->db, user) == 0 && t.is_new)
            j->joins++;
        else if (j->errors++ == 0)
            fprintf(stderr, "pg_joins: join failed: %s\n", concert_error_last()->message);
    }
    return NULL;
}

/* Joins/s through the library; -1 on failure. */
static double library_joins(const config *cf, const char *store, int64_t *joins_out,
                            int64_t *errors_out)
{
    concert_options o;
    concert_db *db = NULL;
    joiner *j = calloc((size_t)cf->threads, sizeof(*j));
    pthread_t *th = calloc((size_t)cf->threads, sizeof(*th));
    atomic_int go = 0;
    double start, elapsed;
    int64_t per, joins = 0, errors = 0;

    if (!j || !th)
        goto fail;
    concert_options_init(&o, CONCERT_OPTIONS_VERSION);
    o.pool_size = cf->threads;
    o.max_active = 1;
    o.wait_ttl_ms = DAY_MS;
    o.active_ttl_ms = DAY_MS;
    if (concert_db_open(&db, store, &o) != 0) {
        fprintf(stderr, "pg_joins: open: %s\n", concert_error_last()->message);
        goto fail;
    }
    fprintf(stderr, "pg_joins: loading %lld users\n", (long long)cf->users);
    if (load_users(db, cf->users) != 0)
        goto fail;
    per = cf->users / cf->threads;
    start = pg_admin_mono_s();
    for (int i = 0; i < cf->threads; i++) {
        j[i] = (joiner){ db, 1 + i * per, (i + 1) * per, start + cf->duration_s, 0, 0, &go };
        if (pthread_create(&th[i], NULL, join_loop, &j[i]) != 0)
            goto fail;
    }
    start = pg_admin_mono_s();
    for (int i = 0; i < cf->threads; i++)
        j[i].stop_at = start + cf->duration_s;
    atomic_store(&go, 1);
    for (int i = 0; i < cf->threads; i++)
        pthread_join(th[i], NULL);
    elapsed = pg_admin_mono_s() - start;
    for (int i = 0; i < cf->threads; i++) {
        joins += j[i].joins;
        errors += j[i].errors;
    }
    concert_db_close(db);
    free(j);
    free(th);
    *joins_out = joins;
    *errors_out = errors;
    return elapsed > 0 ? (double)joins / elapsed : 0.0;

fail:
    concert_db_close(db);
    free(j);
    free(th);
    return -1.0;
}

/* The pgbench side: a table like concert.tokens (columns, defaults,
 * CHECKs, every index, the foreign key to users, fillfactor), a ticket
 * sequence of its own, and a script inserting one row per transaction. */
static const char PGBENCH_SETUP[] =
    "CREATE SEQUENCE concert.pgbench_tickets MINVALUE 0 START 1;"
    "CREATE TABLE concert.pgbench_tokens (LIKE concert.tokens INCLUDING ALL)"
    "  WITH (fillfactor = 80);"
    "ALTER TABLE concert.pgbench_tokens ADD FOREIGN KEY (user_id) REFERENCES concert.users (id);";
static const char PGBENCH_SCRIPT[] =
    "\\set user random(1, :users)\n"
    "INSERT INTO concert.pgbench_tokens (ticket, lookup, token, user_id, state, last_seen, "
    "expires_at, issued_at) SELECT nextval('concert.pgbench_tickets'), "
    "hashtextextended(s.t, 0), s.t, :user, 1, 1800000000000, 0, 1800000000000 "
    "FROM (SELECT md5(random()::text) AS t) s;\n";

/* Run pgbench and return its tps; -1 on failure. */
static double pgbench_tps(const config *cf, const char *store)
{
    char script_path[] = "/tmp/concert-pg-joins-XXXXXX";
    char clients[16], duration[16], users[40], line[512];
    int fd = mkstemp(script_path), pipefd[2], status = 0;
    double tps = -1.0;
    FILE *out;
    pid_t pid;

    if (fd < 0 || write(fd, PGBENCH_SCRIPT, sizeof(PGBENCH_SCRIPT) - 1) !=
                      (ssize_t)(sizeof(PGBENCH_SCRIPT) - 1)) {
        fprintf(stderr, "pg_joins: cannot write the pgbench script\n");
        if (fd >= 0)
            close(fd);
        return -1.0;
    }
    close(fd);
    snprintf(clients, sizeof(clients), "%d", cf->threads);
    snprintf(duration, sizeof(duration), "%d", cf->duration_s);
    snprintf(users, sizeof(users), "users=%lld", (long long)cf->users);
    if (pipe(pipefd) != 0)
        goto out;
    pid = fork();
    if (pid < 0)
        goto out;
    if (pid == 0) {
        char *argv[] = { (char *)cf->pgbench,
                         "-n",
                         "-M",
                         "prepared",
                         "-c",
                         clients,
                         "-j",
                         "2",
                         "-T",
                         duration,
                         "-f",
                         script_path,
                         "-D",
                         users,
                         (char *)store,
                         NULL };
        dup2(pipefd[1], STDOUT_FILENO);
        close(pipefd[0]);
        close(pipefd[1]);
        execv(cf->pgbench, argv);
        _exit(127);
    }
    close(pipefd[1]);
    out = fdopen(pipefd[0], "r");
    while (out && fgets(line, sizeof(line), out)) {
        fputs(line, stderr);
        if (strncmp(line, "tps = ", 6) == 0)
            tps = strtod(line + 6, NULL);
    }
    if (out)
        fclose(out);
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "pg_joins: pgbench failed (status %d)\n", status);
        tps = -1.0;
    }
out:
    unlink(script_path);
    return tps;
}

static int usage(void)
{
    fprintf(stderr, "usage: concert-bench-pg-joins --pg CONNINFO --pgbench PATH [--threads N] "
                    "[--duration S] [--users N]\n");
    return 2;
}

int main(int argc, char **argv)
{
    config cf = { NULL, NULL, 16, 10, 200000 };
    char store[1200], sql[200];
    double lib, bench;
    int64_t joins = 0, errors = 0, v;
    int rc = 1;

    for (int i = 1; i < argc; i++) {
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!next)
            return usage();
        if (strcmp(argv[i], "--pg") == 0)
            cf.conninfo = next;
        else if (strcmp(argv[i], "--pgbench") == 0)
            cf.pgbench = next;
        else if (strcmp(argv[i], "--threads") == 0 && pg_admin_parse_int(next, 1, 256, &v) == 0)
            cf.threads = (int)v;
        else if (strcmp(argv[i], "--duration") == 0 && pg_admin_parse_int(next, 1, 3600, &v) == 0)
            cf.duration_s = (int)v;
        else if (strcmp(argv[i], "--users") == 0 &&
                 pg_admin_parse_int(next, 1000, 100000000, &v) == 0)
            cf.users = v;
        else
            return usage();
        i++;
    }
    if (!cf.conninfo || !cf.pgbench)
        return usage();
    if (snprintf(store, sizeof(store), "%s dbname=" BENCH_DB, cf.conninfo) >= (int)sizeof(store))
        return usage();

    if (pg_admin_sql("pg_joins", cf.conninfo,
                     "DROP DATABASE IF EXISTS " BENCH_DB " WITH (FORCE)") != 0 ||
        pg_admin_sql("pg_joins", cf.conninfo, "CREATE DATABASE " BENCH_DB) != 0)
        return 1;
    lib = library_joins(&cf, store, &joins, &errors);
    if (lib < 0)
        goto done;
    fprintf(stderr, "pg_joins: library %.0f joins/s; now pgbench\n", lib);
    if (pg_admin_sql("pg_joins", store, PGBENCH_SETUP) != 0 ||
        pg_admin_sql("pg_joins", store, "VACUUM ANALYZE concert.users") != 0)
        goto done;
    bench = pgbench_tps(&cf, store);
    if (bench <= 0)
        goto done;
    printf("PostgreSQL joins, %d connections, %d s each, same server, same run\n", cf.threads,
           cf.duration_s);
    printf("library concert_queue_issue: %10.0f joins/s (%lld joins, %lld errors)\n", lib,
           (long long)joins, (long long)errors);
    printf("pgbench single-row INSERT:   %10.0f tps\n", bench);
    printf("ratio library/pgbench:       %10.2f\n", lib / bench);
    snprintf(sql, sizeof(sql), "pg_joins lib=%.0f pgbench=%.0f ratio=%.2f errors=%lld", lib, bench,
             lib / bench, (long long)errors);
    printf("PG_JOINS_RESULT %s\n", sql);
    rc = errors == 0 ? 0 : 1;
done:
    pg_admin_sql("pg_joins", cf.conninfo, "DROP DATABASE IF EXISTS " BENCH_DB " WITH (FORCE)");
    return rc;
}
