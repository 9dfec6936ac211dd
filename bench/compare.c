/*
 * The comparison against a previous results file (--compare FILE, or the
 * file --json-out is about to replace): per row, previous against now and
 * their ratio, flagging what got worse by more than the noise.
 *
 * The previous file is concert-bench's own JSON (report.c), so the reader
 * knows its shape: an object whose "rows" is an array of flat objects of
 * strings, numbers and nulls. Anything else is refused with a message, and
 * the run's own results are printed all the same.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

/* Worse by more than this fraction is flagged: the spread of medians
 * between runs on a quiet machine is within about 10 %. */
#define COMPARE_NOISE 0.15
#define COMPARE_MAX_FILE (64L * 1024 * 1024)

typedef struct prev_row {
    char scenario[48], store[16], size[48], value_name[32];
    int threads;
    double ops_per_s, cpu_us, p50_us, value; /* NAN: absent or null */
} prev_row;

typedef struct reader {
    const char *p, *end;
} reader;

static void skip_space(reader *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t'))
        r->p++;
}

static int expect(reader *r, char c)
{
    skip_space(r);
    if (r->p >= r->end || *r->p != c)
        return -1;
    r->p++;
    return 0;
}

/* A string into buf (truncated to fit; escapes kept simple: \" \\ \uXXXX
 * as '?'). */
static int read_string(reader *r, char *buf, size_t size)
{
    size_t o = 0;
    if (expect(r, '"') != 0)
        return -1;
    while (r->p < r->end && *r->p != '"') {
        char c = *r->p++;
        if (c == '\\') {
            if (r->p >= r->end)
                return -1;
            c = *r->p++;
            if (c == 'u') {
                if (r->end - r->p < 4)
                    return -1;
                r->p += 4;
                c = '?';
            } else if (c == 'n' || c == 't' || c == 'r') {
                c = ' ';
            }
        }
        if (o + 1 < size)
            buf[o++] = c;
    }
    if (size)
        buf[o] = '\0';
    return expect(r, '"');
}

/* A number, null, true or false (as 1/0); NAN for null. */
static int read_scalar(reader *r, double *out)
{
    char text[64];
    size_t n = 0;
    skip_space(r);
    while (r->p < r->end && n + 1 < sizeof(text) && strchr("0123456789+-.eEnultrfas", *r->p))
        text[n++] = *r->p++;
    text[n] = '\0';
    if (strcmp(text, "null") == 0) {
        *out = NAN;
        return 0;
    }
    if (strcmp(text, "true") == 0 || strcmp(text, "false") == 0) {
        *out = text[0] == 't';
        return 0;
    }
    char *end = NULL;
    *out = strtod(text, &end);
    return n > 0 && end && *end == '\0' ? 0 : -1;
}

/* Skip any value (the machine object, say). */
static int skip_value(reader *r)
{
    double ignored;
    char ignored_text[8];
    skip_space(r);
    if (r->p >= r->end)
        return -1;
    if (*r->p == '"')
        return read_string(r, ignored_text, sizeof(ignored_text));
    if (*r->p == '{' || *r->p == '[') {
        const char close = *r->p == '{' ? '}' : ']';
        r->p++;
        skip_space(r);
        if (r->p < r->end && *r->p == close) {
            r->p++;
            return 0;
        }
        for (;;) {
            if (close == '}') {
                if (read_string(r, ignored_text, sizeof(ignored_text)) != 0 || expect(r, ':') != 0)
                    return -1;
            }
            if (skip_value(r) != 0)
                return -1;
            skip_space(r);
            if (r->p < r->end && *r->p == ',') {
                r->p++;
                continue;
            }
            return expect(r, close);
        }
    }
    return read_scalar(r, &ignored);
}

static int read_row(reader *r, prev_row *row)
{
    char key[32];
    memset(row, 0, sizeof(*row));
    row->ops_per_s = row->cpu_us = row->p50_us = row->value = NAN;
    if (expect(r, '{') != 0)
        return -1;
    skip_space(r);
    if (r->p < r->end && *r->p == '}') {
        r->p++;
        return 0;
    }
    for (;;) {
        double v;
        if (read_string(r, key, sizeof(key)) != 0 || expect(r, ':') != 0)
            return -1;
        if (strcmp(key, "scenario") == 0) {
            if (read_string(r, row->scenario, sizeof(row->scenario)) != 0)
                return -1;
        } else if (strcmp(key, "store") == 0) {
            if (read_string(r, row->store, sizeof(row->store)) != 0)
                return -1;
        } else if (strcmp(key, "size") == 0) {
            if (read_string(r, row->size, sizeof(row->size)) != 0)
                return -1;
        } else if (strcmp(key, "value_name") == 0) {
            if (read_string(r, row->value_name, sizeof(row->value_name)) != 0)
                return -1;
        } else if (strcmp(key, "threads") == 0 || strcmp(key, "ops_per_s") == 0 ||
                   strcmp(key, "cpu_us_per_op") == 0 || strcmp(key, "p50_us") == 0 ||
                   strcmp(key, "value") == 0) {
            if (read_scalar(r, &v) != 0)
                return -1;
            if (key[0] == 't')
                row->threads = isnan(v) ? 0 : (int)v;
            else if (key[0] == 'o')
                row->ops_per_s = v;
            else if (key[0] == 'c')
                row->cpu_us = v;
            else if (key[0] == 'p')
                row->p50_us = v;
            else
                row->value = v;
        } else if (skip_value(r) != 0) {
            return -1;
        }
        skip_space(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue;
        }
        return expect(r, '}');
    }
}

/* The rows of a results file; *count of them in *out (free it). */
static int read_results(const char *path, prev_row **out, size_t *count)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL, key[32];
    size_t cap = 0, n = 0;
    long size;
    reader r;
    int rc = -1;

    *out = NULL;
    *count = 0;
    if (!f)
        return -1;
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || size > COMPARE_MAX_FILE ||
        fseek(f, 0, SEEK_SET) != 0 || !(text = malloc((size_t)size + 1)) ||
        fread(text, 1, (size_t)size, f) != (size_t)size) {
        fclose(f);
        free(text);
        return -1;
    }
    fclose(f);
    r.p = text;
    r.end = text + size;
    if (expect(&r, '{') != 0)
        goto out;
    for (;;) {
        if (read_string(&r, key, sizeof(key)) != 0 || expect(&r, ':') != 0)
            goto out;
        if (strcmp(key, "rows") != 0) {
            if (skip_value(&r) != 0)
                goto out;
        } else {
            if (expect(&r, '[') != 0)
                goto out;
            skip_space(&r);
            if (r.p < r.end && *r.p == ']') {
                r.p++;
            } else {
                for (;;) {
                    if (n == cap) {
                        const size_t next = cap ? cap * 2 : 64;
                        prev_row *grown = realloc(*out, next * sizeof(*grown));
                        if (!grown)
                            goto out;
                        *out = grown;
                        cap = next;
                    }
                    if (read_row(&r, &(*out)[n]) != 0)
                        goto out;
                    n++;
                    skip_space(&r);
                    if (r.p < r.end && *r.p == ',') {
                        r.p++;
                        continue;
                    }
                    if (expect(&r, ']') != 0)
                        goto out;
                    break;
                }
            }
        }
        skip_space(&r);
        if (r.p < r.end && *r.p == ',') {
            r.p++;
            continue;
        }
        if (expect(&r, '}') != 0)
            goto out;
        break;
    }
    *count = n;
    rc = 0;
out:
    free(text);
    if (rc != 0) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

static const prev_row *prev_find(const prev_row *rows, size_t n, const bench_row *now)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(rows[i].scenario, now->scenario) == 0 &&
            strcmp(rows[i].store, now->store) == 0 && rows[i].threads == now->threads &&
            strcmp(rows[i].size, now->size) == 0)
            return &rows[i];
    }
    return NULL;
}

static int usable(double v)
{
    return !isnan(v) && !isinf(v) && v > 0;
}

/*
 * One figure: "prev -> now (ratio)" into buf, and whether it is worse by
 * more than the noise. higher_better: throughput; else a cost.
 */
static int figure(char *buf, size_t size, double prev, double now, int higher_better)
{
    if (!usable(prev) || !usable(now)) {
        snprintf(buf, size, "-");
        return 0;
    }
    const double ratio = now / prev;
    const int worse =
        higher_better ? ratio < 1.0 / (1.0 + COMPARE_NOISE) : ratio > 1.0 + COMPARE_NOISE;
    if (prev >= 1000 || now >= 1000)
        snprintf(buf, size, "%.0f -> %.0f (%.2fx)", prev, now, ratio);
    else
        snprintf(buf, size, "%.3g -> %.3g (%.2fx)", prev, now, ratio);
    return worse;
}

int bench_report_compare(FILE *out, const char *path)
{
    prev_row *prev = NULL;
    const bench_row *rows = NULL;
    size_t prev_count = 0, matched = 0, worse_rows = 0;
    const size_t count = bench_report_rows(&rows);

    if (read_results(path, &prev, &prev_count) != 0) {
        bench_log("compare: %s is not a concert-bench results file (or cannot be read)", path);
        return -1;
    }
    fprintf(out,
            "\nAgainst the previous results (%s): previous -> now (now/previous); "
            "WORSE: by more than %.0f %% (ops/s down, CPU or value up)\n\n",
            path, COMPARE_NOISE * 100);
    fprintf(out, "%-22s %-10s %3s %-24s %-30s %-26s %-26s %s\n", "scenario", "store", "thr", "size",
            "ops/s", "cpu us/op", "value", "");
    for (size_t i = 0; i < count; i++) {
        const bench_row *r = &rows[i];
        const prev_row *p = prev_find(prev, prev_count, r);
        char ops[48], cpu[48], value[48];
        if (!p) {
            fprintf(out, "%-22s %-10s %3d %-24s (new row)\n", r->scenario, r->store, r->threads,
                    r->size);
            continue;
        }
        matched++;
        /* Every value the bench derives is a cost (bytes, ratios of cost,
         * ns per seat): lower is better. */
        const int w = figure(ops, sizeof(ops), p->ops_per_s, r->median.ops_per_s, 1) |
                      figure(cpu, sizeof(cpu), p->cpu_us, r->median.cpu_us, 0) |
                      figure(value, sizeof(value), p->value, r->value, 0);
        worse_rows += w != 0;
        fprintf(out, "%-22s %-10s %3d %-24s %-30s %-26s %-26s %s\n", r->scenario, r->store,
                r->threads, r->size, ops, cpu, value, w ? "WORSE" : "");
    }
    fprintf(out,
            "\n%zu rows compared, %zu worse by more than %.0f %%; %zu previous rows not "
            "run now\n",
            matched, worse_rows, COMPARE_NOISE * 100, prev_count - matched);
    free(prev);
    return 0;
}
