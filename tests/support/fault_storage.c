/*
 * The fault-injecting storage wrapper (see fault_storage.h). It is a backend
 * like any other: the core reaches it only through its table, so a fault
 * here looks to the core exactly like the store's own trouble.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "fault_storage.h"

struct fault_storage {
    concert_storage base; /* first member: the table */
    concert_storage *inner;
    pthread_mutex_t lock;
    fault_storage_fn fn;
    void *fn_ctx;
    int random_on;
    uint64_t rng;
    uint32_t before_ppm, after_ppm;
    fault_record log[FAULT_LOG_SIZE];
    size_t logged; /* since the last reset, may exceed FAULT_LOG_SIZE */
    uint64_t total;
};

static const char *const WRITE_STEPS[] = {
    "queue_issue",         "queue_status", "queue_leave", "queue_stats",
    "queue_configure",     "catalog_load", "seat_hold",   "pay",
    "reservation_release", "charge",       "prune",
};

int fault_storage_is_write(const char *method)
{
    for (size_t i = 0; i < sizeof(WRITE_STEPS) / sizeof(WRITE_STEPS[0]); i++) {
        if (strcmp(method, WRITE_STEPS[i]) == 0)
            return 1;
    }
    return 0;
}

/* splitmix64: small, seedable, and the same on every platform. */
static uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static void note(fault_storage *fs, const char *method, int phase, int rc)
{
    if (fs->logged < FAULT_LOG_SIZE)
        fs->log[fs->logged] = (fault_record){ method, phase, rc };
    fs->logged++;
    fs->total++;
}

/* 0, or the code this step answers instead of the store's. */
static int decide(fault_storage *fs, const char *method, int phase)
{
    int rc = 0;
    fault_storage_fn fn;
    void *ctx;

    pthread_mutex_lock(&fs->lock);
    fn = fs->fn;
    ctx = fs->fn_ctx;
    if (fs->random_on) {
        uint32_t ppm = phase == FAULT_BEFORE ? fs->before_ppm : fs->after_ppm;
        uint64_t draw = next_random(&fs->rng);
        if (draw % 1000000u < ppm)
            rc = (draw >> 32) & 1 ? CONCERT_EBUSY : CONCERT_ESTORAGE;
    }
    pthread_mutex_unlock(&fs->lock);
    if (!rc && fn)
        rc = fn(ctx, method, phase);
    if (rc) {
        pthread_mutex_lock(&fs->lock);
        note(fs, method, phase, rc);
        pthread_mutex_unlock(&fs->lock);
    }
    return rc;
}

#define SELF ((fault_storage *)self)

#define BEFORE(method)                                                                             \
    int rc_ = decide(SELF, #method, FAULT_BEFORE);                                                 \
    if (rc_ != 0)                                                                                  \
        return concert_sys_error_set(rc_, "injected fault before " #method);

/* A read step: a fault before it, never after. */
#define READ(method, ...)                                                                          \
    do {                                                                                           \
        BEFORE(method)                                                                             \
        return SELF->inner->method(SELF->inner, __VA_ARGS__);                                      \
    } while (0)

/* A write step: a fault before it, or after it succeeded (applied). */
#define WRITE(method, ...)                                                                         \
    do {                                                                                           \
        BEFORE(method)                                                                             \
        rc_ = SELF->inner->method(SELF->inner, __VA_ARGS__);                                       \
        if (rc_ == 0 && (rc_ = decide(SELF, #method, FAULT_AFTER)) != 0)                           \
            return concert_sys_error_set(rc_,                                                      \
                                         "injected fault after " #method " (it was applied)");     \
        return rc_;                                                                                \
    } while (0)

static void fs_free(concert_storage *self)
{
    fault_storage *fs = SELF;
    if (fs->inner)
        fs->inner->free(fs->inner);
    pthread_mutex_destroy(&fs->lock);
    free(fs);
}

static int fs_queue_issue(concert_storage *self, const concert_queue_params *params,
                          int64_t user_id, const char *new_token, int64_t now,
                          concert_storage_token *out)
{
    WRITE(queue_issue, params, user_id, new_token, now, out);
}

static int fs_queue_status(concert_storage *self, const concert_queue_params *params,
                           const char *token, int64_t now, concert_storage_token *out)
{
    WRITE(queue_status, params, token, now, out);
}

static int fs_queue_leave(concert_storage *self, const concert_queue_params *params,
                          const char *token, int64_t now)
{
    WRITE(queue_leave, params, token, now);
}

static int fs_queue_stats(concert_storage *self, const concert_queue_params *params, int64_t now,
                          concert_queue_stats *out)
{
    WRITE(queue_stats, params, now, out);
}

static int fs_queue_configure(concert_storage *self, const concert_queue_params *params,
                              const concert_queue_update *update, int64_t now,
                              concert_queue_settings *out)
{
    WRITE(queue_configure, params, update, now, out);
}

static int fs_concerts_list(concert_storage *self, int32_t status, concert_emit_concert_fn emit,
                            void *ctx)
{
    READ(concerts_list, status, emit, ctx);
}

static int fs_concert_get(concert_storage *self, int64_t concert_id, concert_concert *out)
{
    READ(concert_get, concert_id, out);
}

static int fs_schedules_list(concert_storage *self, int64_t concert_id, int64_t starts_after,
                             int64_t now, concert_emit_schedule_fn emit, void *ctx, int64_t *total)
{
    READ(schedules_list, concert_id, starts_after, now, emit, ctx, total);
}

static int fs_schedule_get(concert_storage *self, int64_t schedule_id,
                           concert_storage_schedule *out)
{
    READ(schedule_get, schedule_id, out);
}

static int fs_seats_available(concert_storage *self, int64_t schedule_id, int64_t now,
                              concert_emit_seat_fn emit, void *ctx)
{
    READ(seats_available, schedule_id, now, emit, ctx);
}

static int fs_list_version(concert_storage *self, int64_t concert_id, int64_t schedule_id,
                           int64_t starts_after, int64_t now, concert_list_version *out)
{
    READ(list_version, concert_id, schedule_id, starts_after, now, out);
}

static int fs_seat_map(concert_storage *self, int64_t schedule_id, int64_t now,
                       concert_emit_seat_state_fn emit, void *ctx)
{
    READ(seat_map, schedule_id, now, emit, ctx);
}

static int fs_catalog_load(concert_storage *self, const concert_catalog *catalog, int64_t now)
{
    WRITE(catalog_load, catalog, now);
}

static int fs_seat_hold(concert_storage *self, const concert_hold_request *req,
                        concert_reservation *out)
{
    WRITE(seat_hold, req, out);
}

static int fs_reservation_get(concert_storage *self, int64_t reservation_id,
                              concert_reservation *out)
{
    READ(reservation_get, reservation_id, out);
}

static int fs_pay(concert_storage *self, const concert_pay_request *req, concert_payment *out)
{
    WRITE(pay, req, out);
}

static int fs_reservation_release(concert_storage *self, const concert_release_request *req,
                                  concert_reservation *out)
{
    WRITE(reservation_release, req, out);
}

static int fs_token_owner(concert_storage *self, const char *token, int64_t *user_id)
{
    READ(token_owner, token, user_id);
}

static int fs_charge(concert_storage *self, const concert_charge_request *req, int64_t *balance_out)
{
    WRITE(charge, req, balance_out);
}

static int fs_balance_get(concert_storage *self, int64_t user_id, int64_t *balance_out)
{
    READ(balance_get, user_id, balance_out);
}

static int fs_history_list(concert_storage *self, int64_t user_id, int64_t before_id, size_t limit,
                           concert_emit_ledger_fn emit, void *ctx)
{
    READ(history_list, user_id, before_id, limit, emit, ctx);
}

static int fs_users_list(concert_storage *self, concert_emit_user_fn emit, void *ctx)
{
    READ(users_list, emit, ctx);
}

static int fs_prune(concert_storage *self, const concert_prune_request *req,
                    concert_prune_report *out)
{
    WRITE(prune, req, out);
}

static int fs_verify(concert_storage *self, const concert_queue_params *params, int64_t now,
                     concert_emit_text_fn violation, void *ctx, concert_verify_report *report)
{
    READ(verify, params, now, violation, ctx, report);
}

/* Never faulted: it only reads counters for a metrics scrape. */
static int fs_counters(concert_storage *self, concert_storage_counters *out)
{
    return SELF->inner->counters(SELF->inner, out);
}

int fault_storage_wrap(concert_storage **out, fault_storage **handle, concert_storage *inner)
{
    fault_storage *fs;

    *out = NULL;
    *handle = NULL;
    if (!inner)
        return concert_sys_error_set(CONCERT_EINVAL, "fault_storage_wrap: no storage");
    fs = calloc(1, sizeof(*fs));
    if (!fs || pthread_mutex_init(&fs->lock, NULL) != 0) {
        free(fs);
        inner->free(inner);
        return concert_sys_error_set(CONCERT_ENOMEM, "fault_storage_wrap: out of memory");
    }
    fs->inner = inner;
    fs->base.version = CONCERT_STORAGE_VERSION;
    fs->base.name = "fault";
    fs->base.free = fs_free;
    fs->base.queue_issue = fs_queue_issue;
    fs->base.queue_status = fs_queue_status;
    fs->base.queue_leave = fs_queue_leave;
    fs->base.queue_stats = fs_queue_stats;
    fs->base.queue_configure = fs_queue_configure;
    fs->base.concerts_list = fs_concerts_list;
    fs->base.concert_get = fs_concert_get;
    fs->base.schedules_list = fs_schedules_list;
    fs->base.schedule_get = fs_schedule_get;
    fs->base.seats_available = fs_seats_available;
    fs->base.list_version = fs_list_version;
    fs->base.seat_map = fs_seat_map;
    fs->base.catalog_load = fs_catalog_load;
    fs->base.seat_hold = fs_seat_hold;
    fs->base.reservation_get = fs_reservation_get;
    fs->base.pay = fs_pay;
    fs->base.reservation_release = fs_reservation_release;
    fs->base.token_owner = fs_token_owner;
    fs->base.charge = fs_charge;
    fs->base.balance_get = fs_balance_get;
    fs->base.history_list = fs_history_list;
    fs->base.users_list = fs_users_list;
    fs->base.prune = fs_prune;
    /* Optional methods stay optional: NULL when the wrapped store has none. */
    fs->base.verify = inner->verify ? fs_verify : NULL;
    fs->base.counters = inner->counters ? fs_counters : NULL;
    *out = &fs->base;
    *handle = fs;
    return CONCERT_OK;
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

int fault_storage_open(concert_db **out, fault_storage **handle, const char *uri,
                       const concert_options *opts)
{
    concert_storage *inner = NULL, *table = NULL;
    int rc;

    *out = NULL;
    *handle = NULL;
    if (strcmp(uri, "memory:") == 0 || strcmp(uri, "memory") == 0)
        rc = concert_storage_memory_open(&inner, "", opts);
    else if (starts_with(uri, "sqlite:"))
        rc = concert_storage_sqlite_open(&inner, uri + strlen("sqlite:"), opts);
    else
        rc = concert_storage_postgres_open(&inner, uri, opts);
    if (rc != 0)
        return rc;
    if ((rc = fault_storage_wrap(&table, handle, inner)) != 0)
        return rc;
    if ((rc = concert_db_open_storage(out, table, opts)) != 0)
        *handle = NULL; /* freed with the table */
    return rc;
}

void fault_storage_set_callback(fault_storage *fs, fault_storage_fn fn, void *ctx)
{
    pthread_mutex_lock(&fs->lock);
    fs->random_on = 0;
    fs->fn = fn;
    fs->fn_ctx = ctx;
    pthread_mutex_unlock(&fs->lock);
}

void fault_storage_set_random(fault_storage *fs, uint64_t seed, uint32_t before_ppm,
                              uint32_t after_ppm)
{
    pthread_mutex_lock(&fs->lock);
    fs->fn = NULL;
    fs->random_on = 1;
    fs->rng = seed;
    fs->before_ppm = before_ppm;
    fs->after_ppm = after_ppm;
    pthread_mutex_unlock(&fs->lock);
}

void fault_storage_off(fault_storage *fs)
{
    pthread_mutex_lock(&fs->lock);
    fs->fn = NULL;
    fs->random_on = 0;
    pthread_mutex_unlock(&fs->lock);
}

void fault_storage_log_reset(fault_storage *fs)
{
    pthread_mutex_lock(&fs->lock);
    fs->logged = 0;
    pthread_mutex_unlock(&fs->lock);
}

size_t fault_storage_log(fault_storage *fs, fault_record *out, size_t max)
{
    size_t n;
    pthread_mutex_lock(&fs->lock);
    n = fs->logged;
    for (size_t i = 0; i < n && i < max && i < FAULT_LOG_SIZE; i++)
        out[i] = fs->log[i];
    pthread_mutex_unlock(&fs->lock);
    return n;
}

uint64_t fault_storage_total(fault_storage *fs)
{
    uint64_t n;
    pthread_mutex_lock(&fs->lock);
    n = fs->total;
    pthread_mutex_unlock(&fs->lock);
    return n;
}

concert_storage *fault_storage_inner(fault_storage *fs)
{
    return fs->inner;
}
