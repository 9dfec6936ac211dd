/*
 * SQLite backend: the waiting queue.
 *
 * One queue_state row holds last_ticket, admitted_through, the active count,
 * the admission-rate fields and the shared settings (sqlite_admission.c
 * reads, writes and admits); tokens are keyed by their text with a unique
 * index on ticket. A position is ticket - admitted_through and admission
 * looks at each ticket once, so nothing here ever counts waiting rows. A
 * pre-queued token (joined while SCHEDULED) holds a negative placeholder
 * until the opening lottery gives it a ticket.
 *
 * Admission writes, so every queue step is a BEGIN IMMEDIATE transaction on
 * the writer, with two exceptions that matter for throughput, taken only at
 * a moment when admission would change nothing: a status poll of a token
 * that is not WAITING, and queue_stats (the core's refresh of its cached
 * view, from every db every queue_refresh_ms). Both are answered from a read
 * snapshot on a pooled reader: exactly what the write path would give
 * (admission is a no-op and no row is touched), in parallel instead of
 * queueing for the one writer.
 */
#ifdef CONCERT_HAVE_SQLITE

#include <stdio.h>
#include <string.h>

#include "sqlite_internal.h"

typedef struct token_row {
    char token[CONCERT_TOKEN_SIZE];
    int64_t ticket; /* < 0: a pre-queue placeholder, no ticket yet */
    int64_t user_id;
    int32_t state;
    int64_t last_seen;
    int64_t expires_at;
} token_row;

static const char SQL_END[] = "UPDATE tokens SET state = 3, ended_at = ?2 WHERE token = ?1";
/* A poll at an earlier now (the clock went back) never moves the idle clock
 * back: the deadline a buyer was told stays good. */
static const char SQL_TOUCH[] = "UPDATE tokens SET last_seen = max(last_seen, ?2) WHERE token = ?1";
static const char SQL_BY_TOKEN[] =
    "SELECT token, ticket, user_id, state, last_seen, expires_at FROM tokens WHERE token = ?1";
static const char SQL_OPEN_BY_USER[] =
    "SELECT token, ticket, user_id, state, last_seen, expires_at FROM tokens "
    "WHERE user_id = ?1 AND state < 3";
static const char SQL_INSERT[] =
    "INSERT INTO tokens (token, ticket, user_id, state, last_seen, expires_at) "
    "VALUES (?1, ?2, ?3, 1, ?4, 0)";
static const char SQL_USER_EXISTS[] = "SELECT 1 FROM users WHERE id = ?1";

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

static void token_report(const token_row *t, const sq_queue *q, const concert_queue_params *p,
                         int64_t now, concert_storage_token *out)
{
    memset(out, 0, sizeof(*out));
    memcpy(out->info.token, t->token, sizeof(out->info.token));
    out->info.user_id = t->user_id;
    out->info.eta_ms = -1;
    out->admit_rate_mps = q->rate.rate_mps;
    out->ticket = t->ticket > 0 ? t->ticket : 0; /* a placeholder is no ticket */
    out->queue_state = q->set.state;
    if (!token_live(t, p, now)) {
        out->info.state = CONCERT_TOKEN_ENDED;
        return;
    }
    out->info.state = t->state;
    if (t->state == SQ_TOKEN_ACTIVE) {
        out->info.expires_at = t->expires_at;
        return;
    }
    out->info.expires_at = t->last_seen + p->wait_ttl_ms;
    if (t->ticket < 0) {
        out->info.position = CONCERT_POSITION_PREQUEUE;
    } else {
        int64_t position = t->ticket - q->admitted_through;
        out->info.position = position > 0 ? position : 1;
    }
}

static sq_store *store_of(concert_storage *self)
{
    return (sq_store *)self;
}

/* When an open token stops being live: now for one ended while live (a
 * leave), its own end for one found idle or run out (retention counts from
 * it, so a stale row is never kept longer than its true end allows). */
static int64_t token_end_time(const token_row *t, const concert_queue_params *p, int64_t now)
{
    const int64_t natural =
        t->state == SQ_TOKEN_ACTIVE ? t->expires_at : t->last_seen + p->wait_ttl_ms;
    return natural < now ? natural : now;
}

/* Ends a token row; an ACTIVE one leaves the active count here, once, and a
 * pre-queued one the pre-queue. */
static int token_end(sq_conn *c, sq_queue *q, const token_row *t, const concert_queue_params *p,
                     int64_t now, const char *what)
{
    int rc = sq_exec(c, SQL_END, SQ_ARGS(SQ_T(t->token), SQ_I(token_end_time(t, p, now))), what);
    if (rc == 0 && t->state == SQ_TOKEN_ACTIVE)
        q->active--;
    if (rc == 0 && t->state == SQ_TOKEN_WAITING && t->ticket < 0)
        q->prequeued--;
    return rc;
}

static int queue_closed(void)
{
    return concert_sys_error_set(CONCERT_EQUEUE_CLOSED,
                                 "queue closed: it takes no new buyers (tokens already in line "
                                 "keep their place)");
}

/* A new WAITING token for user_id: at the back of the line, or while
 * SCHEDULED in the pre-queue with the next placeholder instead of a ticket. */
static int token_insert(sq_conn *c, sq_queue *q, int64_t user_id, const char *new_token,
                        int64_t now, token_row *t, const char *what)
{
    int64_t ticket;
    int rc;

    if (q->set.state == CONCERT_QUEUE_SCHEDULED) {
        ticket = -(q->prequeue_seq + 1);
    } else {
        ticket = q->last_ticket + 1;
    }
    rc = sq_exec(c, SQL_INSERT, SQ_ARGS(SQ_T(new_token), SQ_I(ticket), SQ_I(user_id), SQ_I(now)),
                 what);
    if (rc != 0)
        return rc;
    if (ticket < 0) {
        q->prequeue_seq++;
        q->prequeued++;
    } else {
        q->last_ticket = ticket;
    }
    memset(t, 0, sizeof(*t));
    snprintf(t->token, sizeof(t->token), "%s", new_token);
    return CONCERT_OK;
}

static int issue_step(sq_conn *c, const concert_queue_params *params, int64_t user_id,
                      const char *new_token, int64_t now, concert_storage_token *out)
{
    const char *what = "queue_issue";
    sq_queue q, before;
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
    if ((rc = sq_queue_get(c, &q, what)) != 0)
        return rc;
    before = q;
    /* Admission's first step before the join: a join at or after opens_at
     * queues behind the lottery, not in it. */
    if ((rc = sq_opening(c, &q, params, now, what)) != 0)
        return rc;

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
        if (q.set.state == CONCERT_QUEUE_CLOSED)
            return queue_closed();
        /* A stale open row is ended first: at most one open row per user. */
        if (found && (rc = token_end(c, &q, &t, params, now, what)) != 0)
            return rc;
        if ((rc = token_insert(c, &q, user_id, new_token, now, &t, what)) != 0)
            return rc;
        is_new = 1;
    }
    if ((rc = sq_admission(c, &q, params, now, what)) != 0 ||
        (rc = sq_queue_put(c, &q, &before, what)) != 0)
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
    /* Each issue creates a token that will end: retention keeps pace. */
    if (rc == 0)
        rc = sq_prune_incidental(c, 1, now, params->retention_ms, "queue_issue");
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
    sq_queue q;
    token_row t;
    sq_conn *c;
    int rc, answered = 0;

    if ((rc = sq_read_begin(s, 1, &c, what)) != 0)
        return rc;
    if ((rc = sq_queue_get(c, &q, what)) == 0 &&
        (rc = sq_admission_needed(c, &q, now, what)) == 0) {
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
    sq_queue q, before;
    token_row t;
    int rc;

    if ((rc = sq_queue_get(c, &q, what)) != 0)
        return rc;
    before = q;
    if ((rc = sq_admission(c, &q, params, now, what)) != 0)
        return rc;
    if ((rc = token_find(c, token, &t, what)) < 0)
        return rc;
    if (rc == 0) {
        /* Admission still happened; keep it. */
        if ((rc = sq_queue_put(c, &q, &before, what)) != 0)
            return rc;
        return 1; /* unknown: reported after the commit */
    }
    if (t.state == SQ_TOKEN_WAITING) {
        if (token_live(&t, params, now)) {
            rc = sq_exec(c, SQL_TOUCH, SQ_ARGS(SQ_T(t.token), SQ_I(now)), what);
            if (now > t.last_seen)
                t.last_seen = now;
        } else {
            rc = token_end(c, &q, &t, params, now, what); /* idle: dropped now rather than later */
            t.state = SQ_TOKEN_ENDED;
        }
        if (rc != 0)
            return rc;
    }
    if ((rc = sq_queue_put(c, &q, &before, what)) != 0)
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
    sq_queue q, before;
    token_row t;
    int rc;

    if ((rc = sq_queue_get(c, &q, what)) != 0)
        return rc;
    before = q;
    if ((rc = token_find(c, token, &t, what)) < 0)
        return rc;
    if (rc == 0)
        return token_unknown();
    if (!token_live(&t, params, now))
        return concert_sys_error_set(CONCERT_ETOKEN_INVALID,
                                     "token invalid: expired, dropped or already ended");
    /* The opening first: a pre-queued token leaving at opens_at leaves the
     * line it was just given a place in. */
    if ((rc = sq_opening(c, &q, params, now, what)) != 0 ||
        (rc = token_find(c, token, &t, what)) < 0)
        return rc;
    if ((rc = token_end(c, &q, &t, params, now, what)) != 0 ||
        (rc = sq_admission(c, &q, params, now, what)) != 0)
        return rc;
    return sq_queue_put(c, &q, &before, what);
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

static void stats_fill(const sq_queue *q, concert_queue_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->active = q->active;
    out->waiting = q->last_ticket - q->admitted_through;
    out->max_active = q->set.max_active;
    out->admitted_through = q->admitted_through;
    out->last_ticket = q->last_ticket;
    out->admit_per_minute = q->set.admit_per_minute;
    out->state = q->set.state;
    out->opens_at = q->set.opens_at;
    out->prequeued = q->prequeued;
    out->admit_rate_mps = q->rate.rate_mps;
    out->eta_ms = -1; /* the core's */
}

/* The core refreshes its cached view of the queue through this every
 * queue_refresh_ms, so when admission has nothing to do it is answered from
 * a read snapshot, without the writer. */
int sq_queue_stats(concert_storage *self, const concert_queue_params *params, int64_t now,
                   concert_queue_stats *out)
{
    const char *what = "queue_stats";
    sq_store *s = store_of(self);
    sq_queue q, before;
    sq_conn *c;
    int rc, needed;

    if ((rc = sq_read_begin(s, 1, &c, what)) != 0)
        return rc;
    rc = sq_queue_get(c, &q, what);
    needed = rc == 0 ? sq_admission_needed(c, &q, now, what) : rc;
    if (needed == 0)
        stats_fill(&q, out);
    rc = sq_read_end(s, c, 1, needed < 0 ? needed : 0, what);
    if (rc != 0 || needed == 0)
        return rc;

    if ((rc = sq_write_begin(s, 0, &c, what)) != 0)
        return rc;
    if ((rc = sq_queue_get(c, &q, what)) == 0) {
        before = q;
        if ((rc = sq_admission(c, &q, params, now, what)) == 0 &&
            (rc = sq_queue_put(c, &q, &before, what)) == 0)
            stats_fill(&q, out);
    }
    return sq_write_end(s, c, rc, what);
}

/* The update, on a queue whose opening (if due) has already run. The core
 * has validated it; expect_state is judged against the state at now. */
static int configure_apply(sq_conn *c, sq_queue *q, const concert_queue_params *params,
                           const concert_queue_update *u, const char *what)
{
    int rc;

    if (u->expect_state != 0 && u->expect_state != q->set.state)
        return concert_sys_error_set(
            CONCERT_ECONFLICT, "queue update: the queue is %s, not %s",
            concert_queue_state_name(q->set.state) ? concert_queue_state_name(q->set.state)
                                                   : "in an unknown state",
            concert_queue_state_name(u->expect_state) ? concert_queue_state_name(u->expect_state)
                                                      : "that state");
    if (u->fields & CONCERT_QUEUE_SET_STATE) {
        /* Leaving SCHEDULED any way at all runs the lottery. */
        if (q->set.state == CONCERT_QUEUE_SCHEDULED && (rc = sq_lottery(c, q, params, what)) != 0)
            return rc;
        q->set.state = u->state;
        q->set.opens_at = 0;
    }
    if (u->fields & CONCERT_QUEUE_SET_OPENS_AT) {
        /* A queue already SCHEDULED keeps its pre-queue; only the time moves. */
        q->set.state = CONCERT_QUEUE_SCHEDULED;
        q->set.opens_at = u->opens_at;
    }
    if (u->fields & CONCERT_QUEUE_SET_MAX_ACTIVE) {
        q->set.max_active = u->max_active;
        /* Lowered below the ACTIVE count: those tokens keep their slot. */
        if (q->active_cap < q->set.max_active)
            q->active_cap = q->set.max_active;
        if (q->active_cap < q->active)
            q->active_cap = q->active;
    }
    if (u->fields & CONCERT_QUEUE_SET_ADMIT_PER_MINUTE)
        q->set.admit_per_minute = u->admit_per_minute;
    return CONCERT_OK;
}

static int configure_step(sq_conn *c, const concert_queue_params *params,
                          const concert_queue_update *u, int64_t now, concert_queue_settings *out)
{
    const char *what = "queue_configure";
    sq_queue q, before;
    int rc;

    if ((rc = sq_queue_get(c, &q, what)) != 0)
        return rc;
    before = q;
    if ((rc = sq_opening(c, &q, params, now, what)) != 0 ||
        (rc = configure_apply(c, &q, params, u, what)) != 0 ||
        (rc = sq_admission(c, &q, params, now, what)) != 0 ||
        (rc = sq_queue_put(c, &q, &before, what)) != 0)
        return rc;
    *out = q.set;
    return CONCERT_OK;
}

int sq_queue_configure(concert_storage *self, const concert_queue_params *params,
                       const concert_queue_update *update, int64_t now, concert_queue_settings *out)
{
    sq_store *s = store_of(self);
    sq_conn *c;
    /* An operator's change, rare: made durable like a payment. */
    int rc = sq_write_begin(s, 1, &c, "queue_configure");
    if (rc != 0)
        return rc;
    rc = configure_step(c, params, update, now, out);
    return sq_write_end(s, c, rc, "queue_configure");
}

#else
typedef int concert_sqlite_queue_compiled_out;
#endif
