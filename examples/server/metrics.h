/*
 * concertd's metrics: a registry that request threads update with relaxed
 * atomic adds only (no lock, no allocation on the request path), and a
 * renderer of the Prometheus text exposition format 0.0.4 for GET /metrics.
 *
 * Request series are fixed arrays sized from the route table: per route
 * (plus "unmatched") x method x status code, and one latency histogram per
 * route. Gauges that are read at scrape time (queue, storage, process, SSE
 * clients) come from collectors: callbacks that other modules register
 * once at start and that write their families through a metrics_writer.
 */
#ifndef CONCERTD_METRICS_H
#define CONCERTD_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct metrics metrics;
typedef struct metrics_writer metrics_writer;

/* The business counters the handlers add to (on success only). */
typedef enum metrics_counter {
    METRIC_HOLDS_MADE = 0,
    METRIC_HOLDS_RELEASED,
    METRIC_HOLDS_EXPIRED,
    METRIC_PAYMENTS,
    METRIC_POINTS_PAID,
    METRIC_POINTS_CHARGED,
    METRIC_COUNTER_COUNT
} metrics_counter;

/* The latency histogram's upper bounds, in seconds (the +Inf bucket is
 * implicit). */
#define METRICS_BUCKET_COUNT 12

/*
 * A registry for route_count routes (route ids 0..route_count-1; anything
 * else is "unmatched"), route_names[i] being route i's pattern (kept, not
 * copied). NULL when out of memory.
 */
metrics *metrics_new(const char *const *route_names, size_t route_count);

/* Free the registry (NULL is a no-op). Collectors must be done by then. */
void metrics_free(metrics *m);

/*
 * Record one finished request: route_id (-1: unmatched), method, status,
 * duration in microseconds, body bytes sent. Lock-free; m NULL is a no-op.
 */
void metrics_observe_request(metrics *m, int route_id, const char *method, int status,
                             uint64_t duration_us, uint64_t bytes);

/* Add n to a business counter. Lock-free; m NULL is a no-op. */
void metrics_add(metrics *m, metrics_counter which, uint64_t n);

/*
 * Replays of an Idempotency-Key answer with the first result; the handlers
 * count an effect only the first time its id (a payment id, a ledger entry
 * id) is seen. Returns 1 the first time of the last METRICS_RECENT_IDS ids
 * of that kind, else 0 (m NULL: 0). Takes a mutex: only keyed payments and
 * charges, which wrote to the store just before, call it.
 */
typedef enum metrics_id_kind {
    METRICS_ID_PAYMENT = 0,
    METRICS_ID_CHARGE,
    METRICS_ID_KINDS
} metrics_id_kind;
#define METRICS_RECENT_IDS 4096
int metrics_first_sight(metrics *m, metrics_id_kind kind, int64_t id);

/* A collector writes families at scrape time; it runs on the scraping
 * thread and must be safe to call from any thread. */
typedef void (*metrics_collector_fn)(metrics_writer *w, void *ctx);

/*
 * Register fn(ctx) to run at every scrape, after the built-in families.
 * Call it at start, before the server serves /metrics (the list is not
 * locked). Returns 0, or -1 when out of memory.
 */
int metrics_add_collector(metrics *m, metrics_collector_fn fn, void *ctx);

/*
 * Render the whole exposition (built-in families, then collectors) into a
 * malloc()ed text: 0 with *out and *len (free() it), or -1 out of memory.
 */
int metrics_render(metrics *m, char **out, size_t *len);

/* ---- for collectors ---- */

/* Start a family: "# HELP name help" and "# TYPE name type" (type is
 * "counter", "gauge" or "histogram"). help is escaped as the format asks. */
void metrics_family(metrics_writer *w, const char *name, const char *type, const char *help);

/*
 * One sample line of the family just started. label_name/label_value may be
 * NULL for none (one label at most here; the value is escaped). Integers are
 * written exactly; metrics_sample_double() writes a float.
 */
void metrics_sample(metrics_writer *w, const char *name, const char *label_name,
                    const char *label_value, int64_t value);
void metrics_sample_double(metrics_writer *w, const char *name, const char *label_name,
                           const char *label_value, double value);

#endif
