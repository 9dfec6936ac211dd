/*
 * The simulation's bookkeeping: its random source and clock, the fault
 * log's meaning for the model, and the model's reservations and tokens.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim_model.h"

uint64_t sim_random(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

double sim_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int64_t sim_pick(sim *s, int64_t n)
{
    return (int64_t)(sim_random(&s->rng) % (uint64_t)n);
}

int64_t sim_clock(void *ctx)
{
    return ((sim *)ctx)->now;
}

int sim_bytes(void *ctx, unsigned char *buf, size_t len)
{
    sim *s = ctx;
    for (size_t i = 0; i < len; i++)
        buf[i] = (unsigned char)(sim_random(&s->token_rng) >> 24);
    return 0;
}

/* Record the first violation; returns -1 (see sim_model.h). */
int sim_fail(sim *s, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (s->out->violation[0])
        return -1;
    n = snprintf(s->out->violation, sizeof(s->out->violation), "op %ld, now T0%+lld ms: ", s->op,
                 (long long)(s->now - T0));
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof(s->out->violation))
        vsnprintf(s->out->violation + n, sizeof(s->out->violation) - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- faults ---- */

void sim_faults_apply(sim *s)
{
    if (s->faults_on)
        fault_storage_set_random(s->fs, sim_random(&s->rng), FAULT_PPM, FAULT_PPM);
    else
        fault_storage_off(s->fs);
}


int sim_is_store_trouble(int rc)
{
    return rc == CONCERT_ESTORAGE || rc == CONCERT_EBUSY;
}

/*
 * Classify the call that just returned rc, whose write step is `step`.
 * CLEAN: no fault touched it (rc is the store's own answer). NOT_APPLIED: it
 * failed with no fault after its write step. APPLIED: its write step ran
 * and the caller was told otherwise.
 */
int sim_outcome(sim *s, int rc, const char *step, int *kind)
{
    fault_record log[FAULT_LOG_SIZE];
    size_t n = fault_storage_log(s->fs, log, FAULT_LOG_SIZE);
    s->out->faults += (long)n;
    if (s->trace && s->trace == s->current)
        fprintf(stderr, "op %ld now T0%+lld: %s -> %s (%zu faults%s)\n", s->op,
                (long long)(s->now - T0), step, concert_error_name(rc), n,
                n && log[0].phase == FAULT_AFTER ? ", first after" : "");
    *kind = CLEAN;
    if (n == 0) {
        if (sim_is_store_trouble(rc) || rc == CONCERT_EINTERNAL)
            return sim_fail(s, "%s: %s with no fault injected: %s", step, concert_error_name(rc),
                            concert_error_last()->message);
        return 0;
    }
    if (rc == 0)
        return 0; /* a fault the core absorbed (a cache refresh): the answer stands */
    *kind = NOT_APPLIED;
    for (size_t i = 0; i < n && i < FAULT_LOG_SIZE; i++) {
        if (log[i].phase == FAULT_AFTER && strcmp(log[i].method, step) == 0)
            *kind = APPLIED;
    }
    if (!sim_is_store_trouble(rc) && *kind != CLEAN)
        *kind = NOT_APPLIED; /* a fault in an earlier read step; rc is not about the store */
    return 0;
}

/* ---- the model's reservations (ids grow, so the array stays sorted) ---- */

model_res *sim_res_find(sim *s, int64_t id)
{
    size_t lo = 0, hi = s->nres;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->res[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->nres && s->res[lo].id == id ? &s->res[lo] : NULL;
}

int sim_res_add(sim *s, const concert_reservation *r)
{
    size_t at = s->nres;
    if (s->nres == s->capres) {
        size_t cap = s->capres ? 2 * s->capres : 1024;
        model_res *grown = realloc(s->res, cap * sizeof(*grown));
        if (!grown)
            return sim_fail(s, "out of memory");
        s->res = grown;
        s->capres = cap;
    }
    while (at > 0 && s->res[at - 1].id > r->id)
        at--;
    if (at > 0 && s->res[at - 1].id == r->id)
        return sim_fail(s, "reservation id %lld handed out twice", (long long)r->id);
    memmove(&s->res[at + 1], &s->res[at], (s->nres - at) * sizeof(s->res[0]));
    s->res[at] = (model_res){ r->id,    r->user_id,    r->schedule_id,          r->seat_number,
                              r->price, r->held_until, CONCERT_RESERVATION_HELD };
    s->nres++;
    return 0;
}

void sim_held_add(buyer *b, int64_t id)
{
    for (int i = 0; i < HELD_TRACKED; i++) {
        if (b->held[i] == 0 || b->held[i] == id) {
            b->held[i] = id;
            return;
        }
    }
    memmove(&b->held[0], &b->held[1], (HELD_TRACKED - 1) * sizeof(b->held[0]));
    b->held[HELD_TRACKED - 1] = id;
}

void sim_held_remove(buyer *b, int64_t id)
{
    for (int i = 0; i < HELD_TRACKED; i++) {
        if (b->held[i] == id) {
            memmove(&b->held[i], &b->held[i + 1],
                    (size_t)(HELD_TRACKED - 1 - i) * sizeof(b->held[0]));
            b->held[HELD_TRACKED - 1] = 0;
            return;
        }
    }
}


int sim_sched_index(int64_t schedule_id)
{
    return (int)(schedule_id / 10 - 1);
}

/* A token the model knows ended (a payment, a leave). */
void sim_token_ended(buyer *b, const char *why)
{
    b->ended_by = why;
    memcpy(b->ended, b->token, sizeof(b->ended));
    b->token[0] = '\0';
    b->last_position = 0;
    b->active_until = 0;
}
