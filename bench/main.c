/*
 * concert-bench: throughput, latency and memory of libconcert, in process.
 * See docs/performance.md for what each row means and the latest figures;
 * scripts/bench.sh runs this plus the HTTP and PostgreSQL comparisons.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

static void usage(FILE *out)
{
    fputs("Usage: concert-bench [options]\n"
          "\n"
          "Measures libconcert in process and prints a table (or JSON) of throughput,\n"
          "p50/p99 latency and peak memory; figures are medians of the repetitions.\n"
          "\n"
          "  --store LIST      stores: memory,sqlite,pg (default memory,sqlite; pg\n"
          "                    is added when --pg is given)\n"
          "  --only LIST       scenarios: flow,queue,venue,footprint,holds,growth\n"
          "                    (default all)\n"
          "  --threads N       threads of the multi-threaded runs (default 4)\n"
          "  --duration S      run each timed loop S seconds (flow, holds)\n"
          "  --ops N           operations per repetition (default per store and scenario)\n"
          "  --reps N          repetitions (default 5, --quick 3)\n"
          "  --queue-size N    the large queue (default 1,000,000; --quick: 100,000 on\n"
          "                    durable stores)\n"
          "  --durable-queue-size N  the large queue on SQLite only\n"
          "  --pg-queue-size N the large queue on PostgreSQL only\n"
          "  --venue-seats N   seats of the big venue (default 100,000)\n"
          "  --growth-flows N  growth on memory: RSS after 100,000 and after N flows\n"
          "                    (default 10,000,000; --quick 1,000,000)\n"
          "  --growth-durable-flows N  growth on SQLite: file after N/10 and N flows\n"
          "                    (default 10,000; --quick 4,000)\n"
          "  --pg CONNINFO     PostgreSQL server (a database per run is created there\n"
          "                    and dropped)\n"
          "  --tmpdir DIR      where SQLite files go (default $TMPDIR or /tmp)\n"
          "  --quick           smaller runs, 3 repetitions\n"
          "  --json            JSON instead of the table\n"
          "  --json-out FILE   also write the JSON to FILE\n"
          "  --compare FILE    compare every row with a previous results file (JSON);\n"
          "                    by default with the --json-out FILE being replaced,\n"
          "                    when there is one\n"
          "  --no-compare      no comparison\n"
          "  --help            this text\n",
          out);
}

int64_t bench_default_ops(const bench_options *o, int kind, int64_t memory_ops, int64_t durable_ops)
{
    if (o->ops > 0)
        return o->ops;
    int64_t n = kind == STORE_MEMORY ? memory_ops : durable_ops;
    if (o->quick)
        n /= 5;
    return n < 10 ? 10 : n;
}

static int parse_int(const char *flag, const char *text, int64_t min, int64_t max, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    const long long v = text ? strtoll(text, &end, 10) : 0;
    if (!text || errno != 0 || end == text || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "concert-bench: %s needs an integer in %lld..%lld\n", flag, (long long)min,
                (long long)max);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_seconds(const char *text, double *out)
{
    char *end = NULL;
    errno = 0;
    const double v = text ? strtod(text, &end) : 0.0;
    if (!text || errno != 0 || end == text || *end != '\0' || !(v > 0.0) || v > 3600.0) {
        fprintf(stderr, "concert-bench: --duration needs seconds in (0, 3600]\n");
        return -1;
    }
    *out = v;
    return 0;
}

/* Comma-separated names into bits (scenarios) or flags (stores). */
static int parse_list(const char *flag, const char *text, const char *const *names,
                      const int *values, size_t n, int *bits)
{
    char item[32];
    *bits = 0;
    while (text && *text) {
        const size_t len = strcspn(text, ",");
        int found = 0;
        if (len > 0 && len < sizeof(item)) {
            memcpy(item, text, len);
            item[len] = '\0';
            for (size_t i = 0; i < n; i++) {
                if (strcmp(item, names[i]) == 0) {
                    *bits |= values[i];
                    found = 1;
                }
            }
        }
        if (!found) {
            fprintf(stderr, "concert-bench: %s: unknown item '%.*s'\n", flag, (int)len, text);
            return -1;
        }
        text += len;
        if (*text == ',')
            text++;
    }
    return *bits ? 0 : -1;
}

static int parse_args(bench_options *o, int argc, char **argv)
{
    static const char *const store_names[] = { "memory", "sqlite", "pg", "postgresql" };
    static const int store_bits[] = { 1, 2, 4, 4 };
    static const char *const scen_names[] = { "flow",      "queue", "venue",
                                              "footprint", "holds", "growth" };
    static const int scen_bits[] = { SCEN_FLOW,      SCEN_QUEUE, SCEN_VENUE,
                                     SCEN_FOOTPRINT, SCEN_HOLDS, SCEN_GROWTH };
    int stores = 0, reps_given = 0;
    int64_t v;

    memset(o, 0, sizeof(*o));
    o->scenarios = SCEN_FLOW | SCEN_QUEUE | SCEN_VENUE | SCEN_FOOTPRINT | SCEN_HOLDS | SCEN_GROWTH;
    o->threads = 4;
    o->reps = 5;
    o->venue_seats = 100000;
    o->tmpdir = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(a, "--json") == 0) {
            o->json = 1;
        } else if (strcmp(a, "--quick") == 0) {
            o->quick = 1;
        } else if (strcmp(a, "--store") == 0) {
            if (parse_list(a, next, store_names, store_bits, 4, &stores) != 0)
                return -1;
            i++;
        } else if (strcmp(a, "--only") == 0) {
            if (parse_list(a, next, scen_names, scen_bits, 6, &o->scenarios) != 0)
                return -1;
            i++;
        } else if (strcmp(a, "--threads") == 0) {
            if (parse_int(a, next, 1, 1024, &v) != 0)
                return -1;
            o->threads = (int)v;
            i++;
        } else if (strcmp(a, "--duration") == 0) {
            if (parse_seconds(next, &o->duration_s) != 0)
                return -1;
            i++;
        } else if (strcmp(a, "--ops") == 0) {
            if (parse_int(a, next, 1, 100000000, &o->ops) != 0)
                return -1;
            i++;
        } else if (strcmp(a, "--reps") == 0) {
            if (parse_int(a, next, 1, 64, &v) != 0)
                return -1;
            o->reps = (int)v;
            reps_given = 1;
            i++;
        } else if (strcmp(a, "--queue-size") == 0) {
            if (parse_int(a, next, 2, 100000000, &o->queue_size) != 0)
                return -1;
            i++;
        } else if (strcmp(a, "--durable-queue-size") == 0) {
            if (parse_int(a, next, 2, 100000000, &o->durable_queue_size) != 0)
                return -1;
            i++;
        } else if (strcmp(a, "--pg-queue-size") == 0) {
            if (parse_int(a, next, 2, 100000000, &o->pg_queue_size) != 0)
                return -1;
            i++;
        } else if (strcmp(a, "--venue-seats") == 0) {
            if (parse_int(a, next, 2, CONCERT_MAX_SEATS_PER_SCHEDULE, &o->venue_seats) != 0)
                return -1;
            i++;
        } else if (strcmp(a, "--growth-flows") == 0) {
            if (parse_int(a, next, 1000, 1000000000, &o->growth_flows) != 0)
                return -1;
            i++;
        } else if (strcmp(a, "--growth-durable-flows") == 0) {
            if (parse_int(a, next, 100, 100000000, &o->growth_durable_flows) != 0)
                return -1;
            i++;
        } else if (strcmp(a, "--pg") == 0 && next) {
            o->pg_conninfo = next;
            i++;
        } else if (strcmp(a, "--json-out") == 0 && next) {
            o->json_out = next;
            i++;
        } else if (strcmp(a, "--compare") == 0 && next) {
            o->compare = next;
            i++;
        } else if (strcmp(a, "--no-compare") == 0) {
            o->no_compare = 1;
        } else if (strcmp(a, "--tmpdir") == 0 && next) {
            o->tmpdir = next;
            i++;
        } else {
            fprintf(stderr, "concert-bench: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return -1;
        }
    }
    if (o->duration_s > 0 && o->ops > 0) {
        fprintf(stderr, "concert-bench: give --duration or --ops, not both\n");
        return -1;
    }
    if (o->quick && !reps_given)
        o->reps = 3;
    if (!stores)
        stores = 1 | 2 | (o->pg_conninfo ? 4 : 0);
    if ((stores & 4) && !o->pg_conninfo) {
        fprintf(stderr, "concert-bench: --store pg needs --pg CONNINFO\n");
        return -1;
    }
    o->stores[STORE_MEMORY] = (stores & 1) != 0;
    o->stores[STORE_SQLITE] = (stores & 2) != 0;
    o->stores[STORE_PG] = (stores & 4) != 0;
    return 0;
}

int main(int argc, char **argv)
{
    bench_options o;
    int failed = 0, compare_failed = 0;

    if (parse_args(&o, argc, argv) != 0)
        return 2;
    for (int kind = 0; kind < STORE_KINDS; kind++) {
        if (!o.stores[kind])
            continue;
        if (o.scenarios & SCEN_FLOW) {
            failed |= scenario_flow(&o, kind, 1) != 0;
            if (o.threads > 1)
                failed |= scenario_flow(&o, kind, o.threads) != 0;
        }
        if (o.scenarios & SCEN_QUEUE)
            failed |= scenario_queue(&o, kind) != 0;
        if (o.scenarios & SCEN_VENUE)
            failed |= scenario_venue(&o, kind) != 0;
        if (o.scenarios & SCEN_HOLDS)
            failed |= scenario_holds(&o, kind, o.threads) != 0;
        if ((o.scenarios & SCEN_FOOTPRINT) && kind == STORE_MEMORY)
            failed |= scenario_footprint(&o) != 0;
        if ((o.scenarios & SCEN_GROWTH) && kind != STORE_PG)
            failed |= scenario_growth(&o, kind) != 0;
    }
    bench_report_print(stdout, &o, o.json);
    /* Before --json-out replaces the previous results. JSON on stdout
     * stays JSON: the comparison then goes to stderr. */
    if (!o.no_compare) {
        const char *previous = o.compare;
        if (!previous && o.json_out && access(o.json_out, R_OK) == 0)
            previous = o.json_out;
        /* An unreadable file named by --compare is an error of the run; a
         * --json-out file that is not results is only replaced. */
        if (previous && bench_report_compare(o.json ? stderr : stdout, previous) != 0 && o.compare)
            compare_failed = 1;
    }
    if (o.json_out) {
        FILE *f = fopen(o.json_out, "w");
        if (!f) {
            fprintf(stderr, "concert-bench: cannot write %s\n", o.json_out);
            failed = 1;
        } else {
            bench_report_print(f, &o, 1);
            failed |= fclose(f) != 0;
        }
    }
    bench_report_free();
    if (failed)
        fprintf(stderr, "concert-bench: some scenarios failed (see above); their rows are "
                        "missing\n");
    return failed || compare_failed ? 1 : 0;
}
