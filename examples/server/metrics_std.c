/*
 * The standard collectors (see metrics_std.h).
 */
#include "metrics_std.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void collect_queue(metrics_writer *w, void *ctx)
{
    concert_queue_stats s;
    memset(&s, 0, sizeof s);
    /* A store that cannot answer leaves the queue families out of this
     * scrape: a gauge of 0 would read as an empty queue. */
    if (concert_queue_stats_get(&s, ctx) < 0)
        return;
    metrics_family(w, "concert_queue_waiting", "gauge", "Queue tickets not yet admitted.");
    metrics_sample(w, "concert_queue_waiting", NULL, NULL, s.waiting);
    metrics_family(w, "concert_queue_active", "gauge", "Queue tokens ACTIVE now.");
    metrics_sample(w, "concert_queue_active", NULL, NULL, s.active);
    metrics_family(w, "concert_queue_max_active", "gauge", "Most tokens ACTIVE at once.");
    metrics_sample(w, "concert_queue_max_active", NULL, NULL, s.max_active);
    metrics_family(w, "concert_queue_prequeued", "gauge",
                   "Tokens waiting for the opening lottery of a SCHEDULED queue.");
    metrics_sample(w, "concert_queue_prequeued", NULL, NULL, s.prequeued);
    metrics_family(w, "concert_queue_admitted_per_minute", "gauge",
                   "Recent admission rate, buyers per minute (0: unknown).");
    metrics_sample_double(w, "concert_queue_admitted_per_minute", NULL, NULL,
                          (double)s.admit_rate_mps * 60.0 / 1000.0);
    metrics_family(w, "concert_queue_state", "gauge",
                   "1 for the queue's current state, 0 for the others.");
    static const int states[] = { CONCERT_QUEUE_OPEN, CONCERT_QUEUE_PAUSED, CONCERT_QUEUE_CLOSED,
                                  CONCERT_QUEUE_SCHEDULED };
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++)
        metrics_sample(w, "concert_queue_state", "state", concert_queue_state_name(states[i]),
                       s.state == states[i]);
    metrics_family(w, "concert_queue_admitted_total", "counter",
                   "Highest ticket admitted (or skipped) so far.");
    metrics_sample(w, "concert_queue_admitted_total", NULL, NULL, s.admitted_through);
}

static void collect_storage(metrics_writer *w, void *ctx)
{
    concert_db_stats s;
    memset(&s, 0, sizeof s);
    s.version = CONCERT_DB_STATS_VERSION;
    if (concert_db_stats_get(&s, ctx) < 0)
        return;
    static const char *const names[] = { "concert_storage_calls_total",
                                         "concert_storage_errors_total",
                                         "concert_storage_retries_total",
                                         "concert_storage_reconnects_total" };
    static const char *const helps[] = {
        "Steps the library asked the store for (this process).",
        "Of them, failed because of the store (unavailable, busy, schema, internal).",
        "Steps the storage backend retried itself.", "Store connections the backend replaced."
    };
    const uint64_t values[] = { s.storage_calls, s.storage_errors, s.storage_retries,
                                s.storage_reconnects };
    for (size_t i = 0; i < 4; i++) {
        metrics_family(w, names[i], "counter", helps[i]);
        metrics_sample(w, names[i], NULL, NULL, (int64_t)values[i]);
    }
}

/* Fields 14 (utime), 15 (stime) and 22 (starttime) of /proc/self/stat, in
 * clock ticks. The command name (field 2) may hold spaces: parse after its
 * closing parenthesis. */
static int read_proc_stat(unsigned long long *utime, unsigned long long *stime,
                          unsigned long long *start)
{
    char text[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    if (f == NULL)
        return -1;
    const size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    const char *p = strrchr(text, ')');
    if (p == NULL)
        return -1;
    p++;
    /* Field 3 is the first after ")"; skip to field 14. */
    unsigned long long field = 0;
    for (int i = 3; i <= 22; i++) {
        char *end = NULL;
        while (*p == ' ')
            p++;
        if (i == 3) { /* the state letter */
            p++;
            continue;
        }
        field = strtoull(p, &end, 10);
        if (end == p)
            return -1;
        p = end;
        if (i == 14)
            *utime = field;
        else if (i == 15)
            *stime = field;
        else if (i == 22)
            *start = field;
    }
    return 0;
}

/* The boot time (btime of /proc/stat), seconds since the epoch. */
static long long boot_time(void)
{
    char line[256];
    long long btime = -1;
    FILE *f = fopen("/proc/stat", "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "btime ", 6) == 0) {
            btime = strtoll(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return btime;
}

static long long open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return -1;
    long long n = 0;
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
        if (e->d_name[0] != '.')
            n++;
    }
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

static void collect_process(metrics_writer *w, void *ctx)
{
    (void)ctx;
    const long ticks = sysconf(_SC_CLK_TCK);
    const long page = sysconf(_SC_PAGESIZE);
    unsigned long long utime = 0, stime = 0, start = 0;
    if (ticks > 0 && read_proc_stat(&utime, &stime, &start) == 0) {
        metrics_family(w, "process_cpu_seconds_total", "counter",
                       "User and system CPU time spent, seconds.");
        metrics_sample_double(w, "process_cpu_seconds_total", NULL, NULL,
                              (double)(utime + stime) / (double)ticks);
        const long long btime = boot_time();
        if (btime >= 0) {
            metrics_family(w, "process_start_time_seconds", "gauge",
                           "Start time of the process since the epoch, seconds.");
            metrics_sample_double(w, "process_start_time_seconds", NULL, NULL,
                                  (double)btime + (double)start / (double)ticks);
        }
    }
    FILE *f = fopen("/proc/self/statm", "r");
    if (f != NULL) {
        unsigned long long size = 0, resident = 0;
        if (fscanf(f, "%llu %llu", &size, &resident) == 2 && page > 0) {
            metrics_family(w, "process_resident_memory_bytes", "gauge",
                           "Resident memory size, bytes.");
            metrics_sample(w, "process_resident_memory_bytes", NULL, NULL,
                           (int64_t)(resident * (unsigned long long)page));
        }
        fclose(f);
    }
    const long long fds = open_fds();
    if (fds >= 0) {
        metrics_family(w, "process_open_fds", "gauge", "Open file descriptors.");
        metrics_sample(w, "process_open_fds", NULL, NULL, fds);
    }
}

int metrics_std_register(metrics *m, concert_db *db)
{
    if (metrics_add_collector(m, collect_queue, db) != 0 ||
        metrics_add_collector(m, collect_storage, db) != 0 ||
        metrics_add_collector(m, collect_process, NULL) != 0)
        return -1;
    return 0;
}
