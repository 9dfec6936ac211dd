/*
 * PostgreSQL backend: seat holds, reservations, payment (of one reservation
 * or an order), releasing a hold and a token's owner. Each step is one
 * round trip: a call of a server-side function (concert_fn.seat_hold,
 * concert_fn.pay, concert_fn.reservation_release) that fences the token
 * itself, or one read.
 */
#include <concert/sys/storage.h>

#ifdef CONCERT_HAVE_POSTGRES

#include "postgres_internal.h"

/* The message of a token refusal (-21, -22) from a step; position is what
 * the function reported with -22 (-1: pre-queued, waiting for the
 * opening). */
static int token_error(int rc, int64_t position)
{
    if (rc == CONCERT_ETOKEN_NOT_ACTIVE) {
        if (position < 0)
            return concert_sys_error_set(rc, "token not active yet: waiting for the opening");
        return concert_sys_error_set(rc, "token not active yet: position %lld in the queue",
                                     (long long)position);
    }
    return concert_sys_error_set(CONCERT_ETOKEN_INVALID, "token invalid: expired or ended");
}

static int pg_seat_hold(concert_storage *self, const concert_hold_request *req,
                        concert_reservation *out)
{
    pg_params p = { 0 };
    PGresult *res;
    int rc;

    if (!req->token)
        return concert_sys_error_set(CONCERT_ETOKEN_INVALID, "no queue token given");
    param_text(&p, req->token);
    param_int(&p, req->schedule_id);
    param_int(&p, req->seat_number);
    param_int(&p, req->now);
    param_int(&p, req->hold_until);
    param_int(&p, req->queue.wait_ttl_ms);
    param_int(&p, req->concert_id);
    param_int(&p, req->max_per_concert);
    param_int(&p, req->max_holds);
    if ((rc = pgb_query((pg_store *)self, PG_SEAT_HOLD, &p, 1, &res)) != 0)
        return rc;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return concert_sys_error_set(CONCERT_EINTERNAL, "postgresql: malformed hold reply");
    }
    rc = (int)col_int(res, 0, 0);
    switch (rc) {
    case 0:
        memset(out, 0, sizeof(*out));
        out->id = col_int(res, 0, 1);
        out->user_id = col_int(res, 0, 2);
        out->schedule_id = req->schedule_id;
        out->seat_number = req->seat_number;
        out->price = col_int(res, 0, 3);
        out->status = (int32_t)col_int(res, 0, 4);
        out->held_until = col_int(res, 0, 5);
        out->is_new = (int32_t)col_int(res, 0, 6);
        break;
    case CONCERT_ETOKEN_INVALID:
    case CONCERT_ETOKEN_NOT_ACTIVE:
        rc = token_error(rc, col_int(res, 0, 1));
        break;
    case CONCERT_ESEAT_NOT_FOUND:
        rc = concert_sys_error_set(rc, "seat %lld not found in schedule %lld",
                                   (long long)req->seat_number, (long long)req->schedule_id);
        break;
    case CONCERT_ESEAT_TAKEN:
        rc = concert_sys_error_set(rc, "seat %lld of schedule %lld is taken",
                                   (long long)req->seat_number, (long long)req->schedule_id);
        break;
    case CONCERT_EHOLD_LIMIT:
        /* The core writes the message (it names the limit). */
        rc = concert_sys_error_set(rc, "hold limit reached");
        break;
    default:
        rc = concert_sys_error_set(CONCERT_EINTERNAL, "postgresql: hold returned %d", rc);
        break;
    }
    PQclear(res);
    return rc;
}

static int pg_reservation_get(concert_storage *self, int64_t reservation_id,
                              concert_reservation *out)
{
    pg_params p = { 0 };
    PGresult *res;
    int rc;

    param_int(&p, reservation_id);
    if ((rc = pgb_query((pg_store *)self, PG_RESERVATION_GET, &p, 0, &res)) != 0)
        return rc;
    if (PQntuples(res) == 0) {
        rc = concert_sys_error_set(CONCERT_ERESERVATION_NOT_FOUND, "reservation %lld not found",
                                   (long long)reservation_id);
    } else {
        memset(out, 0, sizeof(*out));
        out->id = col_int(res, 0, 0);
        out->user_id = col_int(res, 0, 1);
        out->schedule_id = col_int(res, 0, 2);
        out->seat_number = col_int(res, 0, 3);
        out->price = col_int(res, 0, 4);
        out->status = (int32_t)col_int(res, 0, 5);
        out->held_until = col_int(res, 0, 6);
    }
    PQclear(res);
    return rc;
}

/* id: the reservation the function named (the first that failed; for
 * insufficient points, the order's first). */
static int pay_error(int rc, const concert_pay_request *req, int64_t id_at, int64_t position)
{
    long long id = (long long)id_at;
    switch (rc) {
    case CONCERT_EIDEMPOTENCY_KEY_REUSED:
        return concert_sys_error_set(rc, "idempotency key reused with different arguments");
    case CONCERT_ETOKEN_INVALID:
    case CONCERT_ETOKEN_NOT_ACTIVE:
        return token_error(rc, position);
    case CONCERT_ERESERVATION_NOT_FOUND:
        return concert_sys_error_set(rc, "reservation %lld not found", id);
    case CONCERT_EFORBIDDEN:
        return concert_sys_error_set(rc, "reservation %lld belongs to another user", id);
    case CONCERT_EALREADY_PAID:
        return concert_sys_error_set(rc, "reservation %lld is already paid", id);
    case CONCERT_EHOLD_EXPIRED:
        return concert_sys_error_set(rc, "the hold of reservation %lld has expired", id);
    case CONCERT_EINSUFFICIENT_POINTS:
        if (req->count > 1)
            return concert_sys_error_set(rc,
                                         "insufficient points for the order (%zu "
                                         "reservations)",
                                         req->count);
        return concert_sys_error_set(rc, "insufficient points for reservation %lld", id);
    default:
        return concert_sys_error_set(CONCERT_EINTERNAL, "postgresql: pay returned %d", rc);
    }
}

/* The ids as a PostgreSQL array literal, "{1,2,3}": 64 ids of at most 20
 * characters and a separator fit. */
#define PG_ID_ARRAY_SIZE (2 + CONCERT_ORDER_MAX * 21 + 1)

static int id_array(char *buf, size_t size, const int64_t *ids, size_t count)
{
    size_t used = 0;
    int n;
    if ((n = snprintf(buf, size, "{")) < 0)
        return -1;
    used = (size_t)n;
    for (size_t i = 0; i < count; i++) {
        n = snprintf(buf + used, size - used, i ? ",%lld" : "%lld", (long long)ids[i]);
        if (n < 0 || (size_t)n >= size - used)
            return -1;
        used += (size_t)n;
    }
    n = snprintf(buf + used, size - used, "}");
    return n < 0 || (size_t)n >= size - used ? -1 : 0;
}

static int pg_pay(concert_storage *self, const concert_pay_request *req, concert_payment *out)
{
    char ids[PG_ID_ARRAY_SIZE];
    pg_params p = { 0 };
    PGresult *res;
    int rc;

    if (!req->reservation_ids || req->count < 1 || req->count > CONCERT_ORDER_MAX)
        return concert_sys_error_set(CONCERT_EINVAL, "an order pays for 1 to %d reservations",
                                     CONCERT_ORDER_MAX);
    if (!req->token)
        return concert_sys_error_set(CONCERT_ETOKEN_INVALID, "no queue token given");
    if (id_array(ids, sizeof(ids), req->reservation_ids, req->count) != 0)
        return concert_sys_error_set(CONCERT_EINTERNAL, "postgresql: order ids do not fit");
    param_text(&p, ids);
    param_text(&p, req->token);
    param_int(&p, req->now);
    param_int(&p, req->queue.wait_ttl_ms);
    param_text(&p, req->idempotency_key);
    param_text(&p, req->idempotency_key ? (req->fingerprint ? req->fingerprint : "") : NULL);
    param_int(&p, pg_retention(req->queue.retention_ms));
    if ((rc = pgb_query((pg_store *)self, PG_PAY, &p, 1, &res)) != 0)
        return rc;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return concert_sys_error_set(CONCERT_EINTERNAL, "postgresql: malformed pay reply");
    }
    rc = (int)col_int(res, 0, 0);
    if (rc == 0) {
        memset(out, 0, sizeof(*out));
        out->id = col_int(res, 0, 1);
        out->reservation_id = col_int(res, 0, 2);
        out->user_id = col_int(res, 0, 3);
        out->amount = col_int(res, 0, 4);
        out->balance = col_int(res, 0, 5);
        out->paid_at = col_int(res, 0, 6);
    } else {
        rc = pay_error(rc, req, col_int(res, 0, 2), col_int(res, 0, 1));
    }
    PQclear(res);
    return rc;
}

static int pg_reservation_release(concert_storage *self, const concert_release_request *req,
                                  concert_reservation *out)
{
    pg_params p = { 0 };
    PGresult *res;
    long long id = (long long)req->reservation_id;
    int rc;

    if (!req->token)
        return concert_sys_error_set(CONCERT_ETOKEN_INVALID, "no queue token given");
    param_int(&p, req->reservation_id);
    param_text(&p, req->token);
    param_int(&p, req->now);
    param_int(&p, req->queue.wait_ttl_ms);
    if ((rc = pgb_query((pg_store *)self, PG_RELEASE, &p, 1, &res)) != 0)
        return rc;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return concert_sys_error_set(CONCERT_EINTERNAL, "postgresql: malformed release reply");
    }
    rc = (int)col_int(res, 0, 0);
    switch (rc) {
    case 0:
        if (out) {
            memset(out, 0, sizeof(*out));
            out->id = req->reservation_id;
            out->user_id = col_int(res, 0, 1);
            out->schedule_id = col_int(res, 0, 2);
            out->seat_number = col_int(res, 0, 3);
            out->price = col_int(res, 0, 4);
            out->status = (int32_t)col_int(res, 0, 5);
            out->held_until = col_int(res, 0, 6);
        }
        break;
    case CONCERT_ETOKEN_INVALID:
    case CONCERT_ETOKEN_NOT_ACTIVE:
        rc = token_error(rc, col_int(res, 0, 2));
        break;
    case CONCERT_ERESERVATION_NOT_FOUND:
        rc = concert_sys_error_set(rc, "reservation %lld not found", id);
        break;
    case CONCERT_EFORBIDDEN:
        rc = concert_sys_error_set(rc, "reservation %lld belongs to another user", id);
        break;
    case CONCERT_EALREADY_PAID:
        rc = concert_sys_error_set(rc, "reservation %lld is already paid", id);
        break;
    default:
        rc = concert_sys_error_set(CONCERT_EINTERNAL, "postgresql: release returned %d", rc);
        break;
    }
    PQclear(res);
    return rc;
}

/* One bigint column of a token's row (the statement takes the token). */
static int token_column(concert_storage *self, pg_stmt statement, const char *token, int64_t *value)
{
    pg_params p = { 0 };
    PGresult *res;
    int rc;

    if (!token)
        return concert_sys_error_set(CONCERT_ETOKEN_INVALID, "no queue token given");
    param_text(&p, token);
    if ((rc = pgb_query((pg_store *)self, statement, &p, 0, &res)) != 0)
        return rc;
    if (PQntuples(res) == 0)
        rc = concert_sys_error_set(CONCERT_ETOKEN_INVALID, "token invalid: unknown token");
    else
        *value = col_int(res, 0, 0);
    PQclear(res);
    return rc;
}

static int pg_token_owner(concert_storage *self, const char *token, int64_t *user_id)
{
    return token_column(self, PG_TOKEN_OWNER, token, user_id);
}

static int pg_token_paid(concert_storage *self, const char *token, int64_t *reservation_id)
{
    *reservation_id = 0;
    return token_column(self, PG_TOKEN_PAID, token, reservation_id);
}

void pgb_install_booking(concert_storage *base)
{
    base->seat_hold = pg_seat_hold;
    base->reservation_get = pg_reservation_get;
    base->pay = pg_pay;
    base->reservation_release = pg_reservation_release;
    base->token_owner = pg_token_owner;
    base->token_paid = pg_token_paid;
}

#else
/* Built without PostgreSQL: postgres.c alone provides the entry point. */
typedef int concert_postgres_compiled_out;
#endif
