/*
 * The deterministic simulation (tests/sim/): seeded random operations from
 * many simulated buyers through the public API, on a store behind the fault
 * wrapper, checked after every step against a small reference model.
 */
#ifndef CONCERT_SIM_H
#define CONCERT_SIM_H

#include <stdint.h>

typedef struct sim_result {
    long ops;            /* operations run */
    long faults;         /* storage faults injected */
    long clock_back;     /* backward clock jumps */
    long payments;       /* payments applied */
    long holds;          /* holds granted */
    long admitted;       /* times a buyer saw its token ACTIVE */
    long replays;        /* keyed retries that replayed */
    char violation[512]; /* empty when every invariant held */
} sim_result;

/* splitmix64: one sequence per seed, the same on every platform. */
uint64_t sim_random(uint64_t *state);

/*
 * Run one seed for ops operations on the store uri names (fresh and empty).
 * Returns 0 when it ran (res->violation says whether an invariant broke),
 * else a concert_error_code for a setup failure (message on stderr).
 */
int sim_run(const char *uri, uint64_t seed, long ops, double deadline, sim_result *res);

/* Seconds on a monotonic clock (for --time-limit and ops/s only). */
double sim_seconds(void);

#endif
