/*
 * concert-sim: the deterministic simulation's command line.
 *
 *   concert-sim [--store memory|sqlite|postgres] [--seed S] [--seeds N]
 *               [--ops N] [--time-limit SEC] [--regressions FILE] [--pg CONNINFO]
 *
 * Runs seeds S, S+1, ... S+N-1 (and every line "STORE SEED OPS" of FILE for
 * this store). A seed that breaks an invariant prints the violation and the
 * one line that reproduces it; the exit status is 1 then. PostgreSQL: each
 * seed gets a fresh database on the server whose conninfo is --pg or the
 * first line of the file CONCERT_TEST_PG_CONNINFO_FILE names.
 */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef CONCERT_SIM_HAVE_LIBPQ
#include <libpq-fe.h>
#endif

#include <concert/concert.h>

#include "sim.h"

typedef struct totals {
    long seeds, ops, faults, clock_back, payments, replays, holds, admitted, failed;
} totals;

static const char *store = "memory";
static char pg_base[512];

static int parse_long(const char *text, long *out)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < 0)
        return -1;
    *out = v;
    return 0;
}

#ifdef CONCERT_SIM_HAVE_LIBPQ
static int pg_admin(const char *sql)
{
    PGconn *c = PQconnectdb(pg_base);
    PGresult *r;
    int ok;
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "concert-sim: cannot reach PostgreSQL (%s): %s", pg_base,
                PQerrorMessage(c));
        PQfinish(c);
        return -1;
    }
    r = PQexec(c, sql);
    ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        fprintf(stderr, "concert-sim: %s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return ok ? 0 : -1;
}
#endif

/* A fresh empty store for one seed: its URI in uri, cleanup notes in dir/db. */
static int store_make(uint64_t seed, char *uri, size_t size, char *dir, size_t dir_size,
                      char *dbname, size_t db_size)
{
    dir[0] = dbname[0] = '\0';
    if (strcmp(store, "memory") == 0) {
        snprintf(uri, size, "memory:");
        return 0;
    }
    if (strcmp(store, "sqlite") == 0) {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, dir_size, "%s/concert-sim-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(dir)) {
            perror("concert-sim: mkdtemp");
            dir[0] = '\0';
            return -1;
        }
        snprintf(uri, size, "sqlite:%s/sim.db", dir);
        return 0;
    }
#ifdef CONCERT_SIM_HAVE_LIBPQ
    {
        char sql[128];
        snprintf(dbname, db_size, "concert_sim_%ld_%llu", (long)getpid(), (unsigned long long)seed);
        snprintf(sql, sizeof(sql), "CREATE DATABASE %s", dbname);
        if (pg_admin(sql) != 0) {
            dbname[0] = '\0';
            return -1;
        }
        snprintf(uri, size, "%s dbname=%s", pg_base, dbname);
        return 0;
    }
#else
    (void)seed;
    (void)db_size;
    fprintf(stderr, "concert-sim: built without libpq\n");
    return -1;
#endif
}

static void store_drop(const char *dir, const char *dbname)
{
    if (dir[0]) {
        static const char *const SUFFIXES[] = { "", "-wal", "-shm", "-journal" };
        char path[600];
        for (size_t i = 0; i < 4; i++) {
            snprintf(path, sizeof(path), "%s/sim.db%s", dir, SUFFIXES[i]);
            unlink(path);
        }
        rmdir(dir);
    }
#ifdef CONCERT_SIM_HAVE_LIBPQ
    if (dbname[0]) {
        char sql[160];
        snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", dbname);
        pg_admin(sql);
    }
#else
    (void)dbname;
#endif
}

/* One seed; 0 ran clean, 1 violation, -1 could not run. */
static int run_one(uint64_t seed, long ops, double deadline, totals *t)
{
    char uri[1024], dir[512], dbname[96];
    sim_result r;
    int rc;

    if (store_make(seed, uri, sizeof(uri), dir, sizeof(dir), dbname, sizeof(dbname)) != 0)
        return -1;
    rc = sim_run(uri, seed, ops, deadline, &r);
    store_drop(dir, dbname);
    if (rc != 0) {
        fprintf(stderr, "concert-sim: seed %llu could not run: %s\n", (unsigned long long)seed,
                concert_error_name(rc));
        return -1;
    }
    t->seeds++;
    t->ops += r.ops;
    t->faults += r.faults;
    t->clock_back += r.clock_back;
    t->payments += r.payments;
    t->replays += r.replays;
    t->holds += r.holds;
    t->admitted += r.admitted;
    if (r.violation[0]) {
        t->failed++;
        printf("VIOLATION seed %llu on %s: %s\n", (unsigned long long)seed, store, r.violation);
        printf("reproduce: concert-sim --store %s --seed %llu --ops %ld\n", store,
               (unsigned long long)seed, r.ops + 1);
        fflush(stdout);
        return 1;
    }
    return 0;
}

static int regressions_run(const char *file, double deadline, totals *t)
{
    FILE *f = fopen(file, "r");
    char line[256];
    int worst = 0;
    if (!f) {
        fprintf(stderr, "concert-sim: cannot read %s\n", file);
        return -1;
    }
    while (fgets(line, sizeof(line), f)) {
        char kind[32];
        unsigned long long seed;
        long ops;
        if (line[0] == '#' || line[0] == '\n')
            continue;
        if (sscanf(line, "%31s %llu %ld", kind, &seed, &ops) != 3) {
            fprintf(stderr, "concert-sim: %s: bad line: %s", file, line);
            fclose(f);
            return -1;
        }
        if (strcmp(kind, store) != 0 && strcmp(kind, "any") != 0)
            continue;
        int rc = run_one(seed, ops, deadline, t);
        if (rc != 0 && worst == 0)
            worst = rc;
    }
    fclose(f);
    return worst;
}

static int usage(void)
{
    fprintf(stderr, "usage: concert-sim [--store memory|sqlite|postgres] [--seed S] [--seeds N] "
                    "[--ops N] [--time-limit SEC] [--regressions FILE] [--pg CONNINFO]\n");
    return 2;
}

int main(int argc, char **argv)
{
    long seed = 1, seeds = 1, ops = 20000, limit = 0;
    const char *regressions = NULL, *pg = NULL;
    totals t = { 0, 0, 0, 0, 0, 0, 0, 0, 0 };
    double start, deadline, elapsed;
    int worst = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long *num = strcmp(a, "--seed") == 0         ? &seed
                    : strcmp(a, "--seeds") == 0      ? &seeds
                    : strcmp(a, "--ops") == 0        ? &ops
                    : strcmp(a, "--time-limit") == 0 ? &limit
                                                     : NULL;
        if (!v)
            return usage();
        if (num) {
            if (parse_long(v, num) != 0) {
                fprintf(stderr, "concert-sim: %s needs a non-negative number, not \"%s\"\n", a, v);
                return 2;
            }
        } else if (strcmp(a, "--store") == 0) {
            store = v;
        } else if (strcmp(a, "--regressions") == 0) {
            regressions = v;
        } else if (strcmp(a, "--pg") == 0) {
            pg = v;
        } else {
            return usage();
        }
        i++;
    }
    if (strcmp(store, "memory") != 0 && strcmp(store, "sqlite") != 0 &&
        strcmp(store, "postgres") != 0)
        return usage();
    if (strcmp(store, "postgres") == 0) {
        if (pg) {
            snprintf(pg_base, sizeof(pg_base), "%s", pg);
        } else {
            const char *file = getenv("CONCERT_TEST_PG_CONNINFO_FILE");
            FILE *f = file && *file ? fopen(file, "r") : NULL;
            if (!f || !fgets(pg_base, sizeof(pg_base), f)) {
                fprintf(stderr, "concert-sim: --store postgres needs --pg CONNINFO or "
                                "CONCERT_TEST_PG_CONNINFO_FILE\n");
                if (f)
                    fclose(f);
                return 2;
            }
            fclose(f);
            pg_base[strcspn(pg_base, "\r\n")] = '\0';
        }
    }

    start = sim_seconds();
    deadline = limit > 0 ? start + (double)limit : 0;
    if (regressions)
        worst = regressions_run(regressions, deadline, &t);
    for (long i = 0; i < seeds && (deadline == 0 || sim_seconds() < deadline); i++) {
        int rc = run_one((uint64_t)(seed + i), ops, deadline, &t);
        if (rc != 0 && worst == 0)
            worst = rc;
    }
    elapsed = sim_seconds() - start;
    printf("concert-sim %s: %ld seeds, %ld operations in %.1f s (%.0f ops/s); %ld faults "
           "injected, %ld backward clock jumps, %ld ACTIVE reports, %ld holds, %ld payments, %ld "
           "keyed replays; %ld seeds failed\n",
           store, t.seeds, t.ops, elapsed, elapsed > 0 ? (double)t.ops / elapsed : 0.0, t.faults,
           t.clock_back, t.admitted, t.holds, t.payments, t.replays, t.failed);
    return worst < 0 ? 2 : worst;
}
