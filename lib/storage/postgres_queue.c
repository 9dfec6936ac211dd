/*
 * PostgreSQL backend: the waiting queue. Each step is one server-side
 * function call (concert_fn.queue_*), except the common cases of a status
 * check and of the stats refresh, which are a single read (PG_Q_PEEK,
 * PG_Q_STATS_PEEK) when admission has nothing to do. The opening lottery
 * and settings changes are in postgres_lottery.c.
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
int64_t pgb_rate_record(pg_store *st, int64_t admitted, int64_t now, concert_sys_rate seen)
{
    for (int attempt = 0; attempt < 4; attempt++) {
        concert_sys_rate next = seen;
        pg_params p = { 0 };
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

/* The queue row as read without locks (PG_QUEUE_VIEW_COLUMNS). */
typedef struct queue_view {
    int64_t active, through, last, pace_us, prequeued;
    int expired; /* an ACTIVE token has ended and is not yet settled */
    concert_queue_settings settings;
    concert_sys_rate rate;
} queue_view;

static void view_read(const PGresult *res, int first, queue_view *v)
{
    memset(v, 0, sizeof(*v));
    v->active = col_int(res, 0, first + PG_QV_ACTIVE);
    v->through = col_int(res, 0, first + PG_QV_THROUGH);
    v->last = col_int(res, 0, first + PG_QV_LAST);
    v->rate.rate_mps = col_int(res, 0, first + PG_QV_RATE);
    v->rate.window_start = col_int(res, 0, first + PG_QV_WINDOW_START);
    v->rate.window_count = col_int(res, 0, first + PG_QV_WINDOW_COUNT);
    v->settings.max_active = col_int(res, 0, first + PG_QV_MAX_ACTIVE);
    v->settings.admit_per_minute = col_int(res, 0, first + PG_QV_PER_MINUTE);
    v->settings.state = (int32_t)col_int(res, 0, first + PG_QV_STATE);
    v->settings.opens_at = col_int(res, 0, first + PG_QV_OPENS_AT);
    v->pace_us = col_int(res, 0, first + PG_QV_PACE);
    v->prequeued = col_int(res, 0, first + PG_QV_PREQUEUED);
    v->expired = strcmp(PQgetvalue(res, 0, first + PG_QV_EXPIRED), "t") == 0;
}

static int view_opening_due(const queue_view *v, int64_t now)
{
    return v->settings.state == CONCERT_QUEUE_SCHEDULED && now >= v->settings.opens_at;
}

/* Whether admission may have work: the same test as concert_fn.admit_wanted,
 * with the budget from the one C definition. */
static int view_admission_wanted(const queue_view *v, int64_t now)
{
    return v->expired || (v->through < v->last &&
                          concert_sys_admit_budget(&v->settings, v->pace_us,
                                                   v->settings.max_active - v->active, now) > 0);
}

/* Decode a concert_fn.token_row; expect_token (may be NULL) is the text the
 * caller looked up, compared in constant time. PG_OPENING_DUE passes through. */
static int token_row(pg_store *st, PGresult *res, int64_t now, const char *expect_token,
                     concert_storage_token *out)
{
    concert_sys_rate rate;
    int64_t admitted, rate_now;
    int rc;

    if (PQntuples(res) != 1 || PQnfields(res) < 13)
        return concert_sys_error_set(CONCERT_EINTERNAL, "postgresql: malformed queue reply");
    rc = (int)col_int(res, 0, 0);
    if (rc == PG_OPENING_DUE)
        return rc;
    admitted = col_int(res, 0, 7);
    rate.rate_mps = col_int(res, 0, 8);
    rate.window_start = col_int(res, 0, 9);
    rate.window_count = col_int(res, 0, 10);
    rate_now = rate.rate_mps;
    if (admitted > 0)
        rate_now = pgb_rate_record(st, admitted, now, rate);
    if (rc == CONCERT_EUSER_NOT_FOUND || rc == CONCERT_ETOKEN_INVALID)
        return rc;
    if (rc == CONCERT_EQUEUE_CLOSED)
        return concert_sys_error_set(rc, "the queue is CLOSED to new joins");
    if (rc != 0)
        return concert_sys_error_set(CONCERT_EINTERNAL, "postgresql: queue step returned %d", rc);
    if (!out)
        return CONCERT_OK;
    if (PQgetisnull(res, 0, 1) || strlen(PQgetvalue(res, 0, 1)) >= sizeof(out->info.token))
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
    out->ticket = col_int(res, 0, 11);
    out->queue_state = (int32_t)col_int(res, 0, 12);
    return CONCERT_OK;
}

static void queue_params_add(pg_params *p, const concert_queue_params *q)
{
    param_int(p, q->active_ttl_ms);
    param_int(p, q->wait_ttl_ms);
}

/* One attempt at a queue step: 0, an error, or PG_OPENING_DUE when the
 * queue's scheduled opening must run first. */
typedef int (*queue_attempt_fn)(pg_store *st, const concert_queue_params *params, int64_t now,
                                void *ctx);

/* Run attempt; while it answers that the opening is due, run the opening
 * (the lottery: once, whichever process gets there first) and try again, a
 * bounded number of times. */
static int with_opening(pg_store *st, const concert_queue_params *params, int64_t now,
                        queue_attempt_fn attempt, void *ctx)
{
    for (int i = 0; i < PG_OPENING_ATTEMPTS; i++) {
        int rc = attempt(st, params, now, ctx);
        if (rc != PG_OPENING_DUE)
            return rc;
        if ((rc = pgb_opening(st, params, now)) != 0)
            return rc;
    }
    return concert_sys_error_set(CONCERT_EBUSY,
                                 "postgresql: the queue's opening stayed due after %d attempts",
                                 PG_OPENING_ATTEMPTS);
}

/*
 * A join that found room for its ticket but another join in flight (so it
 * could not take the queue lock without waiting) runs admission now that it
 * has committed, so that a join with room is ACTIVE at once as on the other
 * stores. The join has happened either way: if this fails, the WAITING
 * report stands and the next refresh admits it.
 */
static void issue_admit_after(pg_store *st, const concert_queue_params *params, int64_t now,
                              concert_storage_token *out)
{
    concert_storage_token after;
    pg_params p = { 0 };
    PGresult *res;

    param_text(&p, out->info.token);
    param_int(&p, now);
    queue_params_add(&p, params);
    if (pgb_query(st, PG_Q_STATUS, &p, 1, &res) != 0)
        return;
    if (token_row(st, res, now, out->info.token, &after) == 0 &&
        after.info.state != CONCERT_TOKEN_ENDED) {
        after.info.is_new = out->info.is_new;
        *out = after;
    }
    PQclear(res);
}

typedef struct issue_args {
    int64_t user_id;
    const char *new_token;
    concert_storage_token *out;
} issue_args;

static int issue_attempt(pg_store *st, const concert_queue_params *params, int64_t now, void *ctx)
{
    issue_args *a = ctx;
    pg_params p = { 0 };
    PGresult *res;
    int rc, deferred;

    param_int(&p, a->user_id);
    param_text(&p, a->new_token);
    param_int(&p, now);
    queue_params_add(&p, params);
    param_int(&p, pg_retention(params->retention_ms));
    if ((rc = pgb_query(st, PG_Q_ISSUE, &p, 1, &res)) != 0)
        return rc;
    deferred = PQntuples(res) == 1 && PQnfields(res) > 7 && col_int(res, 0, 7) < 0;
    rc = token_row(st, res, now, NULL, a->out);
    PQclear(res);
    if (rc == 0 && deferred)
        issue_admit_after(st, params, now, a->out);
    return rc;
}

static int pg_queue_issue(concert_storage *self, const concert_queue_params *params,
                          int64_t user_id, const char *new_token, int64_t now,
                          concert_storage_token *out)
{
    issue_args a = { user_id, new_token, out };
    int rc = with_opening((pg_store *)self, params, now, issue_attempt, &a);
    if (rc == CONCERT_EUSER_NOT_FOUND)
        return concert_sys_error_set(rc, "user %lld not found", (long long)user_id);
    return rc;
}

/*
 * The fast path of a status check: one read of the state row and the token.
 * Returns 1 when it answered (rc in *rc, PG_OPENING_DUE included), 0 when
 * admission may have work, so the full server-side step must run instead.
 */
static int queue_status_peek(pg_store *st, const concert_queue_params *params, const char *token,
                             int64_t now, concert_storage_token *out, int *rc)
{
    enum {
        T_ID = PG_QV_COLUMNS,
        T_TICKET,
        T_TOKEN,
        T_USER,
        T_STATE,
        T_SEEN,
        T_EXPIRES
    };
    pg_params p = { 0 };
    PGresult *res;
    queue_view v;
    int64_t id, ticket, state, last_seen, expires_at;
    int prequeued;

    param_text(&p, token);
    param_int(&p, now);
    if ((*rc = pgb_query(st, PG_Q_PEEK, &p, 0, &res)) != 0)
        return 1;
    if (PQntuples(res) != 1) {
        PQclear(res);
        *rc = concert_sys_error_set(CONCERT_EINTERNAL, "postgresql: queue state row missing");
        return 1;
    }
    view_read(res, 0, &v);
    if (view_opening_due(&v, now)) {
        PQclear(res);
        *rc = PG_OPENING_DUE;
        return 1;
    }
    if (view_admission_wanted(&v, now)) {
        PQclear(res);
        return 0;
    }
    if (PQgetisnull(res, 0, T_ID) ||
        strlen(PQgetvalue(res, 0, T_TOKEN)) >= sizeof(out->info.token) ||
        !concert_sys_token_equal(PQgetvalue(res, 0, T_TOKEN), token)) {
        PQclear(res);
        *rc = concert_sys_error_set(CONCERT_ETOKEN_INVALID, "token invalid: unknown token");
        return 1;
    }
    memset(out, 0, sizeof(*out));
    col_text(res, 0, T_TOKEN, out->info.token, sizeof(out->info.token));
    out->info.user_id = col_int(res, 0, T_USER);
    out->info.eta_ms = -1;
    out->admit_rate_mps = v.rate.rate_mps;
    out->queue_state = v.settings.state;
    id = col_int(res, 0, T_ID);
    prequeued = PQgetisnull(res, 0, T_TICKET);
    ticket = col_int(res, 0, T_TICKET);
    state = col_int(res, 0, T_STATE);
    last_seen = col_int(res, 0, T_SEEN);
    expires_at = col_int(res, 0, T_EXPIRES);
    PQclear(res);

    if (state == CONCERT_TOKEN_WAITING && now < last_seen + params->wait_ttl_ms &&
        (prequeued || ticket > v.through)) {
        pg_params touch = { 0 };
        param_int(&touch, id);
        param_int(&touch, now);
        if ((*rc = pgb_query(st, PG_Q_TOUCH, &touch, 1, &res)) != 0)
            return 1;
        PQclear(res);
        out->info.state = CONCERT_TOKEN_WAITING;
        out->info.position = prequeued ? CONCERT_POSITION_PREQUEUE : ticket - v.through;
        out->ticket = ticket;
        out->info.expires_at = (now > last_seen ? now : last_seen) + params->wait_ttl_ms;
    } else if (state == CONCERT_TOKEN_ACTIVE && now < expires_at) {
        out->info.state = CONCERT_TOKEN_ACTIVE;
        out->info.expires_at = expires_at;
        out->ticket = ticket;
    } else {
        if (state == CONCERT_TOKEN_WAITING && now >= last_seen + params->wait_ttl_ms) {
            /* idle: reported ENDED, so ended for good (a step at an
             * earlier `now` must not find it WAITING again) */
            pg_params drop = { 0 };
            int dropped;
            param_int(&drop, id);
            param_int(&drop, now);
            param_int(&drop, params->wait_ttl_ms);
            if ((*rc = pgb_query(st, PG_Q_DROP_IDLE, &drop, 1, &res)) != 0)
                return 1;
            dropped = strcmp(PQcmdTuples(res), "1") == 0;
            PQclear(res);
            if (!dropped)
                return 0; /* a poll moved it on: the full step decides */
        }
        out->info.state = CONCERT_TOKEN_ENDED;
        out->ticket = ticket;
    }
    *rc = CONCERT_OK;
    return 1;
}

typedef struct token_args {
    const char *token;
    concert_storage_token *out; /* NULL for a leave */
} token_args;

static int status_attempt(pg_store *st, const concert_queue_params *params, int64_t now, void *ctx)
{
    token_args *a = ctx;
    pg_params p = { 0 };
    PGresult *res;
    int rc;

    if (queue_status_peek(st, params, a->token, now, a->out, &rc))
        return rc;
    param_text(&p, a->token);
    param_int(&p, now);
    queue_params_add(&p, params);
    if ((rc = pgb_query(st, PG_Q_STATUS, &p, 1, &res)) != 0)
        return rc;
    rc = token_row(st, res, now, a->token, a->out);
    PQclear(res);
    return rc;
}

static int pg_queue_status(concert_storage *self, const concert_queue_params *params,
                           const char *token, int64_t now, concert_storage_token *out)
{
    token_args a = { token, out };
    int rc = with_opening((pg_store *)self, params, now, status_attempt, &a);
    if (rc == CONCERT_ETOKEN_INVALID)
        return concert_sys_error_set(rc, "token invalid: unknown token");
    return rc;
}

static int leave_attempt(pg_store *st, const concert_queue_params *params, int64_t now, void *ctx)
{
    token_args *a = ctx;
    pg_params p = { 0 };
    PGresult *res;
    int rc;

    param_text(&p, a->token);
    param_int(&p, now);
    queue_params_add(&p, params);
    if ((rc = pgb_query(st, PG_Q_LEAVE, &p, 1, &res)) != 0)
        return rc;
    rc = token_row(st, res, now, NULL, NULL);
    PQclear(res);
    return rc;
}

static int pg_queue_leave(concert_storage *self, const concert_queue_params *params,
                          const char *token, int64_t now)
{
    token_args a = { token, NULL };
    int rc = with_opening((pg_store *)self, params, now, leave_attempt, &a);
    if (rc == CONCERT_ETOKEN_INVALID)
        return concert_sys_error_set(rc, "token invalid: unknown, expired or ended");
    return rc;
}

static void stats_fill(const queue_view *v, int64_t rate_mps, concert_queue_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->active = v->active;
    out->waiting = v->last > v->through ? v->last - v->through : 0;
    out->max_active = v->settings.max_active;
    out->admitted_through = v->through;
    out->last_ticket = v->last;
    out->admit_per_minute = v->settings.admit_per_minute;
    out->state = v->settings.state;
    out->opens_at = v->settings.opens_at;
    out->prequeued = v->prequeued;
    out->admit_rate_mps = rate_mps;
    out->eta_ms = -1;
}

static int stats_attempt(pg_store *st, const concert_queue_params *params, int64_t now, void *ctx)
{
    concert_queue_stats *out = ctx;
    pg_params p = { 0 };
    PGresult *res;
    queue_view v;
    int64_t admitted, rate_mps;
    int rc;

    param_int(&p, now);
    if ((rc = pgb_query(st, PG_Q_STATS_PEEK, &p, 0, &res)) != 0)
        return rc;
    if (PQntuples(res) != 1 || PQnfields(res) != PG_QV_COLUMNS) {
        PQclear(res);
        return concert_sys_error_set(CONCERT_EINTERNAL, "postgresql: queue state row missing");
    }
    view_read(res, 0, &v);
    PQclear(res);
    if (view_opening_due(&v, now))
        return PG_OPENING_DUE;
    if (!view_admission_wanted(&v, now)) {
        stats_fill(&v, v.rate.rate_mps, out);
        return CONCERT_OK;
    }
    queue_params_add(&p, params);
    if ((rc = pgb_query(st, PG_Q_STATS, &p, 1, &res)) != 0)
        return rc;
    if (PQntuples(res) != 1 || PQnfields(res) != PG_QV_COLUMNS + 2) {
        PQclear(res);
        return concert_sys_error_set(CONCERT_EINTERNAL, "postgresql: malformed queue stats reply");
    }
    if (col_int(res, 0, 0) == PG_OPENING_DUE) {
        PQclear(res);
        return PG_OPENING_DUE;
    }
    view_read(res, 1, &v);
    admitted = col_int(res, 0, PG_QV_COLUMNS + 1);
    PQclear(res);
    rate_mps = admitted > 0 ? pgb_rate_record(st, admitted, now, v.rate) : v.rate.rate_mps;
    stats_fill(&v, rate_mps, out);
    return CONCERT_OK;
}

/*
 * The core's refresh of its cached view, every queue_refresh_ms per db: one
 * read when admission has nothing to do, else the server-side step that
 * admits under the queue lock.
 */
static int pg_queue_stats(concert_storage *self, const concert_queue_params *params, int64_t now,
                          concert_queue_stats *out)
{
    return with_opening((pg_store *)self, params, now, stats_attempt, out);
}

void pgb_install_queue(concert_storage *base)
{
    base->queue_issue = pg_queue_issue;
    base->queue_status = pg_queue_status;
    base->queue_leave = pg_queue_leave;
    base->queue_stats = pg_queue_stats;
    base->queue_configure = pgb_queue_configure;
}

#else
/* Built without PostgreSQL: postgres.c alone provides the entry point. */
typedef int concert_postgres_compiled_out;
#endif
