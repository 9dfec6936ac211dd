/*
 * PostgreSQL backend: charging points, balances, the ledger and the users
 * list.
 */
#include <concert/sys/storage.h>

#ifdef CONCERT_HAVE_POSTGRES

#include "postgres_internal.h"

static int pg_charge(concert_storage *self, const concert_charge_request *req, int64_t *balance_out)
{
    pg_params p = { 0 };
    PGresult *res;
    int rc;

    param_int(&p, req->user_id);
    param_int(&p, req->amount);
    param_int(&p, req->max_balance);
    param_int(&p, req->now);
    param_text(&p, req->idempotency_key);
    param_text(&p, req->idempotency_key ? (req->fingerprint ? req->fingerprint : "") : NULL);
    param_int(&p, pg_retention(req->retention_ms));
    if ((rc = pgb_query((pg_store *)self, PG_CHARGE, &p, 1, &res)) != 0)
        return rc;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return concert_sys_error_set(CONCERT_EINTERNAL, "postgresql: malformed charge reply");
    }
    rc = (int)col_int(res, 0, 0);
    if (req->replayed)
        *req->replayed = 0;
    if (rc == 0) {
        if (balance_out)
            *balance_out = col_int(res, 0, 1);
        if (req->replayed)
            *req->replayed = col_int(res, 0, 2) == 1;
    } else if (rc == CONCERT_EUSER_NOT_FOUND) {
        rc = concert_sys_error_set(rc, "user %lld not found", (long long)req->user_id);
    } else if (rc == CONCERT_EINVALID_AMOUNT) {
        rc = concert_sys_error_set(rc, "invalid amount: the balance would pass %lld",
                                   (long long)req->max_balance);
    } else if (rc == CONCERT_EIDEMPOTENCY_KEY_REUSED) {
        rc = concert_sys_error_set(rc, "idempotency key reused with different arguments");
    } else {
        rc = concert_sys_error_set(CONCERT_EINTERNAL, "postgresql: charge returned %d", rc);
    }
    PQclear(res);
    return rc;
}

static int pg_balance_get(concert_storage *self, int64_t user_id, int64_t *balance_out)
{
    pg_params p = { 0 };
    PGresult *res;
    int rc;

    param_int(&p, user_id);
    if ((rc = pgb_query((pg_store *)self, PG_BALANCE_GET, &p, 0, &res)) != 0)
        return rc;
    if (PQntuples(res) == 0)
        rc = concert_sys_error_set(CONCERT_EUSER_NOT_FOUND, "user %lld not found",
                                   (long long)user_id);
    else
        *balance_out = col_int(res, 0, 0);
    PQclear(res);
    return rc;
}

static int pg_history_list(concert_storage *self, int64_t user_id, int64_t before_id, size_t limit,
                           concert_emit_ledger_fn emit, void *ctx)
{
    pg_params p = { 0 };
    PGresult *res;
    int rc;

    param_int(&p, user_id);
    /* The bound and the limit go to the index range on (user_id, id): no
     * bound is the largest id, no limit is SQL NULL (LIMIT ALL). */
    param_int(&p, before_id > 0 ? before_id : INT64_MAX);
    if (limit > 0)
        param_int(&p, limit > (size_t)INT64_MAX ? INT64_MAX : (int64_t)limit);
    else
        param_text(&p, NULL);
    if ((rc = pgb_query((pg_store *)self, PG_HISTORY_LIST, &p, 0, &res)) != 0)
        return rc;
    if (PQntuples(res) == 0)
        rc = concert_sys_error_set(CONCERT_EUSER_NOT_FOUND, "user %lld not found",
                                   (long long)user_id);
    for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
        concert_ledger_entry e;
        if (PQgetisnull(res, i, 0))
            continue; /* the user has no entries */
        memset(&e, 0, sizeof(e));
        e.id = col_int(res, i, 0);
        e.user_id = user_id;
        e.type = (int32_t)col_int(res, i, 1);
        e.amount = col_int(res, i, 2);
        e.balance_after = col_int(res, i, 3);
        e.at = col_int(res, i, 4);
        e.reservation_id = col_int(res, i, 5);
        rc = emit(ctx, &e);
    }
    PQclear(res);
    return rc;
}

static int pg_users_list(concert_storage *self, concert_emit_user_fn emit, void *ctx)
{
    PGresult *res;
    int rc;

    if ((rc = pgb_query((pg_store *)self, PG_USERS_LIST, NULL, 0, &res)) != 0)
        return rc;
    for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
        concert_user u;
        memset(&u, 0, sizeof(u));
        u.id = col_int(res, i, 0);
        u.balance = col_int(res, i, 1);
        col_text(res, i, 2, u.name, sizeof(u.name));
        rc = emit(ctx, &u);
    }
    PQclear(res);
    return rc;
}

void pgb_install_points(concert_storage *base)
{
    base->charge = pg_charge;
    base->balance_get = pg_balance_get;
    base->history_list = pg_history_list;
    base->users_list = pg_users_list;
}

#else
/* Built without PostgreSQL: postgres.c alone provides the entry point. */
typedef int concert_postgres_compiled_out;
#endif
