/*
 * PostgreSQL backend: the waiting queue. Each step is one server-side
 * function call (concert_fn.queue_*), except the status check, whose common
 * case is a single read (queue_status_peek).
 */
#include <concert/sys/storage.h>

#ifdef CONCERT_HAVE_POSTGRES

#include "postgres_internal.h"

/*
 * Record admissions in the rate estimate (concert_sys_rate_observe) with a
 * compare-and-set on the state row, so that the admission transaction itself
 * stays one statement. The estimate is advisory: after a few lost races the
 * observation is dropped.
 */
static int64_t rate_record(pg_store *st, int64_t admitted, int64_t now, concert_sys_rate seen)
{
    for (int attempt = 0; attempt < 4; attempt++) {
        concert_sys_rate next = seen;
        pg_params p = {0};
        PGresult *res = NULL;
        int updated;

        concert_sys_rate_observe(&next, admitted, now);
        param_int(&p, next.rate_mps);
        param_int(&p, next.window_start);
        param_int(&p, next.window_count);
        param_int(&p, seen.rate_mps);
        param_int(&p, seen.window_start);
        param_int(&p, seen.window_count);
        if (pgb_query(st, PG_RATE_CAS, &p, 1, &res) != 0)
            break;
        updated = strcmp(PQcmdTuples(res), "1") == 0;
        PQclear(res);
        if (updated)
            return next.rate_mps;
        if (pgb_query(st, PG_RATE_GET, NULL, 0, &res) != 0)
            break;
        if (PQntuples(res) == 1) {
            seen.rate_mps = col_int(res, 0, 0);
            seen.window_start = col_int(res, 0, 1);
            seen.window_count = col_int(res, 0, 2);
        }
        PQclear(res);
    }
    return seen.rate_mps;
}

/* Decode a concert_fn.token_row; expect_token (may be NULL) is the text the
 * caller looked up, compared in constant time. */
static int token_row(pg_store *st, PGresult *res, int64_t now, const char *expect_token,
                     concert_storage_token *out)
{
    concert_sys_rate rate;
    int64_t admitted, rate_now;
    int rc;

    if (PQntuples(res) != 1 || PQnfields(res) < 11)
        return concert_sys_error_set(CONCERT_EINTERNAL, "postgresql: malformed queue reply");
    rc = (int)col_int(res, 0, 0);
    admitted = col_int(res, 0, 7);
    rate.rate_mps = col_int(res, 0, 8);
    rate.window_start = col_int(res, 0, 9);
    rate.window_count = col_int(res, 0, 10);
    rate_now = rate.rate_mps;
    if (admitted > 0)
        rate_now = rate_record(st, admitted, now, rate);
    if (rc == CONCERT_EUSER_NOT_FOUND || rc == CONCERT_ETOKEN_INVALID)
        return rc;
    if (rc != 0)
        return concert_sys_error_set(CONCERT_EINTERNAL, "postgresql: queue step returned %d", rc);
    if (!out)
        return CONCERT_OK;
    if (PQgetisnull(res, 0, 1) ||
        strlen(PQgetvalue(res, 0, 1)) >= sizeof(out->info.token))
        return concert_sys_error_set(CONCERT_EINTERNAL, "postgresql: malformed token row");
    memset(out, 0, sizeof(*out));
    col_text(res, 0, 1, out->info.token, sizeof(out->info.token));
    if (expect_token && !concert_sys_token_equal(out->info.token, expect_token)) {
        memset(out, 0, sizeof(*out));
        return CONCERT_ETOKEN_INVALID;
    }
    out->info.user_id = col_int(res, 0, 2);
    out->info.state = (int32_t)col_int(res, 0, 3);
    out->info.is_new = (int32_t)col_int(res, 0, 4);
    out->info.position = col_int(res, 0, 5);
    out->info.eta_ms = -1;
    out->info.expires_at = col_int(res, 0, 6);
    out->admit_rate_mps = rate_now;
    return CONCERT_OK;
}

static void queue_params_add(pg_params *p, const concert_queue_params *q)
{
    param_int(p, q->max_active);
    param_int(p, q->active_ttl_ms);
    param_int(p, q->wait_ttl_ms);
}

static int pg_queue_issue(concert_storage *self, const concert_queue_params *params,
                          int64_t user_id, const char *new_token, int64_t now,
                          concert_storage_token *out)
{
    pg_store *st = (pg_store *)self;
    pg_params p = {0};
    PGresult *res;
    int rc;

    param_int(&p, user_id);
    param_text(&p, new_token);
    param_int(&p, now);
    queue_params_add(&p, params);
    if ((rc = pgb_query(st, PG_Q_ISSUE, &p, 1, &res)) != 0)
        return rc;
    rc = token_row(st, res, now, NULL, out);
    PQclear(res);
    if (rc == CONCERT_EUSER_NOT_FOUND)
        return concert_sys_error_set(rc, "user %lld not found", (long long)user_id);
    return rc;
}

/*
 * The fast path of a status check: one read of the state row and the token.
 * Returns 1 when it answered (rc in *rc), 0 when admission may have work, so
 * the full server-side step must run instead.
 */
static int queue_status_peek(pg_store *st, const concert_queue_params *params, const char *token,
                             int64_t now, concert_storage_token *out, int *rc)
{
    pg_params p = {0};
    PGresult *res;
    int64_t active, through, last, ticket, state, last_seen, expires_at;

    param_text(&p, token);
    param_int(&p, now);
    if ((*rc = pgb_query(st, PG_Q_PEEK, &p, 0, &res)) != 0)
        return 1;
    if (PQntuples(res) != 1) {
        PQclear(res);
        *rc = concert_sys_error_set(CONCERT_EINTERNAL, "postgresql: queue state row missing");
        return 1;
    }
    active = col_int(res, 0, 0);
    through = col_int(res, 0, 1);
    last = col_int(res, 0, 2);
    if (strcmp(PQgetvalue(res, 0, 10), "t") == 0 ||
        (active < params->max_active && through < last)) {
        PQclear(res);
        return 0;
    }
    if (PQgetisnull(res, 0, 4) || strlen(PQgetvalue(res, 0, 5)) >= sizeof(out->info.token) ||
        !concert_sys_token_equal(PQgetvalue(res, 0, 5), token)) {
        PQclear(res);
        *rc = concert_sys_error_set(CONCERT_ETOKEN_INVALID, "token invalid: unknown token");
        return 1;
    }
    memset(out, 0, sizeof(*out));
    col_text(res, 0, 5, out->info.token, sizeof(out->info.token));
    out->info.user_id = col_int(res, 0, 6);
    out->info.eta_ms = -1;
    out->admit_rate_mps = col_int(res, 0, 3);
    ticket = col_int(res, 0, 4);
    state = col_int(res, 0, 7);
    last_seen = col_int(res, 0, 8);
    expires_at = col_int(res, 0, 9);
    PQclear(res);

    if (state == CONCERT_TOKEN_WAITING && ticket > through && now < last_seen + params->wait_ttl_ms) {
        pg_params touch = {0};
        param_int(&touch, ticket);
        param_int(&touch, now);
        if ((*rc = pgb_query(st, PG_Q_TOUCH, &touch, 1, &res)) != 0)
            return 1;
        PQclear(res);
        out->info.state = CONCERT_TOKEN_WAITING;
        out->info.position = ticket - through;
        out->info.expires_at = (now > last_seen ? now : last_seen) + params->wait_ttl_ms;
    } else if (state == CONCERT_TOKEN_ACTIVE && now < expires_at) {
        out->info.state = CONCERT_TOKEN_ACTIVE;
        out->info.expires_at = expires_at;
    } else {
        out->info.state = CONCERT_TOKEN_ENDED;
    }
    *rc = CONCERT_OK;
    return 1;
}

static int pg_queue_status(concert_storage *self, const concert_queue_params *params,
                           const char *token, int64_t now, concert_storage_token *out)
{
    pg_store *st = (pg_store *)self;
    pg_params p = {0};
    PGresult *res;
    int rc;

    if (queue_status_peek(st, params, token, now, out, &rc))
        return rc;
    param_text(&p, token);
    param_int(&p, now);
    queue_params_add(&p, params);
    if ((rc = pgb_query(st, PG_Q_STATUS, &p, 1, &res)) != 0)
        return rc;
    rc = token_row(st, res, now, token, out);
    PQclear(res);
    if (rc == CONCERT_ETOKEN_INVALID)
        return concert_sys_error_set(rc, "token invalid: unknown token");
    return rc;
}

static int pg_queue_leave(concert_storage *self, const concert_queue_params *params,
                          const char *token, int64_t now)
{
    pg_store *st = (pg_store *)self;
    pg_params p = {0};
    PGresult *res;
    int rc;

    param_text(&p, token);
    param_int(&p, now);
    queue_params_add(&p, params);
    if ((rc = pgb_query(st, PG_Q_LEAVE, &p, 1, &res)) != 0)
        return rc;
    rc = token_row(st, res, now, NULL, NULL);
    PQclear(res);
    if (rc == CONCERT_ETOKEN_INVALID)
        return concert_sys_error_set(rc, "token invalid: unknown, expired or ended");
    return rc;
}

static int pg_queue_stats(concert_storage *self, const concert_queue_params *params, int64_t now,
                          concert_queue_stats *out)
{
    pg_store *st = (pg_store *)self;
    pg_params p = {0};
    PGresult *res;
    int rc;

    param_int(&p, now);
    queue_params_add(&p, params);
    if ((rc = pgb_query(st, PG_Q_STATS, &p, 1, &res)) != 0)
        return rc;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return concert_sys_error_set(CONCERT_EINTERNAL, "postgresql: queue state row missing");
    }
    memset(out, 0, sizeof(*out));
    out->active = col_int(res, 0, 0);
    out->admitted_through = col_int(res, 0, 1);
    out->last_ticket = col_int(res, 0, 2);
    out->waiting = out->last_ticket - out->admitted_through;
    out->max_active = params->max_active;
    if (col_int(res, 0, 3) > 0) {
        concert_sys_rate rate = {col_int(res, 0, 4), col_int(res, 0, 5), col_int(res, 0, 6)};
        rate_record(st, col_int(res, 0, 3), now, rate);
    }
    PQclear(res);
    return CONCERT_OK;
}

void pgb_install_queue(concert_storage *base)
{
    base->queue_issue = pg_queue_issue;
    base->queue_status = pg_queue_status;
    base->queue_leave = pg_queue_leave;
    base->queue_stats = pg_queue_stats;
}

#else
/* Built without PostgreSQL: postgres.c alone provides the entry point. */
typedef int concert_postgres_compiled_out;
#endif
