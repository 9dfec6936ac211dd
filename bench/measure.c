/*
 * Clocks, latency percentiles, medians over repetitions and process memory.
 */
#define _GNU_SOURCE /* malloc_trim, mallinfo2 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

int64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t bench_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int bench_samples_init(bench_samples *s, size_t n)
{
    s->count = 0;
    s->capacity = n ? n : 1;
    s->ns = malloc(s->capacity * sizeof(*s->ns));
    if (!s->ns) {
        s->capacity = 0;
        return -1;
    }
    return 0;
}

void bench_samples_add(bench_samples *s, int64_t ns)
{
    if (s->count < s->capacity)
        s->ns[s->count++] = ns;
}

int bench_samples_merge(bench_samples *dst, const bench_samples *src)
{
    if (dst->count + src->count > dst->capacity) {
        size_t cap = dst->count + src->count;
        int64_t *grown = realloc(dst->ns, cap * sizeof(*grown));
        if (!grown)
            return -1;
        dst->ns = grown;
        dst->capacity = cap;
    }
    if (src->count)
        memcpy(dst->ns + dst->count, src->ns, src->count * sizeof(*src->ns));
    dst->count += src->count;
    return 0;
}

void bench_samples_free(bench_samples *s)
{
    free(s->ns);
    s->ns = NULL;
    s->count = s->capacity = 0;
}

static int cmp_i64(const void *a, const void *b)
{
    const int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

double bench_samples_percentile_us(bench_samples *s, double p)
{
    if (s->count == 0)
        return 0.0;
    qsort(s->ns, s->count, sizeof(*s->ns), cmp_i64);
    /* Nearest rank: the smallest sample with at least p% at or below it. */
    size_t rank = (size_t)(p / 100.0 * (double)s->count + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > s->count)
        rank = s->count;
    return (double)s->ns[rank - 1] / 1000.0;
}

void bench_rep_from(bench_rep *rep, int64_t ops, int64_t elapsed_ns, int64_t cpu_ns,
                    bench_samples *s)
{
    memset(rep, 0, sizeof(*rep));
    if (ops > 0 && elapsed_ns > 0) {
        rep->ops_per_s = (double)ops * 1e9 / (double)elapsed_ns;
        rep->mean_us = (double)elapsed_ns / 1000.0 / (double)ops;
    }
    if (ops > 0 && cpu_ns > 0)
        rep->cpu_us = (double)cpu_ns / 1000.0 / (double)ops;
    if (s) {
        rep->p50_us = bench_samples_percentile_us(s, 50.0);
        rep->p99_us = bench_samples_percentile_us(s, 99.0);
    }
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median_of(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

void bench_rep_median(bench_rep *out, const bench_rep *reps, int n)
{
    double v[64];
    memset(out, 0, sizeof(*out));
    if (n <= 0)
        return;
    if (n > 64)
        n = 64;
#define MEDIAN_FIELD(f)                                                                            \
    do {                                                                                           \
        for (int i = 0; i < n; i++)                                                                \
            v[i] = reps[i].f;                                                                      \
        out->f = median_of(v, n);                                                                  \
    } while (0)
    MEDIAN_FIELD(ops_per_s);
    MEDIAN_FIELD(p50_us);
    MEDIAN_FIELD(p99_us);
    MEDIAN_FIELD(mean_us);
    MEDIAN_FIELD(cpu_us);
#undef MEDIAN_FIELD
}

/* A "Key:   123 kB" line of /proc/self/status, in KiB. */
static int64_t status_kib(const char *key)
{
    char line[256];
    const size_t keylen = strlen(key);
    int64_t kib = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, key, keylen) == 0 && line[keylen] == ':') {
            char *end = NULL;
            errno = 0;
            const long long v = strtoll(line + keylen + 1, &end, 10);
            if (errno == 0 && end != line + keylen + 1)
                kib = (int64_t)v;
            break;
        }
    }
    fclose(f);
    return kib;
}

int64_t bench_rss_kib(void)
{
    return status_kib("VmRSS");
}

int64_t bench_vmdata_kib(void)
{
    return status_kib("VmData");
}

int64_t bench_peak_rss_kib(void)
{
    return status_kib("VmHWM");
}

int bench_peak_rss_reset(void)
{
    int fd = open("/proc/self/clear_refs", O_WRONLY);
    if (fd < 0)
        return -1;
    const ssize_t n = write(fd, "5", 1);
    close(fd);
    return n == 1 ? 0 : -1;
}

void bench_heap_trim(void)
{
    malloc_trim(0);
}

int64_t bench_heap_in_use_bytes(void)
{
    struct mallinfo2 mi = mallinfo2();
    return (int64_t)(mi.uordblks + mi.hblkhd);
}

uint64_t bench_rand(uint64_t *state)
{
    /* xorshift64*: fast, and fine for spreading seat numbers. */
    uint64_t x = *state ? *state : 0x9E3779B97F4A7C15u;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Du;
}
