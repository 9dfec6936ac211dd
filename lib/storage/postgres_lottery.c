/*
 * PostgreSQL backend: the opening lottery and changes of the shared queue
 * settings. Both are transactions run from C (the lottery needs the db's
 * injected random source, through params->shuffle), holding the queue lock K
 * exclusively and the queue_state row FOR UPDATE: no join is in flight while
 * they run, and a second process that comes for the same opening finds the
 * queue no longer SCHEDULED and does nothing, so the lottery happens exactly
 * once.
 */
#include <concert/sys/storage.h>

#ifdef CONCERT_HAVE_POSTGRES

#include "postgres_internal.h"

/* The locked queue row (PG_Q_ROW_LOCK). */
typedef struct queue_row {
    concert_queue_settings settings;
    concert_sys_rate rate;
} queue_row;

/* Run stmt and discard its result: 0 or -1 with err. */
static int exec_discard(pg_slot *slot, pg_stmt stmt, const pg_params *p, pg_error *err)
{
    PGresult *res = pgb_exec_stmt(slot, stmt, p, 1, err);
    if (!res)
        return -1;
    PQclear(res);
    return 0;
}

/* BEGIN, take K exclusively, lock and read the queue row. */
static int queue_lock(pg_slot *slot, queue_row *row, pg_error *err)
{
    PGresult *res;
    if (pgb_begin(slot, NULL, err) != 0)
        return -1;
    if (exec_discard(slot, PG_Q_LOCK, NULL, err) != 0)
        return -1;
    if (!(res = pgb_exec_stmt(slot, PG_Q_ROW_LOCK, NULL, 1, err)))
        return -1;
    if (PQntuples(res) != 1) {
        PQclear(res);
        pgb_error_fill(err, CONCERT_EINTERNAL, PG_FAIL_FINAL,
                       "postgresql: queue state row missing");
        return -1;
    }
    memset(row, 0, sizeof(*row));
    row->settings.state = (int32_t)col_int(res, 0, 0);
    row->settings.opens_at = col_int(res, 0, 1);
    row->settings.max_active = col_int(res, 0, 2);
    row->settings.admit_per_minute = col_int(res, 0, 3);
    row->rate.rate_mps = col_int(res, 0, 4);
    row->rate.window_start = col_int(res, 0, 5);
    row->rate.window_count = col_int(res, 0, 6);
    PQclear(res);
    return 0;
}

/* "{1,2,3}": the ids as a PostgreSQL array literal (malloc'd), or NULL. */
static char *ids_array_text(const int64_t *ids, size_t n)
{
    size_t cap = 2 + n * 21 + 1, len = 0;
    char *text = malloc(cap);
    if (!text)
        return NULL;
    text[len++] = '{';
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(text + len, cap - len, "%s%lld", i ? "," : "", (long long)ids[i]);
        if (w < 0 || (size_t)w >= cap - len) {
            free(text);
            return NULL;
        }
        len += (size_t)w;
    }
    text[len++] = '}';
    text[len] = '\0';
    return text;
}

/*
 * The lottery, inside a transaction holding K and the queue row: every
 * pre-queued token (no ticket yet), read in id order (join order, stable),
 * is put in the order params->shuffle returns and gets a ticket in that
 * order after every ticket issued before. Those that left or were dropped
 * for idleness get one too, like a ticket of a token that dropped out of
 * line (admission skips it): so the shuffle sees the same items as on every
 * other store. The caller sets the new state.
 */
static int lottery(pg_slot *slot, const concert_queue_params *params, pg_error *err)
{
    pg_params p = { 0 };
    PGresult *res;
    int64_t *ids = NULL;
    char *text = NULL;
    size_t n;
    int rc;

    if (!(res = pgb_exec_stmt(slot, PG_Q_PREQUEUED, NULL, 0, err)))
        return -1;
    n = (size_t)PQntuples(res);
    if (n > 0) {
        ids = malloc(n * sizeof(*ids));
        if (!ids) {
            PQclear(res);
            pgb_error_fill(err, CONCERT_ENOMEM, PG_FAIL_FINAL,
                           "postgresql: out of memory (lottery)");
            return -1;
        }
        for (size_t i = 0; i < n; i++)
            ids[i] = col_int(res, (int)i, 0);
    }
    PQclear(res);
    if (n > 1 && params->shuffle && (rc = params->shuffle(params->shuffle_ctx, ids, n)) != 0) {
        free(ids);
        pgb_error_fill(err, rc, PG_FAIL_FINAL, "lottery: %s", concert_error_last()->message);
        return -1;
    }
    if (n > 0) {
        text = ids_array_text(ids, n);
        free(ids);
        if (!text) {
            pgb_error_fill(err, CONCERT_ENOMEM, PG_FAIL_FINAL,
                           "postgresql: out of memory (lottery)");
            return -1;
        }
        memset(&p, 0, sizeof(p));
        param_text(&p, text);
        param_int(&p, (int64_t)n);
        rc = exec_discard(slot, PG_Q_LOTTERY_ASSIGN, &p, err);
        free(text);
        if (rc != 0)
            return -1;
    }
    return 0;
}

static int settings_write(pg_slot *slot, const concert_queue_settings *s, pg_error *err)
{
    pg_params p = { 0 };
    param_int(&p, s->max_active);
    param_int(&p, s->admit_per_minute);
    param_int(&p, s->state);
    param_int(&p, s->opens_at);
    return exec_discard(slot, PG_Q_SETTINGS_SET, &p, err);
}

typedef struct opening_ctx {
    const concert_queue_params *params;
    int64_t now;
} opening_ctx;

static int opening_body(pg_slot *slot, void *ctx, pg_error *err)
{
    opening_ctx *oc = ctx;
    queue_row row;
    int opened = 0;

    if (queue_lock(slot, &row, err) != 0)
        return pgb_abort(slot, err);
    /* Another process may have opened it while we waited for K. */
    if (row.settings.state == CONCERT_QUEUE_SCHEDULED && oc->now >= row.settings.opens_at) {
        opened = 1;
        row.settings.state = CONCERT_QUEUE_OPEN;
        row.settings.opens_at = 0;
        if (lottery(slot, oc->params, err) != 0 || settings_write(slot, &row.settings, err) != 0)
            return pgb_abort(slot, err);
    }
    /* Lost during COMMIT after the opening: in doubt, reported (the next
     * call re-checks under K, so the lottery cannot run twice either way). */
    return pgb_commit(slot, opened, err);
}

int pgb_opening(pg_store *st, const concert_queue_params *params, int64_t now)
{
    opening_ctx oc = { params, now };
    return pgb_run(st, opening_body, &oc);
}

/* ---- queue_configure ---- */

typedef struct configure_ctx {
    const concert_queue_params *params;
    const concert_queue_update *update;
    int64_t now;
    concert_queue_settings after;
    concert_sys_rate rate;
    int64_t admitted;
} configure_ctx;

static int configure_body(pg_slot *slot, void *ctx, pg_error *err)
{
    configure_ctx *cc = ctx;
    const concert_queue_update *u = cc->update;
    concert_queue_settings s;
    queue_row row;
    pg_params p = { 0 };
    PGresult *res;

    cc->admitted = 0;
    if (queue_lock(slot, &row, err) != 0)
        return pgb_abort(slot, err);
    cc->rate = row.rate;
    s = row.settings;
    if (u->expect_state != 0 && u->expect_state != s.state) {
        const char *have = concert_queue_state_name(s.state);
        const char *want = concert_queue_state_name(u->expect_state);
        pgb_error_fill(err, CONCERT_ECONFLICT, PG_FAIL_FINAL,
                       "queue update: the queue is %s, not %s", have ? have : "?",
                       want ? want : "?");
        return pgb_abort(slot, err);
    }
    /* Leaving SCHEDULED by a state runs the lottery first; so does a change
     * that finds the opening already due (admission's first step), unless it
     * reschedules (a SCHEDULED queue keeps its pre-queue). */
    if (s.state == CONCERT_QUEUE_SCHEDULED &&
        ((u->fields & CONCERT_QUEUE_SET_STATE) ||
         (!(u->fields & CONCERT_QUEUE_SET_OPENS_AT) && cc->now >= s.opens_at))) {
        if (lottery(slot, cc->params, err) != 0)
            return pgb_abort(slot, err);
        s.state = CONCERT_QUEUE_OPEN;
        s.opens_at = 0;
    }
    if (u->fields & CONCERT_QUEUE_SET_MAX_ACTIVE)
        s.max_active = u->max_active;
    if (u->fields & CONCERT_QUEUE_SET_ADMIT_PER_MINUTE)
        s.admit_per_minute = u->admit_per_minute;
    if (u->fields & CONCERT_QUEUE_SET_STATE) {
        s.state = u->state;
        s.opens_at = 0;
    }
    if (u->fields & CONCERT_QUEUE_SET_OPENS_AT) {
        s.state = CONCERT_QUEUE_SCHEDULED;
        s.opens_at = u->opens_at;
    }
    if (settings_write(slot, &s, err) != 0)
        return pgb_abort(slot, err);
    /* Admission under the new settings (a SCHEDULED or PAUSED queue admits
     * nobody; expired tokens are still settled). */
    param_int(&p, cc->now);
    param_int(&p, cc->params->active_ttl_ms);
    param_int(&p, cc->params->wait_ttl_ms);
    if (!(res = pgb_exec_stmt(slot, PG_Q_ADMIT, &p, 1, err)))
        return pgb_abort(slot, err);
    cc->admitted = col_int(res, 0, 0);
    PQclear(res);
    /* Lost during COMMIT: in doubt, reported, never re-run. */
    if (pgb_commit(slot, 1, err) != 0)
        return -1;
    cc->after = s;
    return 0;
}

int pgb_queue_configure(concert_storage *self, const concert_queue_params *params,
                        const concert_queue_update *update, int64_t now,
                        concert_queue_settings *out)
{
    pg_store *st = (pg_store *)self;
    configure_ctx cc;
    int rc;

    memset(&cc, 0, sizeof(cc));
    cc.params = params;
    cc.update = update;
    cc.now = now;
    if ((rc = pgb_run(st, configure_body, &cc)) != 0)
        return rc;
    if (cc.admitted > 0)
        pgb_rate_record(st, cc.admitted, now, cc.rate);
    if (out)
        *out = cc.after;
    return CONCERT_OK;
}

#else
/* Built without PostgreSQL: postgres.c alone provides the entry point. */
typedef int concert_postgres_compiled_out;
#endif
