/*
 * Samples and their order statistics, and the monotonic clock.
 */
#ifndef SSE_BENCH_STATS_H
#define SSE_BENCH_STATS_H

#include <stddef.h>

typedef struct samples {
    double *v;
    size_t n, cap;
} samples;

/* Append x: 0 or -1 (out of memory). */
int samples_add(samples *s, double x);
/* The q-quantile (0..1, nearest rank) of the samples; sorts them. -1 when empty. */
double samples_quantile(samples *s, double q);
double samples_max(const samples *s);
/* The median (mean of the middle two for an even count). -1 when empty. */
double samples_median(const samples *s);
void samples_free(samples *s);

/* Seconds on the monotonic clock. */
double now_s(void);

#endif
