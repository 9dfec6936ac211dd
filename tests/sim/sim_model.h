/*
 * The simulation's reference model (tests/sim/): what the buyers were told,
 * shared by the operations (sim_run.c), the model's bookkeeping
 * (sim_model.c) and the audits that compare the store with it
 * (sim_audit.c).
 */
#ifndef CONCERT_SIM_MODEL_H
#define CONCERT_SIM_MODEL_H

#include <concert/concert.h>
#include <concert/sys/storage.h>

#include "fault_storage.h"
#include "sim.h"

#define T0 INT64_C(1800000000000)
#define USERS 24
#define BATCH 2 /* schedules per concert the sim loads */
#define MAX_SCHEDULES 4096
#define SEATS 30
#define MAX_ACTIVE 6
#define ACTIVE_TTL 60000
#define WAIT_TTL 30000
#define HOLD_TTL 45000
#define MAX_HOLDS 4
#define RETENTION (24 * 3600 * INT64_C(1000))
#define HELD_TRACKED 8
#define FAULT_PPM 30000

typedef struct model_res {
    int64_t id, user, schedule, seat, price, held_until;
    int status; /* CONCERT_RESERVATION_HELD, _CONFIRMED or _RELEASED */
} model_res;

typedef struct seat_model {
    int64_t price;
    int64_t holder; /* the latest reservation to hold it */
    int64_t sold;   /* the reservation that bought it */
} seat_model;

typedef struct keyed_pay {
    int on;
    char key[32];
    char token[CONCERT_TOKEN_SIZE];
    int64_t ids[3];
    size_t count;
    concert_payment result;
    int64_t at;
} keyed_pay;

typedef struct keyed_charge {
    int on;
    char key[32];
    int64_t amount, balance, at;
} keyed_charge;

typedef struct buyer {
    int64_t id;
    char token[CONCERT_TOKEN_SIZE]; /* "" when the model knows of no live one */
    int64_t last_position;          /* last WAITING position of token, 0: none */
    int64_t active_until;           /* reported ACTIVE until (0: not seen ACTIVE) */
    int64_t live_until;             /* the token's expires_at in its latest report */
    int64_t reported_at;            /* the now of that report */
    int back_since_report;          /* now has gone back before reported_at since */
    const char *ended_by;           /* how the model last lost its token */
    char ended[CONCERT_TOKEN_SIZE]; /* the token a payment or a leave ended */
    int64_t ended_at;
    int64_t balance;
    size_t ledger;
    int64_t held[HELD_TRACKED]; /* reservations the buyer may still pay */
    keyed_pay pay;
    keyed_charge charge;
} buyer;

typedef struct sim {
    uint64_t rng, token_rng;
    int64_t now, high_now;
    concert_db *db;
    fault_storage *fs;
    concert_storage *store; /* the wrapped store, for audits */
    int faults_on;
    buyer buyers[USERS];
    seat_model (*seats)[SEATS + 1]; /* [schedule index][seat number] */
    int nsched;                     /* schedules loaded so far */
    int batch_sold;                 /* seats sold in the latest concert */
    model_res *res;
    size_t nres, capres;
    long op;
    unsigned key_counter;
    int64_t trace;   /* SIM_TRACE: a buyer whose calls go to stderr */
    int64_t current; /* the buyer of the step running */
    sim_result *out;
} sim;

#define SEAT(i, n) (s->seats[(i)][(n)])
#define SOLD(i, n) (SEAT(i, n).sold)
#define HOLDER(i, n) (SEAT(i, n).holder)
#define PRICE(i, n) (SEAT(i, n).price)

/* What the faults of the last call mean for the model. */
enum {
    CLEAN = 0,
    NOT_APPLIED = 1,
    APPLIED = 2
};

int64_t sim_pick(sim *s, int64_t n);
int64_t sim_clock(void *ctx);
int sim_bytes(void *ctx, unsigned char *buf, size_t len);
/* Record the first violation; returns -1 so that callers can `return sim_fail(...)`. */
int sim_fail(sim *s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void sim_faults_apply(sim *s);
int sim_is_store_trouble(int rc);
/* Classify the call that just returned rc, whose write step is step. */
int sim_outcome(sim *s, int rc, const char *step, int *kind);
model_res *sim_res_find(sim *s, int64_t id);
int sim_res_add(sim *s, const concert_reservation *r);
void sim_held_add(buyer *b, int64_t id);
void sim_held_remove(buyer *b, int64_t id);
int sim_sched_index(int64_t schedule_id);
/* A token the model knows ended (a payment, a leave, a poll's report). */
void sim_token_ended(buyer *b, const char *why);

int sim_audit_user(sim *s, buyer *b, const char *why);
int sim_audit_seats(sim *s, const char *why);
int sim_audit_reservation(sim *s, int64_t id, int status, const char *why);
int sim_audit_queue(sim *s);
int sim_audit_verify(sim *s);

#endif
