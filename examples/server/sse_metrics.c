/*
 * The hub's counts as Prometheus families (see sse_metrics.h).
 */
#include "sse_metrics.h"

#include <stdint.h>

static void collect_sse(metrics_writer *w, void *ctx)
{
    sse_hub_counts c;
    sse_hub_stats(ctx, &c);
    metrics_family(w, "concert_sse_clients", "gauge",
                   "Live-update (Server-Sent Events) streams open now, by stream.");
    metrics_sample(w, "concert_sse_clients", "stream", "queue", (int64_t)c.queue_clients);
    metrics_sample(w, "concert_sse_clients", "stream", "seats", (int64_t)c.seat_clients);
    metrics_family(w, "concert_sse_events_total", "counter",
                   "Events queued to live-update subscribers (keepalives not counted).");
    metrics_sample(w, "concert_sse_events_total", NULL, NULL, (int64_t)c.events_sent);
}

int sse_metrics_register(metrics *m, const sse_hub *hub)
{
    /* The collector only reads the hub: the cast drops const for the
     * registry's void * context, nothing writes through it. */
    return metrics_add_collector(m, collect_sse, (void *)hub);
}
