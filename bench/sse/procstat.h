/*
 * What /proc says about the server under test: memory, CPU time and open
 * descriptors of one process (all its threads).
 */
#ifndef SSE_BENCH_PROCSTAT_H
#define SSE_BENCH_PROCSTAT_H

#include <stdint.h>
#include <sys/types.h>

/* VmRSS and VmHWM of pid in KiB: 0, or -1 when the process is gone. */
int procstat_memory(pid_t pid, int64_t *rss_kib, int64_t *hwm_kib);
/* utime + stime of pid in ms, or -1. */
int64_t procstat_cpu_ms(pid_t pid);
/* Time on a CPU of all pid's threads in ns (schedstat: exact, unlike
 * utime+stime's clock ticks), or -1. */
int64_t procstat_cpu_ns(pid_t pid);
/* Open descriptors of pid, or -1. */
int procstat_fds(pid_t pid);
/* Threads of pid, or -1. */
int procstat_threads(pid_t pid);
/* The 1-minute load average, or -1. */
double procstat_load1(void);

#endif
