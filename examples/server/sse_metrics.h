/*
 * The live-update hub's figures in /metrics: concert_sse_clients{stream}
 * and concert_sse_events_total (sse_hub_stats(), read at scrape time).
 */
#ifndef CONCERTD_SSE_METRICS_H
#define CONCERTD_SSE_METRICS_H

#include "metrics.h"
#include "sse_hub.h"

/* Register the collector on m for hub (kept: it must outlive m; NULL
 * reports zeros). Returns 0, or -1 when out of memory. */
int sse_metrics_register(metrics *m, const sse_hub *hub);

#endif
