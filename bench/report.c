/*
 * The results: a table for people, JSON for scripts. Both carry the machine
 * and say that figures are medians of the repetitions.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

static bench_row *rows;
static size_t row_count, row_cap;

void bench_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("concert-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void bench_errors_note(bench_errors *e, const char *what, int rc)
{
    if (e->count++ == 0)
        snprintf(e->first, sizeof(e->first), "%s: %s (%s)", what, concert_error_name(rc),
                 concert_error_last()->message);
}

void bench_errors_merge(bench_errors *dst, const bench_errors *src)
{
    if (dst->count == 0 && src->count > 0)
        snprintf(dst->first, sizeof(dst->first), "%s", src->first);
    dst->count += src->count;
}

void bench_row_init(bench_row *r, const char *scenario, int store_kind, int threads)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->scenario, sizeof(r->scenario), "%s", scenario);
    snprintf(r->store, sizeof(r->store), "%s", bench_store_name(store_kind));
    r->threads = threads;
    r->value = NAN;
    r->peak_rss_kib = -1;
}

int bench_report_add(const bench_row *r)
{
    if (row_count == row_cap) {
        size_t cap = row_cap ? row_cap * 2 : 32;
        bench_row *grown = realloc(rows, cap * sizeof(*grown));
        if (!grown)
            return -1;
        rows = grown;
        row_cap = cap;
    }
    rows[row_count++] = *r;
    return 0;
}

size_t bench_report_rows(const bench_row **out)
{
    *out = rows;
    return row_count;
}

const bench_row *bench_report_find(const char *scenario, const char *store, const char *size)
{
    for (size_t i = 0; i < row_count; i++) {
        if (strcmp(rows[i].scenario, scenario) == 0 && strcmp(rows[i].store, store) == 0 &&
            (!size || strcmp(rows[i].size, size) == 0))
            return &rows[i];
    }
    return NULL;
}

void bench_report_free(void)
{
    free(rows);
    rows = NULL;
    row_count = row_cap = 0;
}

/* "model name" from /proc/cpuinfo into buf. */
static void cpu_model(char *buf, size_t size)
{
    char line[512];
    FILE *f = fopen("/proc/cpuinfo", "r");
    snprintf(buf, size, "unknown");
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "model name", 10) == 0) {
            const char *colon = strchr(line, ':');
            if (colon) {
                colon++;
                while (*colon == ' ' || *colon == '\t')
                    colon++;
                snprintf(buf, size, "%.*s", (int)strcspn(colon, "\n"), colon);
            }
            break;
        }
    }
    fclose(f);
}

static long long mem_total_mib(void)
{
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? (long long)pages * page / (1024 * 1024) : -1;
}

/* JSON string body: the few characters our texts can contain are escaped. */
static void json_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        const unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static void json_num(FILE *out, double v)
{
    if (isnan(v) || isinf(v))
        fputs("null", out);
    else
        fprintf(out, "%.3f", v);
}

static void print_json(FILE *out, const bench_options *o, const char *cpu, long nproc)
{
    fprintf(out, "{\"machine\":{\"nproc\":%ld,\"cpu\":", nproc);
    json_str(out, cpu);
    fprintf(out, ",\"memory_mib\":%lld},", mem_total_mib());
    fprintf(out, "\"library\":");
    json_str(out, concert_version_string());
    fprintf(out, ",\"repetitions\":%d,\"statistic\":\"median of repetitions\",", o->reps);
    fprintf(out, "\"threads\":%d,\"quick\":%s,\"rows\":[", o->threads, o->quick ? "true" : "false");
    for (size_t i = 0; i < row_count; i++) {
        const bench_row *r = &rows[i];
        fprintf(out, "%s\n{\"scenario\":", i ? "," : "");
        json_str(out, r->scenario);
        fprintf(out, ",\"store\":");
        json_str(out, r->store);
        fprintf(out, ",\"threads\":%d,\"size\":", r->threads);
        json_str(out, r->size);
        fprintf(out, ",\"ops_per_rep\":%lld,\"reps\":%d,\"ops_per_s\":", (long long)r->ops,
                r->reps);
        json_num(out, r->median.ops_per_s);
        fprintf(out, ",\"cpu_us_per_op\":");
        json_num(out, r->median.cpu_us > 0 ? r->median.cpu_us : NAN);
        fprintf(out, ",\"mean_us\":");
        json_num(out, r->median.mean_us);
        fprintf(out, ",\"p50_us\":");
        json_num(out, r->median.p50_us);
        fprintf(out, ",\"p99_us\":");
        json_num(out, r->median.p99_us);
        fprintf(out, ",\"peak_rss_kib\":%lld,\"value\":", (long long)r->peak_rss_kib);
        json_num(out, r->value);
        fprintf(out, ",\"value_name\":");
        json_str(out, r->value_name);
        fprintf(out, ",\"note\":");
        json_str(out, r->note);
        fputc('}', out);
    }
    fprintf(out, "]}\n");
}

/* 1234567.8 -> "1,234,568" */
static void group_thousands(char *buf, size_t size, double v)
{
    char digits[32];
    snprintf(digits, sizeof(digits), "%.0f", v);
    const size_t n = strlen(digits);
    size_t o = 0;
    for (size_t i = 0; i < n && o + 2 < size; i++) {
        if (i > 0 && (n - i) % 3 == 0 && digits[i - 1] != '-')
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
}

static void print_table(FILE *out, const bench_options *o, const char *cpu, long nproc)
{
    fprintf(out,
            "concert-bench %s on %ld x %s, %lld MiB; figures are medians of %d repetitions "
            "(p50/p99: latency of one operation; peak RSS: process high-water during the row)\n\n",
            concert_version_string(), nproc, cpu, mem_total_mib(), o->reps);
    fprintf(out, "%-22s %-10s %3s %-24s %12s %9s %10s %10s %9s  %s\n", "scenario", "store", "thr",
            "size", "ops/s", "cpu us/op", "p50 us", "p99 us", "peak MiB", "derived / note");
    for (size_t i = 0; i < row_count; i++) {
        const bench_row *r = &rows[i];
        char ops[32], peak[32], derived[64], p50[32], p99[32], cpu_op[32];
        snprintf(cpu_op, sizeof(cpu_op), "-");
        if (r->median.cpu_us > 0)
            snprintf(cpu_op, sizeof(cpu_op), "%.2f", r->median.cpu_us);
        snprintf(p50, sizeof(p50), "-");
        snprintf(p99, sizeof(p99), "-");
        if (r->median.p50_us > 0 || r->median.p99_us > 0) {
            snprintf(p50, sizeof(p50), "%.2f", r->median.p50_us);
            snprintf(p99, sizeof(p99), "%.2f", r->median.p99_us);
        }
        if (r->median.ops_per_s > 0)
            group_thousands(ops, sizeof(ops), r->median.ops_per_s);
        else
            snprintf(ops, sizeof(ops), "-");
        if (r->peak_rss_kib >= 0)
            snprintf(peak, sizeof(peak), "%.1f", (double)r->peak_rss_kib / 1024.0);
        else
            snprintf(peak, sizeof(peak), "-");
        derived[0] = '\0';
        if (!isnan(r->value))
            snprintf(derived, sizeof(derived), "%s=%.2f ", r->value_name, r->value);
        fprintf(out, "%-22s %-10s %3d %-24s %12s %9s %10s %10s %9s  %s%s\n", r->scenario, r->store,
                r->threads, r->size, ops, cpu_op, p50, p99, peak, derived, r->note);
    }
}

void bench_report_print(FILE *out, const bench_options *o, int json)
{
    char cpu[256];
    const long nproc = sysconf(_SC_NPROCESSORS_ONLN);
    cpu_model(cpu, sizeof(cpu));
    if (json)
        print_json(out, o, cpu, nproc);
    else
        print_table(out, o, cpu, nproc);
    fflush(out);
}
