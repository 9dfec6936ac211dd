/*
 * PostgreSQL backend: the free lists' version (list_version) and retention
 * (prune). The counters, indexes and server-side functions behind them are
 * schema version 5 (postgres_schema5_sql.h).
 */
#include <concert/sys/storage.h>

#ifdef CONCERT_HAVE_POSTGRES

#include "postgres_internal.h"

/* One read, no write: the epoch, the scope's counter rows summed, one
 * backward index probe per schedule for the latest expired hold, and the
 * schedules that have left a concert's list. */
static int pg_list_version(concert_storage *self, int64_t concert_id, int64_t schedule_id,
                           int64_t starts_after, int64_t now, concert_list_version *out)
{
    pg_params p = { 0 };
    PGresult *res;
    int rc;

    memset(out, 0, sizeof(*out));
    if (schedule_id > 0) {
        param_int(&p, schedule_id);
        param_int(&p, now);
        rc = pgb_query((pg_store *)self, PG_LIST_VERSION_SCHEDULE, &p, 0, &res);
    } else {
        param_int(&p, concert_id);
        param_int(&p, now);
        param_int(&p, starts_after);
        rc = pgb_query((pg_store *)self, PG_LIST_VERSION_CONCERT, &p, 0, &res);
    }
    if (rc != 0)
        return rc;
    if (PQntuples(res) != 1 || PQnfields(res) != 4 || PQgetisnull(res, 0, 0)) {
        PQclear(res);
        return concert_sys_error_set(CONCERT_EINTERNAL,
                                     "postgresql: the store has no epoch (schema 5 incomplete)");
    }
    out->epoch = col_int(res, 0, 0);
    out->changes = col_int(res, 0, 1);
    out->expired_through = col_int(res, 0, 2);
    out->past = col_int(res, 0, 3);
    PQclear(res);
    return CONCERT_OK;
}

/* Rows per batch of prune(): each batch is one statement and one short
 * transaction, so a large prune never holds many row locks for long. */
#define PG_PRUNE_BATCH 500

static int pg_prune(concert_storage *self, const concert_prune_request *req,
                    concert_prune_report *out)
{
    pg_store *st = (pg_store *)self;
    pg_params p = { 0 };
    PGresult *res;
    int still_due = 0, rc;

    memset(out, 0, sizeof(*out));
    /* First settle what has ended without a step saying so (idle WAITING
     * tokens, ACTIVE ones that ran out), so that it is dated and due. */
    param_int(&p, req->now);
    param_int(&p, req->queue.active_ttl_ms);
    param_int(&p, req->queue.wait_ttl_ms);
    if ((rc = pgb_query(st, PG_PRUNE_SETTLE, &p, 1, &res)) != 0)
        return rc;
    PQclear(res);
    for (;;) {
        size_t batch = PG_PRUNE_BATCH;
        int64_t tokens, keys;

        if (req->limit > 0) {
            size_t done = (size_t)(out->tokens + out->idempotency);
            if (done >= req->limit)
                break;
            if (req->limit - done < batch)
                batch = req->limit - done;
        }
        memset(&p, 0, sizeof(p));
        param_int(&p, req->now);
        param_int(&p, pg_retention(req->queue.retention_ms));
        param_int(&p, (int64_t)batch);
        if ((rc = pgb_query(st, PG_PRUNE, &p, 1, &res)) != 0)
            return rc;
        if (PQntuples(res) != 1 || PQnfields(res) != 3) {
            PQclear(res);
            return concert_sys_error_set(CONCERT_EINTERNAL, "postgresql: malformed prune reply");
        }
        tokens = col_int(res, 0, 0);
        keys = col_int(res, 0, 1);
        still_due = strcmp(PQgetvalue(res, 0, 2), "t") == 0;
        PQclear(res);
        out->tokens += tokens;
        out->idempotency += keys;
        /* Done when nothing is due; also when nothing could be deleted
         * (every due row is locked by a step that uses it right now). */
        if (!still_due || tokens + keys == 0)
            break;
    }
    /* more: the limit stopped it with rows still due (the last batch's
     * answer, read after its deletes). */
    out->more =
        req->limit > 0 && (size_t)(out->tokens + out->idempotency) >= req->limit && still_due;
    return CONCERT_OK;
}

void pgb_install_retention(concert_storage *base)
{
    base->list_version = pg_list_version;
    base->prune = pg_prune;
}

#else
/* Built without PostgreSQL: postgres.c alone provides the entry point. */
typedef int concert_postgres_compiled_out;
#endif
