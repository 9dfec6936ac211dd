/*
 * PostgreSQL backend: concert_admin_verify(), every invariant checked by SQL from
 * one REPEATABLE READ snapshot.
 */
#include <concert/sys/storage.h>

#ifdef CONCERT_HAVE_POSTGRES

#include "postgres_internal.h"

typedef struct verify_state {
    const pg_params *params_counts;
    const pg_params *params_checks;
    PGresult *counts;
    PGresult *violations;
    PGresult *violations5;
} verify_state;

static int verify_body(pg_slot *slot, void *ctx, pg_error *err)
{
    verify_state *vs = ctx;
    if (pgb_begin(slot, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err) != 0)
        return -1;
    if (pgb_exec_simple(slot, PG_BULK_TIMEOUT_SQL, 0, err) != 0)
        goto rollback;
    vs->counts = pgb_exec_stmt(slot, PG_VERIFY_COUNTS, vs->params_counts, 0, err);
    if (!vs->counts)
        goto rollback;
    vs->violations = pgb_exec_stmt(slot, PG_VERIFY_VIOLATIONS, vs->params_checks, 0, err);
    if (!vs->violations)
        goto rollback;
    vs->violations5 = pgb_exec_stmt(slot, PG_VERIFY_VIOLATIONS_5, NULL, 0, err);
    if (!vs->violations5)
        goto rollback;
    /* Read only: a lost COMMIT is safe to run again, from a clean state. */
    if (pgb_commit(slot, 0, err) == 0)
        return 0;

rollback:
    PQclear(vs->counts);
    PQclear(vs->violations);
    PQclear(vs->violations5);
    vs->counts = NULL;
    vs->violations = NULL;
    vs->violations5 = NULL;
    return pgb_abort(slot, err);
}

static int pg_verify(concert_storage *self, const concert_queue_params *params, int64_t now,
                     concert_emit_text_fn violation, void *ctx, concert_verify_report *report)
{
    pg_params counts = { 0 }, checks = { 0 };
    verify_state vs = { &counts, &checks, NULL, NULL, NULL };
    int rc;

    param_int(&counts, now);
    param_int(&checks, now);
    (void)params;
    if ((rc = pgb_run((pg_store *)self, verify_body, &vs)) != 0)
        return rc;
    if (PQntuples(vs.counts) == 1 && report) {
        report->users = col_int(vs.counts, 0, 0);
        report->ledger_entries = col_int(vs.counts, 0, 1);
        report->seats = col_int(vs.counts, 0, 2);
        report->seats_sold = col_int(vs.counts, 0, 3);
        report->reservations = col_int(vs.counts, 0, 4);
        report->payments = col_int(vs.counts, 0, 5);
        report->active_tokens = col_int(vs.counts, 0, 6);
    }
    for (int i = 0; i < PQntuples(vs.violations) && rc == 0; i++)
        rc = violation(ctx, PQgetvalue(vs.violations, i, 0));
    for (int i = 0; i < PQntuples(vs.violations5) && rc == 0; i++)
        rc = violation(ctx, PQgetvalue(vs.violations5, i, 0));
    PQclear(vs.counts);
    PQclear(vs.violations);
    PQclear(vs.violations5);
    return rc;
}

void pgb_install_verify(concert_storage *base)
{
    base->verify = pg_verify;
}

#else
/* Built without PostgreSQL: postgres.c alone provides the entry point. */
typedef int concert_postgres_compiled_out;
#endif
