/*
 * PostgreSQL storage backend over libpq.
 *
 * Shape: a pool of connections (opts->pool_size) shared by every thread;
 * each domain step is ONE statement, usually a call of a server-side
 * PL/pgSQL function (postgres_sql.h), so it is one round trip and one
 * transaction built on row locks and conditional UPDATEs. Statements are
 * prepared lazily per connection and take bound parameters only.
 *
 * Failures: serialization failures and deadlocks are retried a bounded
 * number of times, then CONCERT_EBUSY. A connection found dead (the server
 * restarted) is replaced, and the step retried once when it cannot have
 * committed. While the server is down every call fails fast with
 * CONCERT_ESTORAGE; timeouts (connect, statement, lock) bound every wait.
 * SQLSTATEs never leave this file; libpq's message goes to the error detail.
 * The schema is described in docs/storage-postgres.md.
 */
#include <concert/sys/storage.h>

#ifndef CONCERT_HAVE_POSTGRES

int concert_storage_postgres_open(concert_storage **out, const char *location,
                                  const concert_options *opts)
{
    (void)location;
    (void)opts;
    if (out)
        *out = NULL;
    return concert_sys_error_set(CONCERT_ENOTSUP,
                                 "postgresql: this libconcert was built without PostgreSQL "
                                 "support (configure with -DCONCERT_WITH_POSTGRES=ON and libpq)");
}

#else

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "postgres_sql.h"

/* ------------------------------------------------------------------ */
/* Statements                                                          */

#define PG_STMT_ENUM(id, sql) id,
#define PG_STMT_SQL(id, sql) sql,
#define PG_STMT_NAME(id, sql) #id,
typedef enum pg_stmt { PG_STATEMENTS(PG_STMT_ENUM) PG_STMT_COUNT } pg_stmt;
static const char *const PG_STMT_TEXT[] = {PG_STATEMENTS(PG_STMT_SQL)};
static const char *const PG_STMT_NAMES[] = {PG_STATEMENTS(PG_STMT_NAME)};

/* Bounded retries of serialization failures and deadlocks. */
#define PG_MAX_CONFLICT_RETRIES 8
/* Longer statement timeout for bulk work (catalog load, verify, schema). */
#define PG_BULK_TIMEOUT_SQL "SET LOCAL statement_timeout = '600s'; SET LOCAL lock_timeout = '60s'"
/* Schedules remembered (direct-mapped by id). */
#define PG_SCHEDULE_CACHE 512
/* Catalog rows sent per pipeline round trip. */
#define PG_PIPELINE_BATCH 256

/* ------------------------------------------------------------------ */
/* Types                                                               */

typedef struct pg_slot {
    PGconn *conn;      /* NULL: not connected (yet, or since a failure) */
    uint64_t prepared; /* bit per pg_stmt prepared on conn */
} pg_slot;

typedef struct pg_store {
    concert_storage base; /* first: the core sees only this */
    char **keywords;      /* libpq connection parameters, NULL-terminated */
    char **values;
    int slot_count;
    pg_slot *slots;
    int *idle; /* stack of idle slot indexes */
    int idle_count;
    int wait_ms; /* longest wait for a free connection */
    pthread_mutex_t mutex;
    pthread_cond_t freed;
    /* Schedules (with their concert's status) never change once loaded: the
     * library has no call that edits or deletes them, in any process. So a
     * found schedule is cached, saving a round trip on every reservation. */
    pthread_mutex_t cache_mutex;
    concert_storage_schedule schedule_cache[PG_SCHEDULE_CACHE];
} pg_store;

/* How a failure may be retried. */
typedef enum pg_fail_kind {
    PG_FAIL_FINAL,     /* report it */
    PG_FAIL_CONFLICT,  /* serialization failure or deadlock: retry */
    PG_FAIL_CONN_SAFE, /* connection lost, the step cannot have committed: retry once */
    PG_FAIL_CONN_DOUBT /* connection lost mid-write: outcome unknown, report */
} pg_fail_kind;

typedef struct pg_error {
    int code;
    pg_fail_kind kind;
    char message[480];
} pg_error;

/* Bound parameters, as text. */
typedef struct pg_params {
    int count;
    const char *values[8];
    char buffers[8][24];
} pg_params;

static void param_int(pg_params *p, int64_t v)
{
    snprintf(p->buffers[p->count], sizeof(p->buffers[0]), "%lld", (long long)v);
    p->values[p->count] = p->buffers[p->count];
    p->count++;
}

/* NULL text becomes SQL NULL. */
static void param_text(pg_params *p, const char *text)
{
    p->values[p->count++] = text;
}

static int64_t col_int(const PGresult *res, int row, int col)
{
    const char *text;
    char *end;
    long long v;
    if (PQgetisnull(res, row, col))
        return 0;
    text = PQgetvalue(res, row, col);
    errno = 0;
    v = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0')
        return 0;
    return (int64_t)v;
}

static void col_text(const PGresult *res, int row, int col, char *out, size_t size)
{
    snprintf(out, size, "%s", PQgetisnull(res, row, col) ? "" : PQgetvalue(res, row, col));
}

static void error_fill(pg_error *err, int code, pg_fail_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void error_fill(pg_error *err, int code, pg_fail_kind kind, const char *fmt, ...)
{
    va_list ap;
    err->code = code;
    err->kind = kind;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
}

/* libpq messages end with a newline and may span lines; keep the first. */
static void first_line(const char *text, char *out, size_t size)
{
    size_t n = strcspn(text ? text : "", "\r\n");
    if (n >= size)
        n = size - 1;
    memcpy(out, text ? text : "", n);
    out[n] = '\0';
}

static int sqlstate_is(const char *state, const char *want)
{
    return state && strcmp(state, want) == 0;
}

static int sqlstate_class(const char *state, const char *cls)
{
    return state && strncmp(state, cls, 2) == 0;
}

/*
 * Map a failed statement to a libconcert code and a retry kind. sent says
 * whether the statement may have reached the server; writes says whether it
 * could have changed anything.
 */
static void classify(PGconn *conn, const PGresult *res, int sent, int writes, pg_error *err)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    char msg[400];

    first_line(primary ? primary : PQerrorMessage(conn), msg, sizeof(msg));
    if (!msg[0])
        snprintf(msg, sizeof(msg), "no reply from the server");

    if (PQstatus(conn) == CONNECTION_BAD || sqlstate_class(state, "08") ||
        sqlstate_is(state, "57P01") || sqlstate_is(state, "57P02") ||
        sqlstate_is(state, "57P03")) {
        /* A server shutting down aborts the transaction it interrupts. */
        int aborted = sqlstate_class(state, "57");
        error_fill(err, CONCERT_ESTORAGE,
                   (!sent || !writes || aborted) ? PG_FAIL_CONN_SAFE : PG_FAIL_CONN_DOUBT,
                   "postgresql: connection lost: %s", msg);
        return;
    }
    if (sqlstate_is(state, "40001") || sqlstate_is(state, "40P01")) {
        error_fill(err, CONCERT_EBUSY, PG_FAIL_CONFLICT, "postgresql: %s", msg);
        return;
    }
    if (sqlstate_is(state, "55P03") || sqlstate_is(state, "57014")) {
        error_fill(err, CONCERT_EBUSY, PG_FAIL_FINAL, "postgresql: busy: %s", msg);
        return;
    }
    if (sqlstate_class(state, "53") || sqlstate_class(state, "58") ||
        sqlstate_class(state, "28") || sqlstate_class(state, "3D") ||
        sqlstate_is(state, "42501") || sqlstate_is(state, "25006")) {
        error_fill(err, CONCERT_ESTORAGE, PG_FAIL_FINAL, "postgresql: %s", msg);
        return;
    }
    if (sqlstate_class(state, "23")) {
        error_fill(err, CONCERT_EINTERNAL, PG_FAIL_FINAL,
                   "postgresql: the database refused a change that would break an invariant: %s",
                   msg);
        return;
    }
    error_fill(err, CONCERT_EINTERNAL, PG_FAIL_FINAL, "postgresql: %s", msg);
}

/* ------------------------------------------------------------------ */
/* Connections                                                         */

static void notice_ignore(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static int slot_connect(pg_store *st, pg_slot *slot, pg_error *err)
{
    char msg[400];
    PGconn *conn = PQconnectdbParams((const char *const *)st->keywords,
                                     (const char *const *)st->values, 0);
    if (!conn) {
        error_fill(err, CONCERT_ENOMEM, PG_FAIL_FINAL, "postgresql: out of memory connecting");
        return -1;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        first_line(PQerrorMessage(conn), msg, sizeof(msg));
        PQfinish(conn);
        error_fill(err, CONCERT_ESTORAGE, PG_FAIL_FINAL, "postgresql: cannot connect: %s", msg);
        return -1;
    }
    /* A library never writes to stderr: server notices are dropped. */
    PQsetNoticeProcessor(conn, notice_ignore, NULL);
    slot->conn = conn;
    slot->prepared = 0;
    return 0;
}

static void slot_disconnect(pg_slot *slot)
{
    if (slot->conn)
        PQfinish(slot->conn);
    slot->conn = NULL;
    slot->prepared = 0;
}

/*
 * An idle connection has nothing to say. If its socket is readable, the
 * server has sent a termination notice or closed it (it restarted): drop it
 * now, before a statement is sent into it, so that no step is in doubt.
 */
static void slot_check_idle(pg_slot *slot)
{
    struct pollfd p;
    if (!slot->conn)
        return;
    if (PQstatus(slot->conn) != CONNECTION_OK ||
        PQtransactionStatus(slot->conn) != PQTRANS_IDLE) {
        slot_disconnect(slot);
        return;
    }
    p.fd = PQsocket(slot->conn);
    p.events = POLLIN;
    p.revents = 0;
    if (p.fd < 0 || poll(&p, 1, 0) != 0)
        slot_disconnect(slot);
}

static void deadline_after(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Take an idle connection, connecting it if needed. */
static int slot_acquire(pg_store *st, pg_slot **out, pg_error *err)
{
    struct timespec deadline;
    pg_slot *slot;
    int rc = 0;

    deadline_after(&deadline, st->wait_ms);
    pthread_mutex_lock(&st->mutex);
    while (st->idle_count == 0 && rc == 0)
        rc = pthread_cond_timedwait(&st->freed, &st->mutex, &deadline);
    if (st->idle_count == 0) {
        pthread_mutex_unlock(&st->mutex);
        error_fill(err, CONCERT_EBUSY, PG_FAIL_FINAL,
                   "postgresql: all %d pooled connections stayed busy for %d ms",
                   st->slot_count, st->wait_ms);
        return -1;
    }
    slot = &st->slots[st->idle[--st->idle_count]];
    pthread_mutex_unlock(&st->mutex);

    slot_check_idle(slot);
    if (!slot->conn && slot_connect(st, slot, err) != 0) {
        pthread_mutex_lock(&st->mutex);
        st->idle[st->idle_count++] = (int)(slot - st->slots);
        pthread_cond_signal(&st->freed);
        pthread_mutex_unlock(&st->mutex);
        return -1;
    }
    *out = slot;
    return 0;
}

static void slot_release(pg_store *st, pg_slot *slot)
{
    pthread_mutex_lock(&st->mutex);
    st->idle[st->idle_count++] = (int)(slot - st->slots);
    pthread_cond_signal(&st->freed);
    pthread_mutex_unlock(&st->mutex);
}

/* ------------------------------------------------------------------ */
/* Executing                                                           */

/* Run a simple command (fixed text, no parameters) on slot. */
static int exec_simple(pg_slot *slot, const char *sql, int writes, pg_error *err)
{
    PGresult *res = PQexec(slot->conn, sql);
    ExecStatusType s = PQresultStatus(res);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
        classify(slot->conn, res, 1, writes, err);
        PQclear(res);
        return -1;
    }
    PQclear(res);
    return 0;
}

static int ensure_prepared(pg_slot *slot, pg_stmt stmt, pg_error *err)
{
    PGresult *res;
    uint64_t bit = UINT64_C(1) << stmt;
    if (slot->prepared & bit)
        return 0;
    res = PQprepare(slot->conn, PG_STMT_NAMES[stmt], PG_STMT_TEXT[stmt], 0, NULL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        classify(slot->conn, res, 0, 0, err);
        PQclear(res);
        return -1;
    }
    PQclear(res);
    slot->prepared |= bit;
    return 0;
}

/* Execute a prepared statement; returns its result (tuples or command), or
 * NULL with err filled. */
static PGresult *exec_stmt(pg_slot *slot, pg_stmt stmt, const pg_params *p, int writes,
                           pg_error *err)
{
    PGresult *res = NULL, *next;
    ExecStatusType s;

    if (ensure_prepared(slot, stmt, err) != 0)
        return NULL;
    if (!PQsendQueryPrepared(slot->conn, PG_STMT_NAMES[stmt], p ? p->count : 0,
                             p ? p->values : NULL, NULL, NULL, 0)) {
        classify(slot->conn, NULL, 0, writes, err);
        return NULL;
    }
    /* Keep the first result; drain the rest so the connection is idle. */
    while ((next = PQgetResult(slot->conn)) != NULL) {
        if (!res)
            res = next;
        else
            PQclear(next);
    }
    s = PQresultStatus(res);
    if (!res || (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK)) {
        classify(slot->conn, res, 1, writes, err);
        PQclear(res);
        return NULL;
    }
    return res;
}

static void conflict_backoff(int attempt)
{
    /* 1-4 ms times the attempt, jittered so that the losers spread out. */
    struct timespec ts;
    long jitter = (long)(((uintptr_t)&ts >> 4) % 3000);
    ts.tv_sec = 0;
    ts.tv_nsec = ((long)attempt * 1000000L) + jitter * 1000L;
    nanosleep(&ts, NULL);
}

/* The body of one step on one connection: 0, or -1 with err filled. */
typedef int (*pg_body)(pg_slot *slot, void *ctx, pg_error *err);

/*
 * Run body on a pooled connection with the retry policy of this backend,
 * and turn a failure into a libconcert code and detail.
 */
static int pg_run(pg_store *st, pg_body body, void *ctx)
{
    pg_error err;
    int reconnected = 0;

    for (int attempt = 0;; attempt++) {
        pg_slot *slot;
        int rc;

        memset(&err, 0, sizeof(err));
        if (slot_acquire(st, &slot, &err) != 0)
            return concert_sys_error_set(err.code, "%s", err.message);
        rc = body(slot, ctx, &err);
        if (rc != 0 && (err.kind == PG_FAIL_CONN_SAFE || err.kind == PG_FAIL_CONN_DOUBT))
            slot_disconnect(slot);
        else if (rc != 0 && slot->conn && PQtransactionStatus(slot->conn) != PQTRANS_IDLE)
            slot_disconnect(slot); /* never hand on a connection inside a transaction */
        slot_release(st, slot);
        if (rc == 0)
            return CONCERT_OK;
        if (err.kind == PG_FAIL_CONFLICT && attempt < PG_MAX_CONFLICT_RETRIES) {
            conflict_backoff(attempt + 1);
            continue;
        }
        if (err.kind == PG_FAIL_CONN_SAFE && !reconnected) {
            reconnected = 1;
            continue;
        }
        if (err.kind == PG_FAIL_CONFLICT)
            return concert_sys_error_set(CONCERT_EBUSY,
                                         "%s (still conflicting after %d attempts)",
                                         err.message, attempt + 1);
        if (err.kind == PG_FAIL_CONN_DOUBT)
            return concert_sys_error_set(
                err.code, "%s (the operation may or may not have been applied)", err.message);
        return concert_sys_error_set(err.code, "%s", err.message);
    }
}

/* One prepared statement as a whole step. */
typedef struct pg_query_ctx {
    pg_stmt stmt;
    const pg_params *params;
    int writes;
    PGresult *result;
} pg_query_ctx;

static int query_body(pg_slot *slot, void *ctx, pg_error *err)
{
    pg_query_ctx *q = ctx;
    q->result = exec_stmt(slot, q->stmt, q->params, q->writes, err);
    return q->result ? 0 : -1;
}

/* Run one statement; *out receives the result (PQclear it). */
static int pg_query(pg_store *st, pg_stmt stmt, const pg_params *p, int writes, PGresult **out)
{
    pg_query_ctx q = {stmt, p, writes, NULL};
    int rc = pg_run(st, query_body, &q);
    *out = q.result;
    return rc;
}

/* ------------------------------------------------------------------ */
/* Queue                                                               */

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
        if (pg_query(st, PG_RATE_CAS, &p, 1, &res) != 0)
            break;
        updated = strcmp(PQcmdTuples(res), "1") == 0;
        PQclear(res);
        if (updated)
            return next.rate_mps;
        if (pg_query(st, PG_RATE_GET, NULL, 0, &res) != 0)
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
    if ((rc = pg_query(st, PG_Q_ISSUE, &p, 1, &res)) != 0)
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
    if ((*rc = pg_query(st, PG_Q_PEEK, &p, 0, &res)) != 0)
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
        if ((*rc = pg_query(st, PG_Q_TOUCH, &touch, 1, &res)) != 0)
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
    if ((rc = pg_query(st, PG_Q_STATUS, &p, 1, &res)) != 0)
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
    if ((rc = pg_query(st, PG_Q_LEAVE, &p, 1, &res)) != 0)
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
    if ((rc = pg_query(st, PG_Q_STATS, &p, 1, &res)) != 0)
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

/* ------------------------------------------------------------------ */
/* Catalog reads                                                       */

static void concert_from_row(const PGresult *res, int row, concert_concert *c)
{
    memset(c, 0, sizeof(*c));
    c->id = col_int(res, row, 0);
    c->status = (int32_t)col_int(res, row, 1);
    col_text(res, row, 2, c->title, sizeof(c->title));
}

static int pg_concerts_list(concert_storage *self, int32_t status, concert_emit_concert_fn emit,
                            void *ctx)
{
    pg_params p = {0};
    PGresult *res;
    int rc;

    param_int(&p, status);
    if ((rc = pg_query((pg_store *)self, PG_CONCERTS_LIST, &p, 0, &res)) != 0)
        return rc;
    for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
        concert_concert c;
        concert_from_row(res, i, &c);
        rc = emit(ctx, &c);
    }
    PQclear(res);
    return rc;
}

static int pg_concert_get(concert_storage *self, int64_t concert_id, concert_concert *out)
{
    pg_params p = {0};
    PGresult *res;
    int rc;

    param_int(&p, concert_id);
    if ((rc = pg_query((pg_store *)self, PG_CONCERT_GET, &p, 0, &res)) != 0)
        return rc;
    if (PQntuples(res) == 0)
        rc = concert_sys_error_set(CONCERT_ECONCERT_NOT_FOUND, "concert %lld not found",
                                   (long long)concert_id);
    else
        concert_from_row(res, 0, out);
    PQclear(res);
    return rc;
}

static int pg_schedules_list(concert_storage *self, int64_t concert_id, int64_t starts_after,
                             int64_t now, concert_emit_schedule_fn emit, void *ctx,
                             int64_t *total)
{
    pg_params p = {0};
    PGresult *res;
    int rc;

    param_int(&p, concert_id);
    param_int(&p, starts_after);
    param_int(&p, now);
    if ((rc = pg_query((pg_store *)self, PG_SCHEDULES_LIST, &p, 0, &res)) != 0)
        return rc;
    if (total)
        *total = PQntuples(res) > 0 ? col_int(res, 0, 3) : 0;
    for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
        concert_schedule s;
        memset(&s, 0, sizeof(s));
        s.id = col_int(res, i, 0);
        s.concert_id = concert_id;
        s.starts_at = col_int(res, i, 1);
        if (s.starts_at <= starts_after)
            continue;
        s.available_seats = col_int(res, i, 2);
        rc = emit(ctx, &s);
    }
    PQclear(res);
    return rc;
}

static int pg_schedule_get(concert_storage *self, int64_t schedule_id,
                           concert_storage_schedule *out)
{
    pg_store *st = (pg_store *)self;
    concert_storage_schedule *cached =
        &st->schedule_cache[(uint64_t)schedule_id % PG_SCHEDULE_CACHE];
    pg_params p = {0};
    PGresult *res;
    int rc, hit;

    pthread_mutex_lock(&st->cache_mutex);
    hit = cached->id == schedule_id && schedule_id != 0;
    if (hit)
        *out = *cached;
    pthread_mutex_unlock(&st->cache_mutex);
    if (hit)
        return CONCERT_OK;

    param_int(&p, schedule_id);
    if ((rc = pg_query(st, PG_SCHEDULE_GET, &p, 0, &res)) != 0)
        return rc;
    if (PQntuples(res) == 0) {
        rc = concert_sys_error_set(CONCERT_ESCHEDULE_NOT_FOUND, "schedule %lld not found",
                                   (long long)schedule_id);
    } else {
        memset(out, 0, sizeof(*out));
        out->id = col_int(res, 0, 0);
        out->concert_id = col_int(res, 0, 1);
        out->starts_at = col_int(res, 0, 2);
        out->concert_status = (int32_t)col_int(res, 0, 3);
        pthread_mutex_lock(&st->cache_mutex);
        *cached = *out;
        pthread_mutex_unlock(&st->cache_mutex);
    }
    PQclear(res);
    return rc;
}

static int pg_seats_available(concert_storage *self, int64_t schedule_id, int64_t now,
                              concert_emit_seat_fn emit, void *ctx)
{
    pg_params p = {0};
    PGresult *res;
    int rc;

    param_int(&p, schedule_id);
    param_int(&p, now);
    if ((rc = pg_query((pg_store *)self, PG_SEATS_AVAILABLE, &p, 0, &res)) != 0)
        return rc;
    for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
        concert_seat s;
        memset(&s, 0, sizeof(s));
        s.number = col_int(res, i, 0);
        s.price = col_int(res, i, 1);
        col_text(res, i, 2, s.grade, sizeof(s.grade));
        rc = emit(ctx, &s);
    }
    PQclear(res);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Catalog load: one transaction, rows sent in pipelined batches       */

typedef enum load_kind { LOAD_USER, LOAD_CONCERT, LOAD_SCHEDULE, LOAD_SEATS } load_kind;

/* Which catalog entry a pipelined statement came from, to name it. */
typedef struct load_item {
    load_kind kind;
    size_t i, j;
    int64_t id;
} load_item;

typedef struct load_state {
    const concert_catalog *catalog;
    int64_t now;
    load_item batch[PG_PIPELINE_BATCH];
    int batch_count;
    int failed; /* a conflict or error was found: stop sending */
} load_state;

static void load_conflict(const load_item *it, pg_error *err)
{
    switch (it->kind) {
    case LOAD_USER:
        error_fill(err, CONCERT_ECONFLICT, PG_FAIL_FINAL, "users[%zu].id: user %lld already exists",
                   it->i, (long long)it->id);
        break;
    case LOAD_CONCERT:
        error_fill(err, CONCERT_ECONFLICT, PG_FAIL_FINAL,
                   "concerts[%zu].id: concert %lld already exists", it->i, (long long)it->id);
        break;
    case LOAD_SCHEDULE:
        error_fill(err, CONCERT_ECONFLICT, PG_FAIL_FINAL,
                   "concerts[%zu].schedules[%zu].id: schedule %lld already exists", it->i, it->j,
                   (long long)it->id);
        break;
    case LOAD_SEATS:
        error_fill(err, CONCERT_ECONFLICT, PG_FAIL_FINAL,
                   "concerts[%zu].schedules[%zu]: seats already exist", it->i, it->j);
        break;
    }
}

/* Read the results of the batch sent so far, up to its sync point. */
static int load_flush(pg_slot *slot, load_state *ls, pg_error *err)
{
    PGresult *res;
    int have_error = err->message[0] != '\0';

    if (ls->batch_count == 0)
        return 0;
    if (!PQpipelineSync(slot->conn)) {
        classify(slot->conn, NULL, 1, 1, err);
        return -1;
    }
    for (int k = 0; k < ls->batch_count; k++) {
        while ((res = PQgetResult(slot->conn)) != NULL) {
            ExecStatusType s = PQresultStatus(res);
            if (!have_error) {
                if (s == PGRES_TUPLES_OK && ls->batch[k].kind != LOAD_SEATS &&
                    PQntuples(res) == 0) {
                    load_conflict(&ls->batch[k], err);
                    have_error = 1;
                } else if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK) {
                    classify(slot->conn, res, 1, 1, err);
                    if (err->code == CONCERT_EINTERNAL && ls->batch[k].kind == LOAD_SEATS)
                        load_conflict(&ls->batch[k], err);
                    have_error = 1;
                }
            }
            PQclear(res);
            if (PQstatus(slot->conn) == CONNECTION_BAD)
                break;
        }
        if (PQstatus(slot->conn) == CONNECTION_BAD) {
            if (!have_error)
                classify(slot->conn, NULL, 1, 1, err);
            return -1;
        }
    }
    /* The sync point. */
    res = PQgetResult(slot->conn);
    if (PQresultStatus(res) != PGRES_PIPELINE_SYNC && !have_error) {
        classify(slot->conn, res, 1, 1, err);
        have_error = 1;
    }
    PQclear(res);
    ls->batch_count = 0;
    if (have_error)
        ls->failed = 1;
    return have_error ? -1 : 0;
}

static int load_send(pg_slot *slot, load_state *ls, pg_stmt stmt, const pg_params *p,
                     load_item item, pg_error *err)
{
    if (ls->failed)
        return -1;
    if (!PQsendQueryPrepared(slot->conn, PG_STMT_NAMES[stmt], p->count, p->values, NULL, NULL,
                             0)) {
        classify(slot->conn, NULL, 1, 1, err);
        ls->failed = 1;
        return -1;
    }
    ls->batch[ls->batch_count++] = item;
    if (ls->batch_count == PG_PIPELINE_BATCH)
        return load_flush(slot, ls, err);
    return 0;
}

static int load_rows(pg_slot *slot, load_state *ls, pg_error *err)
{
    const concert_catalog *c = ls->catalog;

    for (size_t i = 0; i < c->user_count; i++) {
        const concert_catalog_user *u = &c->users[i];
        pg_params p = {0};
        param_int(&p, u->id);
        param_text(&p, u->name);
        param_int(&p, u->points);
        param_int(&p, ls->now);
        if (load_send(slot, ls, PG_LOAD_USER, &p, (load_item){LOAD_USER, i, 0, u->id}, err) != 0)
            return -1;
    }
    for (size_t i = 0; i < c->concert_count; i++) {
        const concert_catalog_concert *cc = &c->concerts[i];
        pg_params p = {0};
        param_int(&p, cc->id);
        param_text(&p, cc->title);
        param_int(&p, cc->status);
        if (load_send(slot, ls, PG_LOAD_CONCERT, &p, (load_item){LOAD_CONCERT, i, 0, cc->id},
                      err) != 0)
            return -1;
        for (size_t j = 0; j < cc->schedule_count; j++) {
            const concert_catalog_schedule *s = &cc->schedules[j];
            pg_params ps = {0};
            param_int(&ps, s->id);
            param_int(&ps, cc->id);
            param_int(&ps, s->starts_at);
            if (load_send(slot, ls, PG_LOAD_SCHEDULE, &ps,
                          (load_item){LOAD_SCHEDULE, i, j, s->id}, err) != 0)
                return -1;
            for (size_t k = 0; k < s->seat_range_count; k++) {
                const concert_catalog_seat_range *r = &s->seats[k];
                pg_params pr = {0};
                param_int(&pr, s->id);
                param_text(&pr, r->grade);
                param_int(&pr, r->price);
                param_int(&pr, r->from);
                param_int(&pr, r->to);
                if (load_send(slot, ls, PG_LOAD_SEATS, &pr, (load_item){LOAD_SEATS, i, j, 0},
                              err) != 0)
                    return -1;
            }
        }
    }
    return load_flush(slot, ls, err);
}

static int load_body(pg_slot *slot, void *ctx, pg_error *err)
{
    load_state *ls = ctx;
    int rc;

    ls->batch_count = 0;
    ls->failed = 0;
    err->message[0] = '\0';
    if (ensure_prepared(slot, PG_LOAD_USER, err) != 0 ||
        ensure_prepared(slot, PG_LOAD_CONCERT, err) != 0 ||
        ensure_prepared(slot, PG_LOAD_SCHEDULE, err) != 0 ||
        ensure_prepared(slot, PG_LOAD_SEATS, err) != 0)
        return -1;
    if (exec_simple(slot, "BEGIN", 0, err) != 0)
        return -1;
    if (exec_simple(slot, PG_BULK_TIMEOUT_SQL, 0, err) != 0)
        goto rollback;
    if (!PQenterPipelineMode(slot->conn)) {
        classify(slot->conn, NULL, 0, 0, err);
        goto rollback;
    }
    rc = load_rows(slot, ls, err);
    if (rc != 0 && ls->batch_count > 0 && PQstatus(slot->conn) == CONNECTION_OK) {
        /* Drain what was sent after the failure so the pipeline can end. */
        pg_error ignored = *err;
        load_flush(slot, ls, &ignored);
    }
    if (PQstatus(slot->conn) != CONNECTION_OK || !PQexitPipelineMode(slot->conn)) {
        if (rc == 0)
            classify(slot->conn, NULL, 1, 0, err);
        return -1; /* the connection is dropped by pg_run; nothing was committed */
    }
    if (rc != 0)
        goto rollback;
    /* Nothing is committed before COMMIT: a connection lost until here is safe
     * to retry; lost during COMMIT, the outcome is unknown. */
    return exec_simple(slot, "COMMIT", 1, err);

rollback:
    if (PQstatus(slot->conn) == CONNECTION_OK) {
        pg_error ignored;
        exec_simple(slot, "ROLLBACK", 0, &ignored);
    }
    if (err->kind == PG_FAIL_CONN_DOUBT)
        err->kind = PG_FAIL_CONN_SAFE;
    return -1;
}

static int pg_catalog_load(concert_storage *self, const concert_catalog *catalog, int64_t now)
{
    load_state *ls = calloc(1, sizeof(*ls));
    int rc;
    if (!ls)
        return concert_sys_error_set(CONCERT_ENOMEM, "postgresql: out of memory loading catalog");
    ls->catalog = catalog;
    ls->now = now;
    rc = pg_run((pg_store *)self, load_body, ls);
    free(ls);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Holds and payment                                                   */

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
    if ((rc = pg_query((pg_store *)self, PG_SEAT_HOLD, &p, 1, &res)) != 0)
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
    if ((rc = pg_query((pg_store *)self, PG_RESERVATION_GET, &p, 0, &res)) != 0)
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
    if ((rc = pg_query((pg_store *)self, PG_PAY, &p, 1, &res)) != 0)
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

/* ------------------------------------------------------------------ */
/* Points and users                                                    */

static int pg_charge(concert_storage *self, const concert_charge_request *req,
                     int64_t *balance_out)
{
    pg_params p = {0};
    PGresult *res;
    int rc;

    param_int(&p, req->user_id);
    param_int(&p, req->amount);
    param_int(&p, req->max_balance);
    param_int(&p, req->now);
    param_text(&p, req->idempotency_key);
    param_text(&p, req->idempotency_key ? (req->fingerprint ? req->fingerprint : "") : NULL);
    if ((rc = pg_query((pg_store *)self, PG_CHARGE, &p, 1, &res)) != 0)
        return rc;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return concert_sys_error_set(CONCERT_EINTERNAL, "postgresql: malformed charge reply");
    }
    rc = (int)col_int(res, 0, 0);
    if (rc == 0) {
        if (balance_out)
            *balance_out = col_int(res, 0, 1);
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
    pg_params p = {0};
    PGresult *res;
    int rc;

    param_int(&p, user_id);
    if ((rc = pg_query((pg_store *)self, PG_BALANCE_GET, &p, 0, &res)) != 0)
        return rc;
    if (PQntuples(res) == 0)
        rc = concert_sys_error_set(CONCERT_EUSER_NOT_FOUND, "user %lld not found",
                                   (long long)user_id);
    else
        *balance_out = col_int(res, 0, 0);
    PQclear(res);
    return rc;
}

static int pg_history_list(concert_storage *self, int64_t user_id, concert_emit_ledger_fn emit,
                           void *ctx)
{
    pg_params p = {0};
    PGresult *res;
    int rc;

    param_int(&p, user_id);
    if ((rc = pg_query((pg_store *)self, PG_HISTORY_LIST, &p, 0, &res)) != 0)
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

    if ((rc = pg_query((pg_store *)self, PG_USERS_LIST, NULL, 0, &res)) != 0)
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

/* ------------------------------------------------------------------ */
/* Verify: every invariant, from one consistent snapshot               */

typedef struct verify_state {
    const pg_params *params_counts;
    const pg_params *params_checks;
    PGresult *counts;
    PGresult *violations;
} verify_state;

static int verify_body(pg_slot *slot, void *ctx, pg_error *err)
{
    verify_state *vs = ctx;
    if (exec_simple(slot, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, err) != 0)
        return -1;
    if (exec_simple(slot, PG_BULK_TIMEOUT_SQL, 0, err) != 0)
        goto rollback;
    vs->counts = exec_stmt(slot, PG_VERIFY_COUNTS, vs->params_counts, 0, err);
    if (!vs->counts)
        goto rollback;
    vs->violations = exec_stmt(slot, PG_VERIFY_VIOLATIONS, vs->params_checks, 0, err);
    if (!vs->violations)
        goto rollback;
    return exec_simple(slot, "COMMIT", 0, err);

rollback:
    PQclear(vs->counts);
    vs->counts = NULL;
    if (slot->conn && PQstatus(slot->conn) == CONNECTION_OK) {
        pg_error ignored;
        exec_simple(slot, "ROLLBACK", 0, &ignored);
    }
    return -1;
}

static int pg_verify(concert_storage *self, const concert_queue_params *params, int64_t now,
                     concert_emit_text_fn violation, void *ctx, concert_verify_report *report)
{
    pg_params counts = {0}, checks = {0};
    verify_state vs = {&counts, &checks, NULL, NULL};
    int rc;

    param_int(&counts, now);
    param_int(&checks, now);
    param_int(&checks, params->max_active);
    if ((rc = pg_run((pg_store *)self, verify_body, &vs)) != 0)
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
    PQclear(vs.counts);
    PQclear(vs.violations);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Schema                                                              */

/* PG_MIGRATIONS[v]: the statements that take a store from v - 1 to v. */
static const char *const *const PG_MIGRATIONS[PG_SCHEMA_VERSION + 1] = {NULL, PG_MIGRATION_1,
                                                                        PG_MIGRATION_2};

/* Read one integer from a fixed query; -1 with err filled on failure. */
static int query_int(pg_slot *slot, const char *sql, int64_t *out, int *found, pg_error *err)
{
    PGresult *res = PQexec(slot->conn, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        classify(slot->conn, res, 1, 0, err);
        PQclear(res);
        return -1;
    }
    *found = PQntuples(res) > 0 && !PQgetisnull(res, 0, 0);
    *out = *found ? col_int(res, 0, 0) : 0;
    PQclear(res);
    return 0;
}

/*
 * Create or migrate the schema, under an advisory lock so that several
 * processes opening a fresh database at once do it exactly once.
 */
static int schema_body(pg_slot *slot, void *ctx, pg_error *err)
{
    int64_t version = 0, exists = 0;
    int found;
    (void)ctx;

    if (exec_simple(slot, "BEGIN", 0, err) != 0)
        return -1;
    if (exec_simple(slot, PG_BULK_TIMEOUT_SQL, 0, err) != 0 ||
        exec_simple(slot, PG_LOCK_SCHEMA_SQL, 0, err) != 0)
        goto rollback;
    if (query_int(slot, "SELECT CASE WHEN to_regclass('concert.meta') IS NULL THEN 0 ELSE 1 END",
                  &exists, &found, err) != 0)
        goto rollback;
    if (exists && query_int(slot,
                            "SELECT value FROM concert.meta WHERE name = 'schema_version'",
                            &version, &found, err) != 0)
        goto rollback;
    if (version > PG_SCHEMA_VERSION) {
        error_fill(err, CONCERT_ESCHEMA, PG_FAIL_FINAL,
                   "postgresql: the store's schema is version %lld, newer than this "
                   "libconcert (%s) understands (%d): upgrade libconcert",
                   (long long)version, CONCERT_VERSION_STRING, PG_SCHEMA_VERSION);
        goto rollback;
    }
    if (version == PG_SCHEMA_VERSION)
        return exec_simple(slot, "COMMIT", 0, err);
    for (int64_t v = version + 1; v <= PG_SCHEMA_VERSION; v++) {
        for (const char *const *sql = PG_MIGRATIONS[v]; *sql; sql++) {
            if (exec_simple(slot, *sql, 1, err) != 0)
                goto rollback;
        }
    }
    if (exec_simple(slot, PG_SCHEMA_VERSION_UPDATE_SQL, 1, err) != 0)
        goto rollback;
    return exec_simple(slot, "COMMIT", 1, err);

rollback:
    if (slot->conn && PQstatus(slot->conn) == CONNECTION_OK) {
        pg_error ignored;
        exec_simple(slot, "ROLLBACK", 0, &ignored);
    }
    if (err->kind == PG_FAIL_CONN_DOUBT)
        err->kind = PG_FAIL_CONN_SAFE;
    return -1;
}

/* ------------------------------------------------------------------ */
/* Opening and closing                                                 */

static void strings_free(char **v)
{
    if (!v)
        return;
    for (size_t i = 0; v[i]; i++)
        free(v[i]);
    free(v);
}

static void pg_free(concert_storage *self)
{
    pg_store *st = (pg_store *)self;
    if (!st)
        return;
    for (int i = 0; i < st->slot_count && st->slots; i++)
        slot_disconnect(&st->slots[i]);
    free(st->slots);
    free(st->idle);
    strings_free(st->keywords);
    strings_free(st->values);
    pthread_mutex_destroy(&st->mutex);
    pthread_cond_destroy(&st->freed);
    pthread_mutex_destroy(&st->cache_mutex);
    free(st);
}

static int param_set(pg_store *st, size_t *n, const char *key, const char *value)
{
    for (size_t i = 0; i < *n; i++) {
        if (strcmp(st->keywords[i], key) == 0) {
            char *copy = strdup(value);
            if (!copy)
                return -1;
            free(st->values[i]);
            st->values[i] = copy;
            return 0;
        }
    }
    st->keywords[*n] = strdup(key);
    st->values[*n] = strdup(value);
    if (!st->keywords[*n] || !st->values[*n])
        return -1;
    (*n)++;
    return 0;
}

static const char *param_get(const pg_store *st, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(st->keywords[i], key) == 0)
            return st->values[i];
    }
    return NULL;
}

/*
 * Connection parameters: what the caller's URI or conninfo says, plus our
 * timeouts where the caller did not choose: connect_timeout, and server-side
 * statement and lock timeouts so that no call can hang on the server.
 */
static int conninfo_build(pg_store *st, const char *location, const concert_options *opts)
{
    PQconninfoOption *parsed, *o;
    char *errmsg = NULL;
    size_t count = 0, n = 0;
    char text[512];
    const char *user_options;
    int connect_ms = opts && opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 3000;
    int busy_ms = opts && opts->busy_timeout_ms > 0 ? opts->busy_timeout_ms : 5000;

    parsed = PQconninfoParse(location, &errmsg);
    if (!parsed) {
        char msg[300];
        first_line(errmsg ? errmsg : "out of memory", msg, sizeof(msg));
        PQfreemem(errmsg);
        return concert_sys_error_set(CONCERT_EINVAL, "postgresql: bad connection string: %s",
                                     msg);
    }
    for (o = parsed; o->keyword; o++)
        count++;
    st->keywords = calloc(count + 8, sizeof(char *));
    st->values = calloc(count + 8, sizeof(char *));
    if (!st->keywords || !st->values)
        goto nomem;
    for (o = parsed; o->keyword; o++) {
        if (o->val && o->val[0] && param_set(st, &n, o->keyword, o->val) != 0)
            goto nomem;
    }
    PQconninfoFree(parsed);
    parsed = NULL;

    if (!param_get(st, n, "connect_timeout")) {
        /* libpq counts whole seconds (at least 2). */
        snprintf(text, sizeof(text), "%d", (connect_ms + 999) / 1000);
        if (param_set(st, &n, "connect_timeout", text) != 0)
            goto nomem;
    }
    user_options = param_get(st, n, "options");
    if (snprintf(text, sizeof(text),
                 "%s%s-c statement_timeout=%d -c lock_timeout=%d "
                 "-c idle_in_transaction_session_timeout=%d",
                 user_options ? user_options : "", user_options ? " " : "", busy_ms, busy_ms,
                 busy_ms * 12) >= (int)sizeof(text))
        return concert_sys_error_set(CONCERT_EINVAL, "postgresql: options parameter too long");
    if (param_set(st, &n, "options", text) != 0)
        goto nomem;
    if (!param_get(st, n, "application_name") &&
        param_set(st, &n, "application_name", "libconcert") != 0)
        goto nomem;
    /* A server that vanishes from the network is noticed within seconds. */
    if (!param_get(st, n, "keepalives_idle") && param_set(st, &n, "keepalives_idle", "5") != 0)
        goto nomem;
    if (!param_get(st, n, "keepalives_interval") &&
        param_set(st, &n, "keepalives_interval", "2") != 0)
        goto nomem;
    if (!param_get(st, n, "keepalives_count") && param_set(st, &n, "keepalives_count", "2") != 0)
        goto nomem;
    return CONCERT_OK;

nomem:
    if (parsed)
        PQconninfoFree(parsed);
    return concert_sys_error_set(CONCERT_ENOMEM, "postgresql: out of memory");
}

static int pool_init(pg_store *st, const concert_options *opts)
{
    int size = opts && opts->pool_size > 0 ? opts->pool_size : 8;
    if (size > 1024)
        size = 1024;
    st->slot_count = size;
    st->slots = calloc((size_t)size, sizeof(pg_slot));
    st->idle = calloc((size_t)size, sizeof(int));
    if (!st->slots || !st->idle)
        return concert_sys_error_set(CONCERT_ENOMEM, "postgresql: out of memory");
    /* Slot 0 on top: the one opened first is the one reused first. */
    for (int i = 0; i < size; i++)
        st->idle[i] = size - 1 - i;
    st->idle_count = size;
    st->wait_ms = opts && opts->busy_timeout_ms > 0 ? opts->busy_timeout_ms : 5000;
    return CONCERT_OK;
}

int concert_storage_postgres_open(concert_storage **out, const char *location,
                                  const concert_options *opts)
{
    pg_store *st;
    int rc;

    if (out)
        *out = NULL;
    if (!out || !location)
        return concert_sys_error_set(CONCERT_EINVAL, "postgresql: NULL argument");
    st = calloc(1, sizeof(*st));
    if (!st)
        return concert_sys_error_set(CONCERT_ENOMEM, "postgresql: out of memory");
    if (pthread_mutex_init(&st->mutex, NULL) != 0) {
        free(st);
        return concert_sys_error_set(CONCERT_ENOMEM, "postgresql: cannot create a mutex");
    }
    if (pthread_cond_init(&st->freed, NULL) != 0) {
        pthread_mutex_destroy(&st->mutex);
        free(st);
        return concert_sys_error_set(CONCERT_ENOMEM, "postgresql: cannot create a condition");
    }
    if (pthread_mutex_init(&st->cache_mutex, NULL) != 0) {
        pthread_cond_destroy(&st->freed);
        pthread_mutex_destroy(&st->mutex);
        free(st);
        return concert_sys_error_set(CONCERT_ENOMEM, "postgresql: cannot create a mutex");
    }
    if ((rc = conninfo_build(st, location, opts)) != 0 || (rc = pool_init(st, opts)) != 0 ||
        (rc = pg_run(st, schema_body, NULL)) != 0) {
        pg_free(&st->base);
        return rc;
    }

    st->base.version = CONCERT_STORAGE_VERSION;
    st->base.name = "postgresql";
    st->base.free = pg_free;
    st->base.queue_issue = pg_queue_issue;
    st->base.queue_status = pg_queue_status;
    st->base.queue_leave = pg_queue_leave;
    st->base.queue_stats = pg_queue_stats;
    st->base.concerts_list = pg_concerts_list;
    st->base.concert_get = pg_concert_get;
    st->base.schedules_list = pg_schedules_list;
    st->base.schedule_get = pg_schedule_get;
    st->base.seats_available = pg_seats_available;
    st->base.catalog_load = pg_catalog_load;
    st->base.seat_hold = pg_seat_hold;
    st->base.reservation_get = pg_reservation_get;
    st->base.pay = pg_pay;
    st->base.charge = pg_charge;
    st->base.balance_get = pg_balance_get;
    st->base.history_list = pg_history_list;
    st->base.users_list = pg_users_list;
    st->base.verify = pg_verify;
    *out = &st->base;
    return CONCERT_OK;
}

#endif /* CONCERT_HAVE_POSTGRES */
