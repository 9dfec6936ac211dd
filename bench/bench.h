/*
 * concert-bench: shared declarations.
 *
 * The program is split by concern: measure.c (clocks, percentiles, memory),
 * catalog_gen.c (synthetic catalogs), store.c (fresh stores per scenario),
 * report.c (table and JSON), one scenario_*.c per measured workload, and
 * main.c (command line and order of runs).
 */
#ifndef CONCERT_BENCH_H
#define CONCERT_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <concert/concert.h>

/* ---------------- options ---------------- */

enum bench_store_kind {
    STORE_MEMORY = 0,
    STORE_SQLITE = 1,
    STORE_PG = 2,
    STORE_KINDS = 3
};

/* Scenarios, as bits of bench_options.scenarios. */
enum {
    SCEN_FLOW = 1 << 0,
    SCEN_QUEUE = 1 << 1,
    SCEN_VENUE = 1 << 2,
    SCEN_FOOTPRINT = 1 << 3,
    SCEN_HOLDS = 1 << 4,
    SCEN_GROWTH = 1 << 5
};

typedef struct bench_options {
    int stores[STORE_KINDS];      /* 1 = run on this store */
    int scenarios;                /* SCEN_* bits */
    int threads;                  /* N for the multi-threaded runs */
    double duration_s;            /* > 0: run each timed loop this long */
    int64_t ops;                  /* > 0: this many operations per repetition */
    int reps;                     /* repetitions; medians are reported */
    int json;                     /* 1: JSON on stdout instead of the table */
    const char *json_out;         /* --json-out FILE: JSON there as well */
    const char *compare;          /* --compare FILE; default: json_out's old copy */
    int no_compare;               /* --no-compare */
    int quick;                    /* 1: smaller sizes, fewer repetitions */
    const char *pg_conninfo;      /* --pg */
    const char *tmpdir;           /* where SQLite files go */
    int64_t queue_size;           /* the "large" queue; default 1,000,000 */
    int64_t durable_queue_size;   /* the same for SQLite, if set */
    int64_t pg_queue_size;        /* the same for PostgreSQL, if set */
    int64_t venue_seats;          /* seats of the big venue; default 100,000 */
    int64_t growth_flows;         /* growth on memory: flows; 0 = 10,000,000 */
    int64_t growth_durable_flows; /* growth on SQLite; 0 = 10,000 */
} bench_options;

/* ---------------- measure.c ---------------- */

/* Monotonic time in nanoseconds. */
int64_t bench_now_ns(void);
/* CPU time of the whole process (all threads), in nanoseconds. */
int64_t bench_cpu_ns(void);

/* Latency samples of one run (nanoseconds); grows as needed. */
typedef struct bench_samples {
    int64_t *ns;
    size_t count;
    size_t capacity;
} bench_samples;

/* Reserve room for n samples up front so that recording never allocates
 * inside a timed loop. Returns 0 or -1 (out of memory). */
int bench_samples_init(bench_samples *s, size_t n);
/* Record one sample; silently drops it when full (the capacity is sized from
 * the operation count, so this only happens in duration mode past the guess). */
void bench_samples_add(bench_samples *s, int64_t ns);
/* Append every sample of src to dst (growing dst). Returns 0 or -1. */
int bench_samples_merge(bench_samples *dst, const bench_samples *src);
void bench_samples_free(bench_samples *s);
/* Nearest-rank percentile (0 < p <= 100) in microseconds; sorts s. 0 if empty. */
double bench_samples_percentile_us(bench_samples *s, double p);

/* One repetition's figures. */
typedef struct bench_rep {
    double ops_per_s;
    double p50_us;
    double p99_us;
    double mean_us; /* wall time per operation, all threads together */
    double cpu_us;  /* process CPU time per operation (0: not measured);
                           unlike ops_per_s it does not suffer when other
                           processes take the CPU */
} bench_rep;

/* Fill rep from ops done in elapsed_ns of wall time and cpu_ns of process
 * CPU time (< 0: unknown), with latencies in s (sorted here). */
void bench_rep_from(bench_rep *rep, int64_t ops, int64_t elapsed_ns, int64_t cpu_ns,
                    bench_samples *s);

/* Median of each field over n repetitions, field by field. */
void bench_rep_median(bench_rep *out, const bench_rep *reps, int n);

/* Resident set size now, and its high-water mark, in KiB (-1 if unknown). */
int64_t bench_rss_kib(void);
/* Size of the data segment and anonymous mappings (allocated, resident or
 * not), in KiB (-1 if unknown). */
int64_t bench_vmdata_kib(void);
int64_t bench_peak_rss_kib(void);
/* Reset the high-water mark to the current RSS (Linux clear_refs "5");
 * returns 0, or -1 if the kernel refused (peak then covers the whole run). */
int bench_peak_rss_reset(void);
/* Give freed heap memory back to the system, so RSS shows what is kept. */
void bench_heap_trim(void);
/* Heap in use (malloc'ed and not freed, mallinfo2), in bytes: what the
 * program holds whether or not its pages were touched. */
int64_t bench_heap_in_use_bytes(void);

/* Pseudo-random numbers for seat and token choice (xorshift; not secure,
 * only needs to be fast and spread out). */
uint64_t bench_rand(uint64_t *state);

/* ---------------- threads.c ---------------- */

/* Run fn(args + i * arg_size) on `threads` threads that start together;
 * *elapsed_ns is the wall time from the common start until the last one
 * finished, *cpu_ns (may be NULL) the process CPU time over the same span.
 * Returns 0, or -1 if a thread could not be started. */
int bench_parallel(int threads, void (*fn)(void *arg), void *args, size_t arg_size,
                   int64_t *elapsed_ns, int64_t *cpu_ns);

/* ---------------- catalog_gen.c ---------------- */

/* Synthetic catalogs, built in memory and loaded through concert_catalog_load()
 * in chunks (each chunk all or nothing). */
/* Users first_id .. first_id+count-1, named "u<id>", each with points. */
int bench_load_users(concert_db *db, int64_t first_id, int64_t count, int64_t points);

/* One OPEN concert (concert_id) with schedule_count schedules, ids
 * first_schedule_id.., each with seats 1..seats_per_schedule at price,
 * starting 30 days after the db's now. */
int bench_load_concert(concert_db *db, int64_t concert_id, int64_t first_schedule_id,
                       int64_t schedule_count, int64_t seats_per_schedule, int64_t price);

/* ---------------- store.c ---------------- */

/* A fresh, empty store for one scenario, removed again by bench_store_close. */
typedef struct bench_store {
    int kind;
    concert_db *db;
    char uri[1024];
    char sqlite_path[900];
    char pg_dbname[64];
    const char *pg_admin; /* the --pg conninfo, to drop pg_dbname at close */
} bench_store;

const char *bench_store_name(int kind);
/* Open a fresh store of kind with opts. Prints the reason and returns -1 on failure. */
int bench_store_open(bench_store *st, int kind, const bench_options *o,
                     const concert_options *opts);
/* Close the db and delete the file or database. */
void bench_store_close(bench_store *st);

/* ---------------- report.c ---------------- */

typedef struct bench_row {
    char scenario[48]; /* e.g. "flow", "queue.status" */
    char store[16];
    int threads;
    char size[48]; /* e.g. "1,000,000 waiting", "100,000 seats" */
    int64_t ops;   /* operations per repetition (median) */
    int reps;
    bench_rep median;
    int64_t peak_rss_kib; /* highest over the repetitions */
    char note[256];
    double value; /* a derived figure (bytes per seat, ratio); NAN if none */
    char value_name[32];
} bench_row;

/* Start an empty row (value NAN). */
void bench_row_init(bench_row *r, const char *scenario, int store_kind, int threads);
/* Add a finished row to the report (copied). Returns 0 or -1. */
int bench_report_add(const bench_row *r);
/* Print every row to out: a table, or JSON with the machine and options. */
void bench_report_print(FILE *out, const bench_options *o, int json);
void bench_report_free(void);
/* Every row added so far: *out and the count (valid until the next add). */
size_t bench_report_rows(const bench_row **out);
/* Print, per row, the figures of a previous results file (concert-bench's
 * JSON) against now, flagging rows worse by more than the noise
 * (compare.c). 0, or -1 if the file cannot be read as results. */
int bench_report_compare(FILE *out, const char *path);
/* Find a row added earlier, or NULL. */
const bench_row *bench_report_find(const char *scenario, const char *store, const char *size);

/* Failures inside a timed loop: counted, the first one kept for the note. */
typedef struct bench_errors {
    int64_t count;
    char first[128];
} bench_errors;
/* Count a failure of `what` that returned rc (reads concert_error_last()). */
void bench_errors_note(bench_errors *e, const char *what, int rc);
/* Add src's count to dst and keep dst's first message, else src's. */
void bench_errors_merge(bench_errors *dst, const bench_errors *src);

/* Progress lines go to stderr, so stdout stays the table or JSON. */
void bench_log(const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* ---------------- scenarios ---------------- */

/* Each runs its workload on one store and adds rows; 0 or -1. */
int scenario_flow(const bench_options *o, int kind, int threads);
int scenario_queue(const bench_options *o, int kind);
int scenario_venue(const bench_options *o, int kind);
int scenario_footprint(const bench_options *o);
int scenario_holds(const bench_options *o, int kind, int threads);
int scenario_growth(const bench_options *o, int kind);

/* Operations per repetition for a store: --ops, else a default per store
 * (memory is ~100x faster than a durable store), scaled down by --quick. */
int64_t bench_default_ops(const bench_options *o, int kind, int64_t memory_ops,
                          int64_t durable_ops);

#endif
