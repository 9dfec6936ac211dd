/*
 * One wrk run as a child process while the subscribers keep being read
 * (their server must never find a full socket because the bench stopped
 * reading), and the figures of its WRK_RESULT line (bench/http/common.lua).
 */
#ifndef SSE_BENCH_WRKRUN_H
#define SSE_BENCH_WRKRUN_H

#include "subs.h"

typedef struct wrk_result {
    double rps;
    double p50_us, p99_us;
    long long requests;
    long long errors; /* connect + read + write + timeout + status */
} wrk_result;

/* Run argv (argv[0] is wrk's path) with its output in log_path, pumping
 * pool (may be NULL) until it exits. 0 with *out filled, or -1 (no
 * result line: see the log). */
int wrk_run(char *const argv[], const char *log_path, subs_pool *pool, wrk_result *out);

#endif
