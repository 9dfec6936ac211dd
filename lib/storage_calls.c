/*
 * The only place the core calls a storage backend (SQLite's os.c shape):
 * checks the table and normalises what comes back. Tests inject faults by
 * wrapping a store in a table of their own (tests/support/fault_storage.c),
 * so no fault hook ships in the library.
 */
#include <stddef.h>
#include <string.h>

#include "internal.h"

int concert__storage_check(const concert_storage *s)
{
    if (s->version != CONCERT_STORAGE_VERSION)
        return concert__error_set(CONCERT_EINVAL,
                                  "storage \"%s\": table version %u, this library speaks %u",
                                  s->name ? s->name : "?", s->version, CONCERT_STORAGE_VERSION);
#define MUST(m)                                                                                    \
    if (!s->m)                                                                                     \
        return concert__error_set(CONCERT_EINVAL, "storage \"%s\": method " #m " is required",     \
                                  s->name ? s->name : "?");
    MUST(free)
    MUST(queue_issue)
    MUST(queue_status)
    MUST(queue_leave)
    MUST(queue_stats)
    MUST(queue_configure)
    MUST(concerts_list)
    MUST(concert_get)
    MUST(schedules_list)
    MUST(schedule_get)
    MUST(seats_available)
    MUST(seat_map)
    MUST(list_version)
    MUST(catalog_load)
    MUST(seat_hold)
    MUST(reservation_get)
    MUST(pay)
    MUST(reservation_release)
    MUST(token_owner)
    MUST(charge)
    MUST(balance_get)
    MUST(history_list)
    MUST(users_list)
    MUST(prune)
#undef MUST
    return CONCERT_OK;
}

/* Whatever a backend returns, the caller sees a known code and a message. */
static int normalize(const concert_db *db, int rc, const char *method)
{
    if (rc == 0)
        return CONCERT_OK;
    if (rc > 0 || !concert__error_is_known(rc))
        return concert__error_set(CONCERT_EINTERNAL, "storage \"%s\": %s returned unknown code %d",
                                  db->storage->name, method, rc);
    return concert__error_ensure(rc);
}

/* The store's trouble, as opposed to an answer about the caller's request
 * (not found, taken, expired...): what storage_errors counts. */
static int store_trouble(int rc)
{
    return rc == CONCERT_ESTORAGE || rc == CONCERT_EBUSY || rc == CONCERT_ESCHEMA ||
           rc == CONCERT_EINTERNAL;
}

/* Count one step and its outcome; returns rc. Relaxed: the counts
 * order nothing, and a scrape reading them a moment late is fine. */
static int counted(concert_db *db, int rc)
{
    atomic_fetch_add_explicit(&db->storage_calls, 1, memory_order_relaxed);
    if (store_trouble(rc))
        atomic_fetch_add_explicit(&db->storage_errors, 1, memory_order_relaxed);
    return rc;
}

#define CALL(method, ...)                                                                          \
    do {                                                                                           \
        int rc_;                                                                                   \
        concert__error_clear();                                                                    \
        rc_ = db->storage->method(db->storage, __VA_ARGS__);                                       \
        return counted(db, normalize(db, rc_, #method));                                           \
    } while (0)

int concert__st_queue_issue(concert_db *db, int64_t user_id, const char *new_token, int64_t now,
                            concert_storage_token *out)
{
    CALL(queue_issue, &db->queue, user_id, new_token, now, out);
}

int concert__st_queue_status(concert_db *db, const char *token, int64_t now,
                             concert_storage_token *out)
{
    CALL(queue_status, &db->queue, token, now, out);
}

/* A step's CONCERT_ETOKEN_INVALID, worded by the core (queue.c) so that
 * every store says the same. */
static int token_refusal(concert_db *db, const char *token, int rc)
{
    return rc == CONCERT_ETOKEN_INVALID ? concert__token_invalid(db, token) : rc;
}

#define CALL_TOKEN(token, method, ...)                                                             \
    do {                                                                                           \
        int rc_;                                                                                   \
        concert__error_clear();                                                                    \
        rc_ = db->storage->method(db->storage, __VA_ARGS__);                                       \
        return token_refusal(db, token, counted(db, normalize(db, rc_, #method)));                 \
    } while (0)

int concert__st_queue_leave(concert_db *db, const char *token, int64_t now)
{
    CALL_TOKEN(token, queue_leave, &db->queue, token, now);
}

int concert__st_token_paid(concert_db *db, const char *token, int64_t *reservation_id)
{
    *reservation_id = 0;
    if (!db->storage->token_paid)
        return CONCERT_ENOTSUP;
    CALL(token_paid, token, reservation_id);
}

int concert__st_queue_stats(concert_db *db, int64_t now, concert_queue_stats *out)
{
    CALL(queue_stats, &db->queue, now, out);
}

int concert__st_queue_configure(concert_db *db, const concert_queue_update *u, int64_t now,
                                concert_queue_settings *out)
{
    CALL(queue_configure, &db->queue, u, now, out);
}

int concert__st_concerts_list(concert_db *db, int32_t status, concert_emit_concert_fn emit,
                              void *ctx)
{
    CALL(concerts_list, status, emit, ctx);
}

int concert__st_concert_get(concert_db *db, int64_t id, concert_concert *out)
{
    CALL(concert_get, id, out);
}

int concert__st_schedules_list(concert_db *db, int64_t concert_id, int64_t starts_after,
                               int64_t now, concert_emit_schedule_fn emit, void *ctx,
                               int64_t *total)
{
    CALL(schedules_list, concert_id, starts_after, now, emit, ctx, total);
}

int concert__st_schedule_get(concert_db *db, int64_t id, concert_storage_schedule *out)
{
    CALL(schedule_get, id, out);
}

int concert__st_seats_available(concert_db *db, int64_t schedule_id, int64_t now,
                                concert_emit_seat_fn emit, void *ctx)
{
    CALL(seats_available, schedule_id, now, emit, ctx);
}

int concert__st_seat_map(concert_db *db, int64_t schedule_id, int64_t now,
                         concert_emit_seat_state_fn emit, void *ctx)
{
    CALL(seat_map, schedule_id, now, emit, ctx);
}

int concert__st_list_version(concert_db *db, int64_t concert_id, int64_t schedule_id,
                             int64_t starts_after, int64_t now, concert_list_version *out)
{
    CALL(list_version, concert_id, schedule_id, starts_after, now, out);
}

int concert__st_prune(concert_db *db, size_t limit, int64_t now, concert_prune_report *out)
{
    concert_prune_request req;
    req.now = now;
    req.limit = limit;
    req.queue = db->queue;
    CALL(prune, &req, out);
}

int concert__st_catalog_load(concert_db *db, const concert_catalog *c, int64_t now)
{
    CALL(catalog_load, c, now);
}

int concert__st_seat_hold(concert_db *db, const concert_hold_request *req, concert_reservation *out)
{
    CALL_TOKEN(req->token, seat_hold, req, out);
}

int concert__st_reservation_get(concert_db *db, int64_t id, concert_reservation *out)
{
    CALL(reservation_get, id, out);
}

int concert__st_pay(concert_db *db, const concert_pay_request *req, concert_payment *out)
{
    CALL_TOKEN(req->token, pay, req, out);
}

int concert__st_reservation_release(concert_db *db, const concert_release_request *req,
                                    concert_reservation *out)
{
    CALL_TOKEN(req->token, reservation_release, req, out);
}

int concert__st_token_owner(concert_db *db, const char *token, int64_t *user_id)
{
    CALL(token_owner, token, user_id);
}

int concert__st_charge(concert_db *db, const concert_charge_request *req, int64_t *balance)
{
    CALL(charge, req, balance);
}

int concert__st_balance_get(concert_db *db, int64_t user_id, int64_t *balance)
{
    CALL(balance_get, user_id, balance);
}

int concert__st_history_list(concert_db *db, int64_t user_id, int64_t before_id, size_t limit,
                             concert_emit_ledger_fn emit, void *ctx)
{
    CALL(history_list, user_id, before_id, limit, emit, ctx);
}

int concert__st_users_list(concert_db *db, concert_emit_user_fn emit, void *ctx)
{
    CALL(users_list, emit, ctx);
}

int concert__st_verify(concert_db *db, int64_t now, concert_emit_text_fn emit, void *ctx,
                       concert_verify_report *report)
{
    if (!db->storage->verify)
        return concert__error_set(CONCERT_ENOTSUP, "storage \"%s\" cannot verify",
                                  db->storage->name);
    CALL(verify, &db->queue, now, emit, ctx, report);
}

/* Not a step: a metrics scrape asks, so it is not counted. */
int concert__st_counters(concert_db *db, concert_storage_counters *out)
{
    int rc;
    memset(out, 0, sizeof(*out));
    if (!db->storage->counters)
        return CONCERT_OK;
    concert__error_clear();
    rc = normalize(db, db->storage->counters(db->storage, out), "counters");
    if (rc != 0)
        memset(out, 0, sizeof(*out));
    return rc;
}
