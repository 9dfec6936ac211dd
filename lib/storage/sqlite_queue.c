/*
 * SQLite backend: the waiting queue.
 *
 * One queue_state row holds last_ticket, admitted_through, the active count
 * and the admission-rate fields; tokens are keyed by their text with a unique
 * index on ticket. A position is ticket - admitted_through and admission
 * looks at each ticket once, so nothing here ever counts waiting rows.
 *
 * Admission writes, so every queue step is a BEGIN IMMEDIATE transaction on
 * the writer, with one exception that matters for throughput: a status poll
 * of a token that is not WAITING, at a moment when admission would change
 * nothing, is answered from a read snapshot on a pooled reader. That answer
 * is exactly what the write path would give (admission is a no-op and the
 * token row is not touched), and it lets every buyer call's token check run
 * in parallel instead of queueing for the one writer.
 */
#ifdef CONCERT_HAVE_SQLITE

#include <stdio.h>
#include <string.h>

#include "sqlite_internal.h"

typedef struct queue_state {
    int64_t last_ticket;
    int64_t admitted_through;
    int64_t active;
    concert_sys_rate rate;
} queue_state;

typedef struct token_row {
    char token[CONCERT_TOKEN_SIZE];
    int64_t ticket;
    int64_t user_id;
    int32_t state;
    int64_t last_seen;
    int64_t expires_at;
} token_row;

static const char SQL_STATE_GET[] =
    "SELECT last_ticket, admitted_through, active, rate_mps, rate_window_start, "
    "rate_window_count FROM queue_state WHERE id = 1";
static const char SQL_STATE_PUT[] =
    "UPDATE queue_state SET last_ticket = ?1, admitted_through = ?2, active = ?3, "
    "rate_mps = ?4, rate_window_start = ?5, rate_window_count = ?6 WHERE id = 1";
static const char SQL_SETTLE_EXPIRED[] =
    "UPDATE tokens SET state = 3 WHERE state = 2 AND expires_at <= ?1";
static const char SQL_ANY_EXPIRED[] =
    "SELECT 1 FROM tokens WHERE state = 2 AND expires_at <= ?1 LIMIT 1";
static const char SQL_BY_TICKET[] = "SELECT token, state, last_seen FROM tokens WHERE ticket = ?1";
static const char SQL_ADMIT[] = "UPDATE tokens SET state = 2, expires_at = ?2 WHERE token = ?1";
static const char SQL_END[] = "UPDATE tokens SET state = 3 WHERE token = ?1";
static const char SQL_TOUCH[] = "UPDATE tokens SET last_seen = ?2 WHERE token = ?1";
static const char SQL_BY_TOKEN[] =
    "SELECT token, ticket, user_id, state, last_seen, expires_at FROM tokens WHERE token = ?1";
static const char SQL_OPEN_BY_USER[] =
    "SELECT token, ticket, user_id, state, last_seen, expires_at FROM tokens "
    "WHERE user_id = ?1 AND state < 3";
static const char SQL_INSERT[] =
    "INSERT INTO tokens (token, ticket, user_id, state, last_seen, expires_at) "
    "VALUES (?1, ?2, ?3, 1, ?4, 0)";
static const char SQL_USER_EXISTS[] = "SELECT 1 FROM users WHERE id = ?1";

static int state_get(sq_conn *c, queue_state *q, const char *what)
{
    sqlite3_stmt *st;
    int rc = sq_query(c, SQL_STATE_GET, NULL, 0, &st, what);
    if (rc != 0)
        return rc;
    rc = sq_step(c, st, what);
    if (rc == 0)
        return concert_sys_error_set(CONCERT_EINTERNAL, "sqlite: queue_state row is missing");
    if (rc < 0)
        return rc;
    q->last_ticket = sqlite3_column_int64(st, 0);
    q->admitted_through = sqlite3_column_int64(st, 1);
    q->active = sqlite3_column_int64(st, 2);
    q->rate.rate_mps = sqlite3_column_int64(st, 3);
    q->rate.window_start = sqlite3_column_int64(st, 4);
    q->rate.window_count = sqlite3_column_int64(st, 5);
    sq_done(st);
    return CONCERT_OK;
}

static int rate_equal(const concert_sys_rate *a, const concert_sys_rate *b)
{
    return a->rate_mps == b->rate_mps && a->window_start == b->window_start &&
           a->window_count == b->window_count;
}

/* Write the row back only if this step changed it: an unchanged transaction
 * commits without writing anything to the WAL. */
static int state_put(sq_conn *c, const queue_state *q, const queue_state *before,
                     const char *what)
{
    if (q->last_ticket == before->last_ticket && q->admitted_through == before->admitted_through &&
        q->active == before->active && rate_equal(&q->rate, &before->rate))
        return CONCERT_OK;
    return sq_exec(c, SQL_STATE_PUT,
                   SQ_ARGS(SQ_I(q->last_ticket), SQ_I(q->admitted_through), SQ_I(q->active),
                           SQ_I(q->rate.rate_mps), SQ_I(q->rate.window_start),
                           SQ_I(q->rate.window_count)),
                   what);
}

static void token_row_read(sqlite3_stmt *st, token_row *t)
{
    sq_text_copy(t->token, sizeof(t->token), st, 0);
    t->ticket = sqlite3_column_int64(st, 1);
    t->user_id = sqlite3_column_int64(st, 2);
    t->state = (int32_t)sqlite3_column_int64(st, 3);
    t->last_seen = sqlite3_column_int64(st, 4);
    t->expires_at = sqlite3_column_int64(st, 5);
}

/* 1 found, 0 unknown, < 0 error. The index finds the candidate; the text is
 * then confirmed in constant time, as the storage contract asks. */
static int token_find(sq_conn *c, const char *token, token_row *t, const char *what)
{
    sqlite3_stmt *st;
    int rc = sq_query(c, SQL_BY_TOKEN, SQ_ARGS(SQ_T(token)), &st, what);
    if (rc != 0)
        return rc;
    rc = sq_step(c, st, what);
    if (rc != 1)
        return rc;
    token_row_read(st, t);
    sq_done(st);
    return concert_sys_token_equal(t->token, token) ? 1 : 0;
}

static int token_live(const token_row *t, const concert_queue_params *p, int64_t now)
{
    if (t->state == SQ_TOKEN_WAITING)
        return now < t->last_seen + p->wait_ttl_ms;
    if (t->state == SQ_TOKEN_ACTIVE)
        return now < t->expires_at;
    return 0;
}

static void token_report(const token_row *t, const queue_state *q, const concert_queue_params *p,
                         int64_t now, concert_storage_token *out)
{
    memset(out, 0, sizeof(*out));
    memcpy(out->info.token, t->token, sizeof(out->info.token));
    out->info.user_id = t->user_id;
    out->info.eta_ms = -1;
    out->admit_rate_mps = q->rate.rate_mps;
    if (!token_live(t, p, now)) {
        out->info.state = CONCERT_TOKEN_ENDED;
        return;
    }
    out->info.state = t->state;
    if (t->state == SQ_TOKEN_ACTIVE) {
        out->info.expires_at = t->expires_at;
    } else {
        int64_t position = t->ticket - q->admitted_through;
        out->info.position = position > 0 ? position : 1;
        out->info.expires_at = t->last_seen + p->wait_ttl_ms;
    }
}

/*
 * Admission (the storage contract's rule): settle expired ACTIVE tokens, then
 * look at each next ticket once while there is room, admitting live WAITING
 * ones and ending idle ones, then feed the rate estimator.
 */
static int admission(sq_conn *c, queue_state *q, const concert_queue_params *p, int64_t now,
                     const char *what)
{
    int64_t admitted = 0;
    int rc;

    if ((rc = sq_exec(c, SQL_SETTLE_EXPIRED, SQ_ARGS(SQ_I(now)), what)) != 0)
        return rc;
    q->active -= sq_changes(c);
    while (q->active < p->max_active && q->admitted_through < q->last_ticket) {
        int64_t ticket = q->admitted_through + 1;
        char token[CONCERT_TOKEN_SIZE];
        int32_t state = 0;
        int64_t last_seen = 0;
        sqlite3_stmt *st;

        if ((rc = sq_query(c, SQL_BY_TICKET, SQ_ARGS(SQ_I(ticket)), &st, what)) != 0)
            return rc;
        rc = sq_step(c, st, what);
        if (rc < 0)
            return rc;
        if (rc == 1) {
            sq_text_copy(token, sizeof(token), st, 0);
            state = (int32_t)sqlite3_column_int64(st, 1);
            last_seen = sqlite3_column_int64(st, 2);
            sq_done(st);
        }
        if (state == SQ_TOKEN_WAITING && now < last_seen + p->wait_ttl_ms) {
            rc = sq_exec(c, SQL_ADMIT, SQ_ARGS(SQ_T(token), SQ_I(now + p->active_ttl_ms)), what);
            q->active++;
            admitted++;
        } else if (state == SQ_TOKEN_WAITING) {
            rc = sq_exec(c, SQL_END, SQ_ARGS(SQ_T(token)), what); /* idle: dropped */
        }
        if (rc < 0)
            return rc;
        q->admitted_through = ticket;
    }
    concert_sys_rate_observe(&q->rate, admitted, now);
    return CONCERT_OK;
}

/* Would admission at now change anything? Read-only; used by the fast paths. */
static int admission_needed(sq_conn *c, const queue_state *q, const concert_queue_params *p,
                            int64_t now, const char *what)
{
    concert_sys_rate probe = q->rate;
    int64_t one = 0;
    int rc;

    if (q->active < p->max_active && q->admitted_through < q->last_ticket)
        return 1;
    concert_sys_rate_observe(&probe, 0, now);
    if (!rate_equal(&probe, &q->rate))
        return 1;
    rc = sq_one_i64(c, SQL_ANY_EXPIRED, SQ_ARGS(SQ_I(now)), &one, what);
    return rc; /* 1: an ACTIVE token to settle; 0: nothing; < 0: error */
}

static sq_store *store_of(concert_storage *self)
{
    return (sq_store *)self;
}

/* Ends a token row; an ACTIVE one leaves the active count here, once. */
static int token_end(sq_conn *c, queue_state *q, const token_row *t, const char *what)
{
    int rc = sq_exec(c, SQL_END, SQ_ARGS(SQ_T(t->token)), what);
    if (rc == 0 && t->state == SQ_TOKEN_ACTIVE)
        q->active--;
    return rc;
}

static int issue_step(sq_conn *c, const concert_queue_params *params, int64_t user_id,
                      const char *new_token, int64_t now, concert_storage_token *out)
{
    const char *what = "queue_issue";
    queue_state q, before;
    token_row t;
    int64_t one = 0;
    int is_new = 0, found = 0, rc;
    sqlite3_stmt *st;

    rc = sq_one_i64(c, SQL_USER_EXISTS, SQ_ARGS(SQ_I(user_id)), &one, what);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return concert_sys_error_set(CONCERT_EUSER_NOT_FOUND, "user %lld not found",
                                     (long long)user_id);
    if ((rc = state_get(c, &q, what)) != 0)
        return rc;
    before = q;

    if ((rc = sq_query(c, SQL_OPEN_BY_USER, SQ_ARGS(SQ_I(user_id)), &st, what)) != 0)
        return rc;
    if ((rc = sq_step(c, st, what)) < 0)
        return rc;
    if (rc == 1) {
        token_row_read(st, &t);
        sq_done(st);
        found = 1;
    }
    if (found && token_live(&t, params, now)) {
        /* The user's live token; asking for it again counts as a poll. */
        if (t.state == SQ_TOKEN_WAITING &&
            (rc = sq_exec(c, SQL_TOUCH, SQ_ARGS(SQ_T(t.token), SQ_I(now)), what)) != 0)
            return rc;
    } else {
        /* A stale open row is ended first: at most one open row per user. */
        if (found && (rc = token_end(c, &q, &t, what)) != 0)
            return rc;
        q.last_ticket++;
        rc = sq_exec(c, SQL_INSERT,
                     SQ_ARGS(SQ_T(new_token), SQ_I(q.last_ticket), SQ_I(user_id), SQ_I(now)),
                     what);
        if (rc != 0)
            return rc;
        memset(&t, 0, sizeof(t));
        snprintf(t.token, sizeof(t.token), "%s", new_token);
        is_new = 1;
    }
    if ((rc = admission(c, &q, params, now, what)) != 0 ||
        (rc = state_put(c, &q, &before, what)) != 0)
        return rc;
    if ((rc = token_find(c, t.token, &t, what)) < 0)
        return rc;
    if (rc == 0)
        return concert_sys_error_set(CONCERT_EINTERNAL, "sqlite: issued token vanished");
    token_report(&t, &q, params, now, out);
    out->info.is_new = is_new;
    return CONCERT_OK;
}

int sq_queue_issue(concert_storage *self, const concert_queue_params *params, int64_t user_id,
                   const char *new_token, int64_t now, concert_storage_token *out)
{
    sq_store *s = store_of(self);
    sq_conn *c;
    int rc = sq_write_begin(s, 0, &c, "queue_issue");
    if (rc != 0)
        return rc;
    rc = issue_step(c, params, user_id, new_token, now, out);
    return sq_write_end(s, c, rc, "queue_issue");
}

static int token_unknown(void)
{
    return concert_sys_error_set(CONCERT_ETOKEN_INVALID, "token invalid: unknown token");
}

/* The read-only answer, when it is the whole answer: 1 answered (rc in
 * *result), 0 the write path is needed, < 0 error. */
static int status_fast(sq_store *s, const concert_queue_params *params, const char *token,
                       int64_t now, concert_storage_token *out, int *result)
{
    const char *what = "queue_status";
    queue_state q;
    token_row t;
    sq_conn *c;
    int rc, answered = 0;

    if ((rc = sq_read_begin(s, 1, &c, what)) != 0)
        return rc;
    if ((rc = state_get(c, &q, what)) == 0 &&
        (rc = admission_needed(c, &q, params, now, what)) == 0) {
        rc = token_find(c, token, &t, what);
        if (rc == 0) {
            *result = token_unknown();
            answered = 1;
        } else if (rc == 1 && t.state != SQ_TOKEN_WAITING) {
            token_report(&t, &q, params, now, out);
            *result = CONCERT_OK;
            answered = 1;
        }
        if (rc >= 0)
            rc = 0;
    }
    if (rc > 0)
        rc = 0; /* admission needed: not an error */
    rc = sq_read_end(s, c, 1, rc, what);
    return rc < 0 ? rc : answered;
}

static int status_step(sq_conn *c, const concert_queue_params *params, const char *token,
                       int64_t now, concert_storage_token *out)
{
    const char *what = "queue_status";
    queue_state q, before;
    token_row t;
    int rc;

    if ((rc = state_get(c, &q, what)) != 0)
        return rc;
    before = q;
    if ((rc = admission(c, &q, params, now, what)) != 0)
        return rc;
    if ((rc = token_find(c, token, &t, what)) < 0)
        return rc;
    if (rc == 0) {
        /* Admission still happened; keep it. */
        if ((rc = state_put(c, &q, &before, what)) != 0)
            return rc;
        return 1; /* unknown: reported after the commit */
    }
    if (t.state == SQ_TOKEN_WAITING) {
        if (token_live(&t, params, now)) {
            rc = sq_exec(c, SQL_TOUCH, SQ_ARGS(SQ_T(t.token), SQ_I(now)), what);
            t.last_seen = now;
        } else {
            rc = token_end(c, &q, &t, what); /* idle: dropped now rather than later */
            t.state = SQ_TOKEN_ENDED;
        }
        if (rc != 0)
            return rc;
    }
    if ((rc = state_put(c, &q, &before, what)) != 0)
        return rc;
    token_report(&t, &q, params, now, out);
    return CONCERT_OK;
}

int sq_queue_status(concert_storage *self, const concert_queue_params *params, const char *token,
                    int64_t now, concert_storage_token *out)
{
    sq_store *s = store_of(self);
    sq_conn *c;
    int result = 0;
    int rc = status_fast(s, params, token, now, out, &result);
    if (rc < 0)
        return rc;
    if (rc == 1)
        return result;
    if ((rc = sq_write_begin(s, 0, &c, "queue_status")) != 0)
        return rc;
    rc = status_step(c, params, token, now, out);
    if (rc == 1) { /* unknown token: commit the admission, then say so */
        rc = sq_write_end(s, c, 0, "queue_status");
        return rc != 0 ? rc : token_unknown();
    }
    return sq_write_end(s, c, rc, "queue_status");
}

static int leave_step(sq_conn *c, const concert_queue_params *params, const char *token,
                      int64_t now)
{
    const char *what = "queue_leave";
    queue_state q, before;
    token_row t;
    int rc;

    if ((rc = state_get(c, &q, what)) != 0)
        return rc;
    before = q;
    if ((rc = token_find(c, token, &t, what)) < 0)
        return rc;
    if (rc == 0)
        return token_unknown();
    if (!token_live(&t, params, now))
        return concert_sys_error_set(CONCERT_ETOKEN_INVALID,
                                     "token invalid: expired, dropped or already ended");
    if ((rc = token_end(c, &q, &t, what)) != 0 ||
        (rc = admission(c, &q, params, now, what)) != 0)
        return rc;
    return state_put(c, &q, &before, what);
}

int sq_queue_leave(concert_storage *self, const concert_queue_params *params, const char *token,
                   int64_t now)
{
    sq_store *s = store_of(self);
    sq_conn *c;
    int rc = sq_write_begin(s, 0, &c, "queue_leave");
    if (rc != 0)
        return rc;
    rc = leave_step(c, params, token, now);
    return sq_write_end(s, c, rc, "queue_leave");
}

static void stats_fill(const queue_state *q, const concert_queue_params *p,
                       concert_queue_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->active = q->active;
    out->waiting = q->last_ticket - q->admitted_through;
    out->max_active = p->max_active;
    out->admitted_through = q->admitted_through;
    out->last_ticket = q->last_ticket;
}

int sq_queue_stats(concert_storage *self, const concert_queue_params *params, int64_t now,
                   concert_queue_stats *out)
{
    const char *what = "queue_stats";
    sq_store *s = store_of(self);
    queue_state q, before;
    sq_conn *c;
    int rc, needed;

    /* Same shortcut as status: read when admission has nothing to do. */
    if ((rc = sq_read_begin(s, 1, &c, what)) != 0)
        return rc;
    rc = state_get(c, &q, what);
    needed = rc == 0 ? admission_needed(c, &q, params, now, what) : rc;
    if (needed == 0)
        stats_fill(&q, params, out);
    rc = sq_read_end(s, c, 1, needed < 0 ? needed : 0, what);
    if (rc != 0 || needed == 0)
        return rc;

    if ((rc = sq_write_begin(s, 0, &c, what)) != 0)
        return rc;
    if ((rc = state_get(c, &q, what)) == 0) {
        before = q;
        if ((rc = admission(c, &q, params, now, what)) == 0 &&
            (rc = state_put(c, &q, &before, what)) == 0)
            stats_fill(&q, params, out);
    }
    return sq_write_end(s, c, rc, what);
}

#else
typedef int concert_sqlite_queue_compiled_out;
#endif
