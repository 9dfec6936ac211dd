/*
 * The counting storage wrapper (see counting.h). Every method forwards to
 * the wrapped backend with that backend's own table as self, after counting.
 */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "counting.h"
#include "harness.h"
#include "internal.h"

typedef struct counted {
    concert_storage base; /* first member: the table the core sees */
    concert_storage *inner;
    atomic_long calls;
} counted;

static counted *current;

static counted *of(concert_storage *self)
{
    counted *c = (counted *)self;
    atomic_fetch_add(&c->calls, 1);
    return c;
}

#define FORWARD(method, params, args)                                                              \
    static int counted_##method params                                                             \
    {                                                                                              \
        counted *c = of(self);                                                                     \
        return c->inner->method args;                                                              \
    }

FORWARD(queue_issue,
        (concert_storage * self, const concert_queue_params *p, int64_t user, const char *tok,
         int64_t now, concert_storage_token *out),
        (c->inner, p, user, tok, now, out))
FORWARD(queue_status,
        (concert_storage * self, const concert_queue_params *p, const char *tok, int64_t now,
         concert_storage_token *out),
        (c->inner, p, tok, now, out))
FORWARD(queue_leave,
        (concert_storage * self, const concert_queue_params *p, const char *tok, int64_t now),
        (c->inner, p, tok, now))
FORWARD(queue_stats,
        (concert_storage * self, const concert_queue_params *p, int64_t now,
         concert_queue_stats *out),
        (c->inner, p, now, out))
FORWARD(queue_configure,
        (concert_storage * self, const concert_queue_params *p, const concert_queue_update *u,
         int64_t now, concert_queue_settings *out),
        (c->inner, p, u, now, out))
FORWARD(concerts_list,
        (concert_storage * self, int32_t status, concert_emit_concert_fn emit, void *ctx),
        (c->inner, status, emit, ctx))
FORWARD(concert_get, (concert_storage * self, int64_t id, concert_concert *out),
        (c->inner, id, out))
FORWARD(schedules_list,
        (concert_storage * self, int64_t concert_id, int64_t after, int64_t now,
         concert_emit_schedule_fn emit, void *ctx, int64_t *total),
        (c->inner, concert_id, after, now, emit, ctx, total))
FORWARD(schedule_get, (concert_storage * self, int64_t id, concert_storage_schedule *out),
        (c->inner, id, out))
FORWARD(seats_available,
        (concert_storage * self, int64_t id, int64_t now, concert_emit_seat_fn emit, void *ctx),
        (c->inner, id, now, emit, ctx))
FORWARD(seat_map,
        (concert_storage * self, int64_t id, int64_t now, concert_emit_seat_state_fn emit,
         void *ctx),
        (c->inner, id, now, emit, ctx))
FORWARD(catalog_load, (concert_storage * self, const concert_catalog *cat, int64_t now),
        (c->inner, cat, now))
FORWARD(seat_hold,
        (concert_storage * self, const concert_hold_request *req, concert_reservation *out),
        (c->inner, req, out))
FORWARD(reservation_get, (concert_storage * self, int64_t id, concert_reservation *out),
        (c->inner, id, out))
FORWARD(pay, (concert_storage * self, const concert_pay_request *req, concert_payment *out),
        (c->inner, req, out))
FORWARD(reservation_release,
        (concert_storage * self, const concert_release_request *req, concert_reservation *out),
        (c->inner, req, out))
FORWARD(token_owner, (concert_storage * self, const char *token, int64_t *user),
        (c->inner, token, user))
FORWARD(charge, (concert_storage * self, const concert_charge_request *req, int64_t *balance),
        (c->inner, req, balance))
FORWARD(balance_get, (concert_storage * self, int64_t user, int64_t *balance),
        (c->inner, user, balance))
FORWARD(history_list,
        (concert_storage * self, int64_t user, int64_t before, size_t limit,
         concert_emit_ledger_fn emit, void *ctx),
        (c->inner, user, before, limit, emit, ctx))
FORWARD(users_list, (concert_storage * self, concert_emit_user_fn emit, void *ctx),
        (c->inner, emit, ctx))
FORWARD(list_version,
        (concert_storage * self, int64_t concert_id, int64_t schedule_id, int64_t after,
         int64_t now, concert_list_version *out),
        (c->inner, concert_id, schedule_id, after, now, out))
FORWARD(prune,
        (concert_storage * self, const concert_prune_request *req, concert_prune_report *out),
        (c->inner, req, out))
FORWARD(verify,
        (concert_storage * self, const concert_queue_params *p, int64_t now,
         concert_emit_text_fn emit, void *ctx, concert_verify_report *report),
        (c->inner, p, now, emit, ctx, report))

FORWARD(token_paid, (concert_storage * self, const char *token, int64_t *reservation_id),
        (c->inner, token, reservation_id))

/* Not a round trip to the store (atomic loads in the backend): forwarded
 * without counting, so a metrics read does not show up as store traffic. */
static int counted_counters(concert_storage *self, concert_storage_counters *out)
{
    counted *c = (counted *)self;
    return c->inner->counters(c->inner, out);
}

static void counted_free(concert_storage *self)
{
    counted *c = (counted *)self;
    if (current == c)
        current = NULL;
    c->inner->free(c->inner);
    free(c);
}

void store_open_counted(const concert_options *opts)
{
    concert_options resolved, defaults = test_options();
    concert_storage *inner = NULL;
    const char *location;
    counted *c;
    int kind, rc;

    if (!opts)
        opts = &defaults;
    store_prepare();
    expect_ok(concert__options_resolve(&resolved, opts));
    expect_ok(concert__uri_parse(store_uri_get(), &kind, &location));
    if (kind == CONCERT__STORE_MEMORY)
        rc = concert_storage_memory_open(&inner, location, &resolved);
    else if (kind == CONCERT__STORE_SQLITE)
        rc = concert_storage_sqlite_open(&inner, location, &resolved);
    else
        rc = concert_storage_postgres_open(&inner, location, &resolved);
    cr_assert_eq(rc, 0, "open %s: %s", store_uri_get(), concert_error_last()->message);

    c = calloc(1, sizeof(*c));
    cr_assert_not_null(c);
    c->inner = inner;
    c->base = *inner;
    c->base.name = "counted";
    c->base.free = counted_free;
#define SET(m) c->base.m = counted_##m
    SET(queue_issue);
    SET(queue_status);
    SET(queue_leave);
    SET(queue_stats);
    SET(queue_configure);
    SET(concerts_list);
    SET(concert_get);
    SET(schedules_list);
    SET(schedule_get);
    SET(seats_available);
    SET(seat_map);
    SET(catalog_load);
    SET(seat_hold);
    SET(reservation_get);
    SET(pay);
    SET(reservation_release);
    SET(token_owner);
    SET(charge);
    SET(balance_get);
    SET(history_list);
    SET(users_list);
    SET(list_version);
    SET(prune);
#undef SET
    if (inner->verify)
        c->base.verify = counted_verify;
    if (inner->counters)
        c->base.counters = counted_counters;
    /* Every method the copied table has must be wrapped: one passed
     * through would get this wrapper as its self. */
    c->base.token_paid = inner->token_paid ? counted_token_paid : NULL;
    atomic_init(&c->calls, 0);
    current = c;
    expect_ok(concert_db_open_storage(&db, &c->base, opts));
}

long store_calls(void)
{
    cr_assert_not_null(current, "store_open_counted() first");
    return atomic_load(&current->calls);
}

concert_storage *store_inner(void)
{
    cr_assert_not_null(current, "store_open_counted() first");
    return current->inner;
}
