/*
 * The metrics registry and the exposition renderer (see metrics.h).
 *
 * Every counter is a _Atomic uint64_t updated with relaxed adds: a scrape
 * needs each number to be one that really was, not a snapshot of all of
 * them at one instant. The histogram keeps per-bucket counts (not
 * cumulative ones) and renders _count as the sum of the buckets it read, so
 * that +Inf always equals _count even while requests are being recorded.
 */
#include "metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Upper bounds in microseconds, and as the le label writes them. */
static const uint64_t bucket_us[METRICS_BUCKET_COUNT] = { 500,    1000,   2500,    5000,
                                                          10000,  25000,  50000,   100000,
                                                          250000, 500000, 1000000, 2500000 };
static const char *const bucket_le[METRICS_BUCKET_COUNT] = { "0.0005", "0.001", "0.0025", "0.005",
                                                             "0.01",   "0.025", "0.05",   "0.1",
                                                             "0.25",   "0.5",   "1",      "2.5" };

/* Methods get a label of their own; anything else is "other", so that a
 * client cannot grow the series with invented methods. */
static const char *const method_names[] = { "GET",    "HEAD",  "POST",    "PUT",
                                            "DELETE", "PATCH", "OPTIONS", "other" };
#define METHOD_COUNT (sizeof method_names / sizeof method_names[0])
#define CODE_MIN 100
#define CODE_COUNT 500 /* 100..599 */

typedef struct route_histogram {
    _Atomic uint64_t buckets[METRICS_BUCKET_COUNT + 1]; /* last: above every bound */
    _Atomic uint64_t sum_us;
    _Atomic uint64_t bytes;
} route_histogram;

typedef struct collector {
    metrics_collector_fn fn;
    void *ctx;
} collector;

struct metrics {
    const char *const *route_names;
    size_t routes;               /* route_count + 1: the last is "unmatched" */
    _Atomic uint64_t *requests;  /* [routes][METHOD_COUNT][CODE_COUNT] */
    route_histogram *histograms; /* [routes] */
    _Atomic uint64_t counters[METRIC_COUNTER_COUNT];
    collector *collectors;
    size_t collector_count;
    /* Ids of effects counted lately (metrics_first_sight()), a ring each. */
    pthread_mutex_t recent_lock;
    int64_t recent[METRICS_ID_KINDS][METRICS_RECENT_IDS];
    size_t recent_next[METRICS_ID_KINDS];
};

struct metrics_writer {
    char *text;
    size_t len;
    size_t cap;
    int failed;
};

metrics *metrics_new(const char *const *route_names, size_t route_count)
{
    metrics *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    pthread_mutex_init(&m->recent_lock, NULL);
    m->route_names = route_names;
    m->routes = route_count + 1;
    /* calloc()ed zeros are valid initial values for these atomics. */
    m->requests = calloc(m->routes * METHOD_COUNT * CODE_COUNT, sizeof m->requests[0]);
    m->histograms = calloc(m->routes, sizeof m->histograms[0]);
    if (m->requests == NULL || m->histograms == NULL) {
        metrics_free(m);
        return NULL;
    }
    return m;
}

void metrics_free(metrics *m)
{
    if (m == NULL)
        return;
    free(m->requests);
    free(m->histograms);
    free(m->collectors);
    pthread_mutex_destroy(&m->recent_lock);
    free(m);
}

static size_t method_index(const char *method)
{
    for (size_t i = 0; i + 1 < METHOD_COUNT; i++) {
        if (strcmp(method, method_names[i]) == 0)
            return i;
    }
    return METHOD_COUNT - 1;
}

void metrics_observe_request(metrics *m, int route_id, const char *method, int status,
                             uint64_t duration_us, uint64_t bytes)
{
    if (m == NULL)
        return;
    const size_t route =
        route_id >= 0 && (size_t)route_id < m->routes - 1 ? (size_t)route_id : m->routes - 1;
    if (status < CODE_MIN || status >= CODE_MIN + CODE_COUNT)
        status = 500; /* never sent by concertd; keep the array in bounds */
    const size_t slot =
        (route * METHOD_COUNT + method_index(method)) * CODE_COUNT + (size_t)(status - CODE_MIN);
    atomic_fetch_add_explicit(&m->requests[slot], 1, memory_order_relaxed);
    route_histogram *h = &m->histograms[route];
    size_t b = 0;
    while (b < METRICS_BUCKET_COUNT && duration_us > bucket_us[b])
        b++;
    atomic_fetch_add_explicit(&h->buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, duration_us, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->bytes, bytes, memory_order_relaxed);
}

void metrics_add(metrics *m, metrics_counter which, uint64_t n)
{
    if (m == NULL || (unsigned)which >= METRIC_COUNTER_COUNT)
        return;
    atomic_fetch_add_explicit(&m->counters[which], n, memory_order_relaxed);
}

int metrics_first_sight(metrics *m, metrics_id_kind kind, int64_t id)
{
    if (m == NULL || (unsigned)kind >= METRICS_ID_KINDS)
        return 0;
    int first = 1;
    pthread_mutex_lock(&m->recent_lock);
    int64_t *ring = m->recent[kind];
    for (size_t i = 0; i < METRICS_RECENT_IDS && first; i++)
        first = ring[i] != id;
    if (first) {
        ring[m->recent_next[kind]] = id;
        m->recent_next[kind] = (m->recent_next[kind] + 1) % METRICS_RECENT_IDS;
    }
    pthread_mutex_unlock(&m->recent_lock);
    return first;
}

int metrics_add_collector(metrics *m, metrics_collector_fn fn, void *ctx)
{
    collector *grown = realloc(m->collectors, (m->collector_count + 1) * sizeof *grown);
    if (grown == NULL)
        return -1;
    grown[m->collector_count].fn = fn;
    grown[m->collector_count].ctx = ctx;
    m->collectors = grown;
    m->collector_count++;
    return 0;
}

/* ---- the writer ---- */

static void put(metrics_writer *w, const char *bytes, size_t n)
{
    if (w->failed)
        return;
    if (w->len + n + 1 > w->cap) {
        size_t cap = w->cap ? w->cap : 16384;
        while (cap < w->len + n + 1)
            cap *= 2;
        char *grown = realloc(w->text, cap);
        if (grown == NULL) {
            w->failed = 1;
            return;
        }
        w->text = grown;
        w->cap = cap;
    }
    memcpy(w->text + w->len, bytes, n);
    w->len += n;
    w->text[w->len] = '\0';
}

static void put_str(metrics_writer *w, const char *text)
{
    put(w, text, strlen(text));
}

/* Escape as the format asks: backslash and newline always, the double
 * quote inside label values. */
static void put_escaped(metrics_writer *w, const char *text, int in_label)
{
    for (const char *p = text; *p != '\0'; p++) {
        if (*p == '\\')
            put(w, "\\\\", 2);
        else if (*p == '\n')
            put(w, "\\n", 2);
        else if (*p == '"' && in_label)
            put(w, "\\\"", 2);
        else
            put(w, p, 1);
    }
}

static void put_u64(metrics_writer *w, uint64_t value)
{
    char digits[24];
    const int n = snprintf(digits, sizeof digits, "%llu", (unsigned long long)value);
    put(w, digits, (size_t)n);
}

static void put_label(metrics_writer *w, int first, const char *name, const char *value)
{
    put_str(w, first ? "{" : ",");
    put_str(w, name);
    put(w, "=\"", 2);
    put_escaped(w, value, 1);
    put(w, "\"", 1);
}

void metrics_family(metrics_writer *w, const char *name, const char *type, const char *help)
{
    put_str(w, "# HELP ");
    put_str(w, name);
    put(w, " ", 1);
    put_escaped(w, help, 0);
    put_str(w, "\n# TYPE ");
    put_str(w, name);
    put(w, " ", 1);
    put_str(w, type);
    put(w, "\n", 1);
}

static void sample_begin(metrics_writer *w, const char *name, const char *label_name,
                         const char *label_value)
{
    put_str(w, name);
    if (label_name != NULL && label_value != NULL) {
        put_label(w, 1, label_name, label_value);
        put(w, "}", 1);
    }
    put(w, " ", 1);
}

void metrics_sample(metrics_writer *w, const char *name, const char *label_name,
                    const char *label_value, int64_t value)
{
    sample_begin(w, name, label_name, label_value);
    char digits[24];
    const int n = snprintf(digits, sizeof digits, "%lld\n", (long long)value);
    put(w, digits, (size_t)n);
}

void metrics_sample_double(metrics_writer *w, const char *name, const char *label_name,
                           const char *label_value, double value)
{
    sample_begin(w, name, label_name, label_value);
    char digits[40];
    const int n = snprintf(digits, sizeof digits, "%.17g\n", value);
    put(w, digits, (size_t)n);
}

/* ---- rendering ---- */

static const char *route_name(const metrics *m, size_t route)
{
    return route < m->routes - 1 ? m->route_names[route] : "unmatched";
}

static void render_requests(metrics *m, metrics_writer *w)
{
    metrics_family(w, "concert_http_requests_total", "counter",
                   "HTTP requests answered, by route pattern, method and status code.");
    for (size_t r = 0; r < m->routes; r++) {
        for (size_t meth = 0; meth < METHOD_COUNT; meth++) {
            const _Atomic uint64_t *codes = &m->requests[(r * METHOD_COUNT + meth) * CODE_COUNT];
            for (size_t c = 0; c < CODE_COUNT; c++) {
                const uint64_t n = atomic_load_explicit(&codes[c], memory_order_relaxed);
                if (n == 0)
                    continue; /* a series appears with its first request */
                char code[8];
                snprintf(code, sizeof code, "%zu", c + CODE_MIN);
                put_str(w, "concert_http_requests_total");
                put_label(w, 1, "route", route_name(m, r));
                put_label(w, 0, "method", method_names[meth]);
                put_label(w, 0, "code", code);
                put(w, "} ", 2);
                put_u64(w, n);
                put(w, "\n", 1);
            }
        }
    }
}

/* Seconds from microseconds, exactly: "12.000345". */
static void put_seconds(metrics_writer *w, uint64_t us)
{
    char text[40];
    const int n = snprintf(text, sizeof text, "%llu.%06llu", (unsigned long long)(us / 1000000),
                           (unsigned long long)(us % 1000000));
    put(w, text, (size_t)n);
}

static void render_histograms(metrics *m, metrics_writer *w)
{
    static const char name[] = "concert_http_request_duration_seconds";
    metrics_family(w, name, "histogram",
                   "Time from the request's arrival until its response was sent, by route.");
    for (size_t r = 0; r < m->routes; r++) {
        route_histogram *h = &m->histograms[r];
        uint64_t counts[METRICS_BUCKET_COUNT + 1];
        uint64_t total = 0;
        for (size_t b = 0; b <= METRICS_BUCKET_COUNT; b++) {
            counts[b] = atomic_load_explicit(&h->buckets[b], memory_order_relaxed);
            total += counts[b];
        }
        if (total == 0)
            continue;
        uint64_t cumulative = 0;
        for (size_t b = 0; b <= METRICS_BUCKET_COUNT; b++) {
            cumulative += counts[b];
            put_str(w, name);
            put_str(w, "_bucket");
            put_label(w, 1, "route", route_name(m, r));
            put_label(w, 0, "le", b < METRICS_BUCKET_COUNT ? bucket_le[b] : "+Inf");
            put(w, "} ", 2);
            put_u64(w, cumulative);
            put(w, "\n", 1);
        }
        put_str(w, name);
        put_str(w, "_sum");
        put_label(w, 1, "route", route_name(m, r));
        put(w, "} ", 2);
        put_seconds(w, atomic_load_explicit(&h->sum_us, memory_order_relaxed));
        put(w, "\n", 1);
        put_str(w, name);
        put_str(w, "_count");
        put_label(w, 1, "route", route_name(m, r));
        put(w, "} ", 2);
        put_u64(w, total);
        put(w, "\n", 1);
    }
    metrics_family(w, "concert_http_response_bytes_total", "counter",
                   "Response body bytes sent, by route.");
    for (size_t r = 0; r < m->routes; r++) {
        route_histogram *h = &m->histograms[r];
        uint64_t seen = 0;
        for (size_t b = 0; b <= METRICS_BUCKET_COUNT; b++)
            seen += atomic_load_explicit(&h->buckets[b], memory_order_relaxed);
        if (seen == 0)
            continue;
        put_str(w, "concert_http_response_bytes_total");
        put_label(w, 1, "route", route_name(m, r));
        put(w, "} ", 2);
        put_u64(w, atomic_load_explicit(&h->bytes, memory_order_relaxed));
        put(w, "\n", 1);
    }
}

static void render_counters(metrics *m, metrics_writer *w)
{
    static const struct {
        metrics_counter which;
        const char *name;
        const char *help;
    } table[] = {
        { METRIC_HOLDS_MADE, "concert_holds_made_total", "Seat holds made by this process." },
        { METRIC_HOLDS_RELEASED, "concert_holds_released_total",
          "Live seat holds released through this process." },
        { METRIC_HOLDS_EXPIRED, "concert_holds_expired_total",
          "Seat holds made by this process that ran out unpaid and unreleased." },
        { METRIC_PAYMENTS, "concert_payments_total",
          "Payments made through this process (replays of an Idempotency-Key not counted)." },
        { METRIC_POINTS_PAID, "concert_points_paid_total", "Points debited by those payments." },
        { METRIC_POINTS_CHARGED, "concert_points_charged_total",
          "Points charged through this process (replays not counted)." },
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        metrics_family(w, table[i].name, "counter", table[i].help);
        const uint64_t n = atomic_load_explicit(&m->counters[table[i].which], memory_order_relaxed);
        put_str(w, table[i].name);
        put(w, " ", 1);
        put_u64(w, n);
        put(w, "\n", 1);
    }
}

int metrics_render(metrics *m, char **out, size_t *len)
{
    metrics_writer w = { NULL, 0, 0, 0 };
    render_requests(m, &w);
    render_histograms(m, &w);
    render_counters(m, &w);
    for (size_t i = 0; i < m->collector_count; i++)
        m->collectors[i].fn(&w, m->collectors[i].ctx);
    if (w.failed || w.text == NULL) {
        free(w.text);
        return -1;
    }
    *out = w.text;
    *len = w.len;
    return 0;
}
