/*
 * PostgreSQL backend: seat holds, reservations and payment, each one call of
 * a server-side function (concert_fn.seat_hold, concert_fn.pay) or one read.
 */
#include <concert/sys/storage.h>

#ifdef CONCERT_HAVE_POSTGRES

#include "postgres_internal.h"

static int pg_seat_hold(concert_storage *self, const concert_hold_request *req,
                        concert_reservation *out)
{
    pg_params p = {0};
    PGresult *res;
    int rc;

    param_int(&p, req->schedule_id);
    param_int(&p, req->seat_number);
    param_int(&p, req->user_id);
    param_int(&p, req->now);
    param_int(&p, req->hold_until);
    if ((rc = pgb_query((pg_store *)self, PG_SEAT_HOLD, &p, 1, &res)) != 0)
        return rc;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return concert_sys_error_set(CONCERT_EINTERNAL, "postgresql: malformed hold reply");
    }
    rc = (int)col_int(res, 0, 0);
    if (rc == 0) {
        memset(out, 0, sizeof(*out));
        out->id = col_int(res, 0, 1);
        out->user_id = req->user_id;
        out->schedule_id = req->schedule_id;
        out->seat_number = req->seat_number;
        out->price = col_int(res, 0, 2);
        out->status = (int32_t)col_int(res, 0, 3);
        out->held_until = col_int(res, 0, 4);
        out->is_new = (int32_t)col_int(res, 0, 5);
    } else if (rc == CONCERT_ESEAT_NOT_FOUND) {
        rc = concert_sys_error_set(rc, "seat %lld not found in schedule %lld",
                                   (long long)req->seat_number, (long long)req->schedule_id);
    } else if (rc == CONCERT_ESEAT_TAKEN) {
        rc = concert_sys_error_set(rc, "seat %lld of schedule %lld is taken",
                                   (long long)req->seat_number, (long long)req->schedule_id);
    } else {
        rc = concert_sys_error_set(CONCERT_EINTERNAL, "postgresql: hold returned %d", rc);
    }
    PQclear(res);
    return rc;
}

static int pg_reservation_get(concert_storage *self, int64_t reservation_id,
                              concert_reservation *out)
{
    pg_params p = {0};
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

static int pay_error(int rc, const concert_pay_request *req)
{
    long long id = (long long)req->reservation_id;
    switch (rc) {
    case CONCERT_EIDEMPOTENCY_KEY_REUSED:
        return concert_sys_error_set(rc, "idempotency key reused with different arguments");
    case CONCERT_ETOKEN_INVALID:
        return concert_sys_error_set(rc, "token invalid: expired or ended");
    case CONCERT_ERESERVATION_NOT_FOUND:
        return concert_sys_error_set(rc, "reservation %lld not found", id);
    case CONCERT_EFORBIDDEN:
        return concert_sys_error_set(rc, "reservation %lld belongs to another user", id);
    case CONCERT_EALREADY_PAID:
        return concert_sys_error_set(rc, "reservation %lld is already paid", id);
    case CONCERT_EHOLD_EXPIRED:
        return concert_sys_error_set(rc, "the hold of reservation %lld has expired", id);
    case CONCERT_EINSUFFICIENT_POINTS:
        return concert_sys_error_set(rc, "insufficient points for reservation %lld", id);
    default:
        return concert_sys_error_set(CONCERT_EINTERNAL, "postgresql: pay returned %d", rc);
    }
}

static int pg_pay(concert_storage *self, const concert_pay_request *req, concert_payment *out)
{
    pg_params p = {0};
    PGresult *res;
    int rc;

    param_int(&p, req->reservation_id);
    param_int(&p, req->user_id);
    param_text(&p, req->token ? req->token : "");
    param_int(&p, req->now);
    param_text(&p, req->idempotency_key);
    param_text(&p, req->idempotency_key ? (req->fingerprint ? req->fingerprint : "") : NULL);
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
        rc = pay_error(rc, req);
    }
    PQclear(res);
    return rc;
}

void pgb_install_booking(concert_storage *base)
{
    base->seat_hold = pg_seat_hold;
    base->reservation_get = pg_reservation_get;
    base->pay = pg_pay;
}

#else
/* Built without PostgreSQL: postgres.c alone provides the entry point. */
typedef int concert_postgres_compiled_out;
#endif
