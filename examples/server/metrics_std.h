/*
 * The collectors concertd registers at start (metrics.h): the queue's
 * gauges (concert_queue_stats_get(), the db's cached view), the storage
 * counters (concert_db_stats_get()) and the process_* gauges from
 * /proc/self. Each runs at scrape time only.
 */
#ifndef CONCERTD_METRICS_STD_H
#define CONCERTD_METRICS_STD_H

#include <concert/concert.h>

#include "metrics.h"

/* Register the three collectors on m for db (kept: it must outlive m).
 * Returns 0, or -1 when out of memory. */
int metrics_std_register(metrics *m, concert_db *db);

#endif
