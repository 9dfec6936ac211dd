/*
 * PostgreSQL backend: the connection pool, statement execution, the retry
 * policy and the mapping of libpq failures to libconcert codes. No SQLSTATE
 * leaves this file; libpq's message goes to the error detail.
 */
#include <concert/sys/storage.h>

#ifdef CONCERT_HAVE_POSTGRES

#include <poll.h>
#include <stdarg.h>
#include <time.h>

#include "postgres_internal.h"

#define PG_STMT_SQL(id, sql) sql,
#define PG_STMT_NAME(id, sql) #id,
static const char *const PG_STMT_TEXT[] = { PG_STATEMENTS(PG_STMT_SQL) };
static const char *const PG_STMT_NAMES[] = { PG_STATEMENTS(PG_STMT_NAME) };

/* Bounded retries of serialization failures and deadlocks. */
#define PG_MAX_CONFLICT_RETRIES 8

const char *pgb_stmt_name(pg_stmt stmt)
{
    return PG_STMT_NAMES[stmt];
}

void pgb_error_fill(pg_error *err, int code, pg_fail_kind kind, const char *fmt, ...)
{
    va_list ap;
    err->code = code;
    err->kind = kind;
    err->timed_out = 0;
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
 * The retry policy's one decision, from what is known of a failure (a pure
 * function, so that its table is unit-tested without a server).
 *
 * A lost connection (libpq's CONNECTION_BAD, class 08, or the shutdown
 * errors 57P01/57P02/57P03, which end the session) leaves the step's
 * outcome unknown exactly when the failed statement was sent and would have
 * committed had it finished: an auto-commit write, or the COMMIT of a block
 * that wrote. The server may have committed and then lost the reply, or
 * sent 57P01 in place of it (the commit holds off the termination until it
 * is done, and the session ends before the reply goes out): so whatever the
 * SQLSTATE, such a failure is PG_FAIL_CONN_DOUBT and is never re-run.
 * Anything else that lost its connection (nothing sent, a read, a statement
 * inside an explicit block before COMMIT, whose transaction the server rolls
 * back with the session) is PG_FAIL_CONN_SAFE. Any other SQLSTATE is the
 * server's own answer on a live session: the statement failed and its
 * implicit transaction rolled back, so it committed nothing.
 */
pg_verdict pgb_verdict(const char *state, int conn_bad, int sent, int commits)
{
    pg_verdict v = { CONCERT_EINTERNAL, PG_FAIL_FINAL, "postgresql: " };

    if (conn_bad || sqlstate_class(state, "08") || sqlstate_is(state, "57P01") ||
        sqlstate_is(state, "57P02") || sqlstate_is(state, "57P03")) {
        v.code = CONCERT_ESTORAGE;
        v.kind = (sent && commits) ? PG_FAIL_CONN_DOUBT : PG_FAIL_CONN_SAFE;
        v.prefix = "postgresql: connection lost: ";
    } else if (sqlstate_is(state, "40001") || sqlstate_is(state, "40P01")) {
        v.code = CONCERT_EBUSY;
        v.kind = PG_FAIL_CONFLICT;
    } else if (sqlstate_is(state, "55P03") || sqlstate_is(state, "57014")) {
        v.code = CONCERT_EBUSY;
        v.prefix = "postgresql: busy: ";
    } else if (sqlstate_class(state, "53") || sqlstate_class(state, "58") ||
               sqlstate_class(state, "28") || sqlstate_class(state, "3D") ||
               sqlstate_is(state, "42501") || sqlstate_is(state, "25006")) {
        v.code = CONCERT_ESTORAGE;
    } else if (sqlstate_class(state, "23")) {
        v.prefix = "postgresql: the database refused a change that would break an invariant: ";
    }
    return v;
}

/*
 * Map a failed statement to a libconcert code and a retry kind. sent says
 * whether the statement may have reached the server; writes whether it
 * commits a change if it completes (see pgb_verdict).
 */
void pgb_classify(PGconn *conn, const PGresult *res, int sent, int writes, pg_error *err)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    char msg[400];
    pg_verdict v;

    first_line(primary ? primary : PQerrorMessage(conn), msg, sizeof(msg));
    if (!msg[0])
        snprintf(msg, sizeof(msg), "no reply from the server");
    v = pgb_verdict(state, PQstatus(conn) == CONNECTION_BAD, sent, writes);
    pgb_error_fill(err, v.code, v.kind, "%s%s", v.prefix, msg);
}

/*
 * The transaction helpers. A step that runs an explicit block starts it
 * with pgb_begin, ends it with pgb_commit, and leaves any failure before
 * COMMIT through pgb_abort; only pgb_commit can leave a step in doubt.
 */
int pgb_begin(pg_slot *slot, const char *sql, pg_error *err)
{
    return pgb_exec_simple(slot, sql ? sql : "BEGIN", 0, err);
}

int pgb_commit(pg_slot *slot, int wrote, pg_error *err)
{
    /* A connection lost with COMMIT in flight: committed or not, nobody can
     * say (PG_FAIL_CONN_DOUBT when the block wrote). An error on a live
     * session (a serialization failure at commit) rolled it back. */
    return pgb_exec_simple(slot, "COMMIT", wrote, err);
}

int pgb_abort(pg_slot *slot, pg_error *err)
{
    if (slot->conn && PQstatus(slot->conn) == CONNECTION_OK &&
        PQtransactionStatus(slot->conn) != PQTRANS_IDLE) {
        pg_error ignored;
        pgb_exec_simple(slot, "ROLLBACK", 0, &ignored);
    }
    /* COMMIT was never sent: the server rolls back a block whose session
     * ended, so a lost connection here committed nothing. It is re-run,
     * unless the server was silent past the deadline: asking a hung server
     * again would double the caller's wait. */
    if (err->kind == PG_FAIL_CONN_DOUBT)
        err->kind = err->timed_out ? PG_FAIL_FINAL : PG_FAIL_CONN_SAFE;
    return -1;
}

static void notice_ignore(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* ---- waiting with a deadline ----
 * Every wait on the server is bounded: libpq's blocking calls (PQexec,
 * PQgetResult, PQconnectdb) wait as long as the server stays silent, and a
 * server that hangs (SIGSTOP, a network cut) is silent forever. So each call
 * is sent with the asynchronous API and its socket polled until a deadline on
 * the monotonic clock (a timeout, not business time). */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until conn's socket has events or the deadline passes: 1 ready (or
 * an error condition libpq will report), 0 the deadline passed, -1 no
 * socket or poll failed. */
static int wait_socket(PGconn *conn, short events, int64_t deadline)
{
    for (;;) {
        struct pollfd p;
        int64_t left = deadline - mono_ms();
        int rc;
        if (left <= 0)
            return 0;
        p.fd = PQsocket(conn);
        p.events = events;
        p.revents = 0;
        if (p.fd < 0)
            return -1;
        rc = poll(&p, 1, (int)pg_clamp(left, 1, 60000));
        if (rc > 0)
            return 1;
        if (rc < 0 && errno != EINTR)
            return -1;
    }
}

#ifdef LIBPQ_HAS_ASYNC_CANCEL
/* How long a cancel request may take to get out. It only has to reach the
 * server's kernel: waiting for the server to act on it would wait on the
 * very server that stopped answering. */
#define PG_CANCEL_MS 25

/* Ask the server to stop the statement conn is waiting for, within
 * PG_CANCEL_MS; give up quietly otherwise (the server's own
 * statement_timeout, set on every connection, stops it anyway). */
static void cancel_bounded(PGconn *conn)
{
    PGcancelConn *cc = PQcancelCreate(conn);
    int64_t deadline = mono_ms() + PG_CANCEL_MS;
    PostgresPollingStatusType ps = PGRES_POLLING_WRITING;
    if (!cc)
        return;
    if (PQcancelStart(cc)) {
        while (ps != PGRES_POLLING_OK && ps != PGRES_POLLING_FAILED) {
            struct pollfd p;
            int64_t left = deadline - mono_ms();
            if (left <= 0)
                break;
            p.fd = PQcancelSocket(cc);
            p.events = ps == PGRES_POLLING_READING ? POLLIN : POLLOUT;
            p.revents = 0;
            if (p.fd < 0 || poll(&p, 1, (int)left) < 0)
                break;
            ps = PQcancelPoll(cc);
        }
    }
    PQcancelFinish(cc);
}
#else
/* libpq before 17 has only PQcancel(), which blocks in connect() and then in
 * recv() until the server closes the cancel connection, with no timeout: on
 * a server that hangs it never returns. So no cancel is sent; the server's
 * own statement_timeout (busy_timeout_ms, set on every connection) stops the
 * statement once it runs again, and the dropped connection ends the session
 * and rolls back whatever had not committed. */
static void cancel_bounded(PGconn *conn)
{
    (void)conn;
}
#endif

/* ---- connections ---- */

static int slot_connect(pg_store *st, pg_slot *slot, pg_error *err)
{
    char msg[400];
    int64_t deadline = mono_ms() + st->connect_ms;
    PostgresPollingStatusType ps = PGRES_POLLING_WRITING;
    /* Non-blocking connect: PQconnectdbParams would wait on libpq's own
     * connect_timeout, which counts whole seconds, per host and address. */
    PGconn *conn =
        PQconnectStartParams((const char *const *)st->keywords, (const char *const *)st->values, 0);
    if (!conn) {
        pgb_error_fill(err, CONCERT_ENOMEM, PG_FAIL_FINAL, "postgresql: out of memory connecting");
        return -1;
    }
    while (PQstatus(conn) != CONNECTION_BAD && ps != PGRES_POLLING_OK &&
           ps != PGRES_POLLING_FAILED) {
        int w = wait_socket(conn, ps == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline);
        if (w == 0) {
            PQfinish(conn);
            pgb_error_fill(err, CONCERT_ESTORAGE, PG_FAIL_FINAL,
                           "postgresql: cannot connect: no answer within %d ms", st->connect_ms);
            return -1;
        }
        if (w < 0)
            break;
        ps = PQconnectPoll(conn);
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        first_line(PQerrorMessage(conn), msg, sizeof(msg));
        PQfinish(conn);
        pgb_error_fill(err, CONCERT_ESTORAGE, PG_FAIL_FINAL, "postgresql: cannot connect: %s",
                       msg[0] ? msg : "connection failed");
        return -1;
    }
    /* Sends never block either: PQflush() and poll() do the waiting. */
    if (PQsetnonblocking(conn, 1) != 0) {
        first_line(PQerrorMessage(conn), msg, sizeof(msg));
        PQfinish(conn);
        pgb_error_fill(err, CONCERT_ESTORAGE, PG_FAIL_FINAL, "postgresql: cannot connect: %s", msg);
        return -1;
    }
    /* A library never writes to stderr: server notices are dropped. */
    PQsetNoticeProcessor(conn, notice_ignore, NULL);
    slot->conn = conn;
    slot->prepared = 0;
    /* The first connection of a slot is the pool filling up lazily; any
     * later one replaces a connection that was lost or dropped. */
    if (slot->connected_before)
        atomic_fetch_add_explicit(&st->reconnects, 1, memory_order_relaxed);
    slot->connected_before = 1;
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
    if (PQstatus(slot->conn) != CONNECTION_OK || PQtransactionStatus(slot->conn) != PQTRANS_IDLE) {
        slot_disconnect(slot);
        return;
    }
    p.fd = PQsocket(slot->conn);
    p.events = POLLIN;
    p.revents = 0;
    if (p.fd < 0 || poll(&p, 1, 0) != 0)
        slot_disconnect(slot);
}

/* Absolute CLOCK_MONOTONIC time ms from now (the pool's condition waits on
 * that clock, see pgb_store_init). */
static void deadline_after(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Take an idle connection, connecting it if needed. Each wait is bounded:
 * for a free slot by busy_timeout_ms, for a new connection by
 * connect_timeout_ms, and for each answer of the step by busy_timeout_ms. */
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
        pgb_error_fill(err, CONCERT_EBUSY, PG_FAIL_FINAL,
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
    slot->budget_ms = st->wait_ms;
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

/* ---- statements ---- */

/* The deadline passed while waiting on the server: ask it to cancel
 * (bounded, see cancel_bounded), drop the connection (its state is unknown:
 * never reuse it) and say so. A write that was sent may have committed. */
static void step_timed_out(pg_slot *slot, int sent, int writes, pg_error *err)
{
    if (sent)
        cancel_bounded(slot->conn);
    slot_disconnect(slot);
    pgb_error_fill(err, CONCERT_ESTORAGE, (sent && writes) ? PG_FAIL_CONN_DOUBT : PG_FAIL_FINAL,
                   "postgresql: no answer within %lld ms", (long long)slot->budget_ms);
    err->timed_out = 1;
}

/* Dropped by step_timed_out() earlier in this step. (A connection libpq
 * saw fail is left to PQsend*, whose failure pgb_classify() judges as it
 * always did.) */
static int conn_lost(pg_slot *slot)
{
    return !slot->conn;
}

/*
 * After a PQsend* call: push the command out and collect every result until
 * the connection is idle again, within busy_timeout_ms (the slot's budget).
 * Returns the first error result if any, else the first result; NULL with
 * err filled if the connection failed or the deadline passed (the
 * connection is then dropped).
 *
 * The deadline is per command, as the server's own statement_timeout and
 * lock_timeout are (both busy_timeout_ms): a slow step whose every statement
 * the server answers in time is the server's to judge, and its verdict is
 * certain (an error, rolled back); a deadline here turns the outcome of a
 * write into a doubt, so it is only the net for a server that says nothing.
 */
static PGresult *await_results(pg_slot *slot, int writes, pg_error *err)
{
    PGconn *conn = slot->conn;
    PGresult *res = NULL, *next;
    int flushed;

    slot->deadline_ms = mono_ms() + slot->budget_ms;

    while ((flushed = PQflush(conn)) == 1) {
        int w = wait_socket(conn, POLLIN | POLLOUT, slot->deadline_ms);
        if (w == 0) {
            step_timed_out(slot, 0, writes, err);
            return NULL;
        }
        /* A server that answers while we still send (an error) is read. */
        if (w < 0 || !PQconsumeInput(conn)) {
            flushed = -1;
            break;
        }
    }
    if (flushed != 0) {
        pgb_classify(conn, NULL, 1, writes, err);
        return NULL;
    }
    for (;;) {
        while (!PQisBusy(conn)) {
            next = PQgetResult(conn);
            if (!next && !res) {
                pgb_classify(conn, NULL, 1, writes, err);
                return NULL;
            }
            if (!next)
                return res;
            if (!res)
                res = next;
            else if (PQresultStatus(res) != PGRES_FATAL_ERROR &&
                     PQresultStatus(next) == PGRES_FATAL_ERROR) {
                PQclear(res);
                res = next;
            } else
                PQclear(next);
        }
        int w = wait_socket(conn, POLLIN, slot->deadline_ms);
        if (w == 0) {
            PQclear(res);
            step_timed_out(slot, 1, writes, err);
            return NULL;
        }
        if (w < 0 || !PQconsumeInput(conn)) {
            pgb_classify(conn, res, 1, writes, err);
            PQclear(res);
            return NULL;
        }
    }
}

/* Is the result of a finished command a success? */
static int result_ok(const PGresult *res)
{
    ExecStatusType s = PQresultStatus(res);
    return res && (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK);
}

/* Run a simple command (fixed text, no parameters) on slot. */
int pgb_exec_simple(pg_slot *slot, const char *sql, int writes, pg_error *err)
{
    PGresult *res;
    if (conn_lost(slot)) {
        /* FINAL: the failure that dropped it was reported with its own kind. */
        pgb_error_fill(err, CONCERT_ESTORAGE, PG_FAIL_FINAL,
                       "postgresql: connection dropped after an earlier failure");
        return -1;
    }
    /* A step that lifts the server's statement timeout for bulk work lifts
     * its own deadline with it; the server still bounds every statement. */
    if (strcmp(sql, PG_BULK_TIMEOUT_SQL) == 0)
        slot->budget_ms = PG_BULK_DEADLINE_MS;
    if (!PQsendQuery(slot->conn, sql)) {
        pgb_classify(slot->conn, NULL, 0, writes, err);
        return -1;
    }
    if (!(res = await_results(slot, writes, err)))
        return -1;
    if (!result_ok(res)) {
        pgb_classify(slot->conn, res, 1, writes, err);
        PQclear(res);
        return -1;
    }
    PQclear(res);
    return 0;
}

int pgb_ensure_prepared(pg_slot *slot, pg_stmt stmt, pg_error *err)
{
    PGresult *res;
    uint64_t bit = UINT64_C(1) << stmt;
    if (slot->prepared & bit)
        return 0;
    if (conn_lost(slot)) {
        pgb_error_fill(err, CONCERT_ESTORAGE, PG_FAIL_FINAL,
                       "postgresql: connection dropped after an earlier failure");
        return -1;
    }
    if (!PQsendPrepare(slot->conn, PG_STMT_NAMES[stmt], PG_STMT_TEXT[stmt], 0, NULL)) {
        pgb_classify(slot->conn, NULL, 0, 0, err);
        return -1;
    }
    if (!(res = await_results(slot, 0, err)))
        return -1;
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        pgb_classify(slot->conn, res, 0, 0, err);
        PQclear(res);
        return -1;
    }
    PQclear(res);
    slot->prepared |= bit;
    return 0;
}

/* Execute a prepared statement; returns its result (tuples or command), or
 * NULL with err filled. */
PGresult *pgb_exec_stmt(pg_slot *slot, pg_stmt stmt, const pg_params *p, int writes, pg_error *err)
{
    PGresult *res;

    if (p && (p->overflow || p->count < 0 || p->count > PG_MAX_PARAMS)) {
        /* Sending it short of a value would run a different statement. */
        pgb_error_fill(err, CONCERT_EINTERNAL, PG_FAIL_FINAL,
                       "postgresql: %s was given more than %d parameters", PG_STMT_NAMES[stmt],
                       PG_MAX_PARAMS);
        return NULL;
    }
    if (pgb_ensure_prepared(slot, stmt, err) != 0)
        return NULL;
    if (!PQsendQueryPrepared(slot->conn, PG_STMT_NAMES[stmt], p ? p->count : 0,
                             p ? p->values : NULL, NULL, NULL, 0)) {
        pgb_classify(slot->conn, NULL, 0, writes, err);
        return NULL;
    }
    if (!(res = await_results(slot, writes, err)))
        return NULL;
    if (!result_ok(res)) {
        pgb_classify(slot->conn, res, 1, writes, err);
        PQclear(res);
        return NULL;
    }
    return res;
}

/* Run fixed SQL text with text parameters (never caller SQL); its result
 * (tuples or command), or NULL with err filled. */
PGresult *pgb_exec_params(pg_slot *slot, const char *sql, int count, const char *const *values,
                          int writes, pg_error *err)
{
    PGresult *res;
    if (conn_lost(slot)) {
        pgb_error_fill(err, CONCERT_ESTORAGE, PG_FAIL_FINAL,
                       "postgresql: connection dropped after an earlier failure");
        return NULL;
    }
    if (!PQsendQueryParams(slot->conn, sql, count, NULL, values, NULL, NULL, 0)) {
        pgb_classify(slot->conn, NULL, 0, writes, err);
        return NULL;
    }
    if (!(res = await_results(slot, writes, err)))
        return NULL;
    if (!result_ok(res)) {
        pgb_classify(slot->conn, res, 1, writes, err);
        PQclear(res);
        return NULL;
    }
    return res;
}

/* PQgetResult() within the slot's deadline, for a connection in pipeline
 * mode (where NULL separates the results of queued commands): 0 and *out
 * (may be NULL, as from PQgetResult), or -1 with err filled and the
 * connection dropped if the deadline passed. */
int pgb_next_result(pg_slot *slot, PGresult **out, pg_error *err)
{
    PGconn *conn = slot->conn;
    int flushed;
    *out = NULL;
    if (conn_lost(slot))
        return 0; /* PQgetResult would say nothing more: the caller checks PQstatus */
    slot->deadline_ms = mono_ms() + slot->budget_ms;
    while ((flushed = PQflush(conn)) == 1 || PQisBusy(conn)) {
        int w;
        if (flushed < 0)
            break;
        w = wait_socket(conn, flushed == 1 ? POLLIN | POLLOUT : POLLIN, slot->deadline_ms);
        if (w == 0) {
            step_timed_out(slot, 1, 1, err);
            return -1;
        }
        if (w < 0 || !PQconsumeInput(conn))
            break; /* the connection failed: PQgetResult reports it */
    }
    *out = PQgetResult(conn);
    return 0;
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

/*
 * Run body on a pooled connection with the retry policy of this backend,
 * and turn a failure into a libconcert code and detail. A step runs again
 * only when the server said it committed nothing (a serialization failure
 * or deadlock, up to PG_MAX_CONFLICT_RETRIES times) or when its connection
 * was lost before anything that could commit was in flight
 * (PG_FAIL_CONN_SAFE, once). A connection lost with a commit in flight
 * (PG_FAIL_CONN_DOUBT) is reported, never re-run: a second run could apply
 * an unkeyed change twice.
 */
int pgb_run(pg_store *st, pg_body body, void *ctx)
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
            atomic_fetch_add_explicit(&st->retries, 1, memory_order_relaxed);
            conflict_backoff(attempt + 1);
            continue;
        }
        if (err.kind == PG_FAIL_CONN_SAFE && !reconnected) {
            atomic_fetch_add_explicit(&st->retries, 1, memory_order_relaxed);
            reconnected = 1;
            continue;
        }
        if (err.kind == PG_FAIL_CONFLICT)
            return concert_sys_error_set(CONCERT_EBUSY, "%s (still conflicting after %d attempts)",
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
    q->result = pgb_exec_stmt(slot, q->stmt, q->params, q->writes, err);
    return q->result ? 0 : -1;
}

/* Run one statement; *out receives the result (PQclear it). */
int pgb_query(pg_store *st, pg_stmt stmt, const pg_params *p, int writes, PGresult **out)
{
    pg_query_ctx q = { stmt, p, writes, NULL };
    int rc = pgb_run(st, query_body, &q);
    *out = q.result;
    return rc;
}

static void strings_free(char **v)
{
    if (!v)
        return;
    for (size_t i = 0; v[i]; i++)
        free(v[i]);
    free(v);
}

void pgb_store_free(pg_store *st)
{
    if (!st)
        return;
    for (int i = 0; i < st->slot_count && st->slots; i++)
        slot_disconnect(&st->slots[i]);
    free(st->slots);
    free(st->idle);
    strings_free(st->keywords);
    strings_free(st->values);
    if (st->sync_ready) {
        pthread_mutex_destroy(&st->mutex);
        pthread_cond_destroy(&st->freed);
        pthread_mutex_destroy(&st->cache_mutex);
    }
    free(st);
}

/* cap: the slots of st->keywords and st->values, the NULL terminator's
 * included. Running out is a programming error (the arrays are sized for
 * what conninfo_build adds): -2, nothing written. */
static int param_set(pg_store *st, size_t *n, size_t cap, const char *key, const char *value)
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
    if (*n + 1 >= cap)
        return -2;
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

/* Extra connection parameters conninfo_build may add to the caller's:
 * options, application_name and the three keepalives. */
#define PG_ADDED_PARAMS 5

/* ms as a libpq/server setting: whole milliseconds within an int. */
static int option_ms(int32_t value, int32_t fallback)
{
    return (int)pg_clamp(value > 0 ? value : fallback, 1, INT32_MAX);
}

/* The caller's own connect_timeout (whole seconds) in ms, or 0 if it set
 * none or one libpq reads as "no timeout". */
static int user_connect_ms(const char *text)
{
    char *end;
    long long secs;
    if (!text)
        return 0;
    errno = 0;
    secs = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || secs <= 0)
        return 0;
    /* libpq raises 1 s to 2 s. */
    return (int)pg_clamp(secs < 2 ? 2000 : secs * 1000, 1, INT32_MAX);
}

/*
 * Connection parameters: what the caller's URI or conninfo says, plus
 * server-side statement and lock timeouts where the caller did not choose,
 * so that no call can hang on the server. The client-side bounds are ours:
 * connect_timeout_ms for a new connection (a connect_timeout in the URI
 * applies when the options leave it 0) and busy_timeout_ms for answers.
 */
static int conninfo_build(pg_store *st, const char *location, const concert_options *opts)
{
    PQconninfoOption *parsed, *o;
    char *errmsg = NULL;
    size_t count = 0, n = 0, cap;
    char text[512];
    const char *user_options;
    int busy_ms = option_ms(opts ? opts->busy_timeout_ms : 0, 5000);
    /* idle_in_transaction_session_timeout: 12 times the statement timeout,
     * computed wide and clamped to what the server accepts. */
    int64_t idle_ms = pg_clamp((int64_t)busy_ms * 12, 1, INT32_MAX);
    int rc;

    parsed = PQconninfoParse(location, &errmsg);
    if (!parsed) {
        char msg[300];
        first_line(errmsg ? errmsg : "out of memory", msg, sizeof(msg));
        PQfreemem(errmsg);
        return concert_sys_error_set(CONCERT_EINVAL, "postgresql: bad connection string: %s", msg);
    }
    for (o = parsed; o->keyword; o++)
        count++;
    cap = count + PG_ADDED_PARAMS + 1;
    st->keywords = calloc(cap, sizeof(char *));
    st->values = calloc(cap, sizeof(char *));
    if (!st->keywords || !st->values)
        goto nomem;
    for (o = parsed; o->keyword; o++) {
        if (o->val && o->val[0] && (rc = param_set(st, &n, cap, o->keyword, o->val)) != 0)
            goto fail;
    }
    PQconninfoFree(parsed);
    parsed = NULL;

    if (opts && opts->connect_timeout_ms > 0)
        st->connect_ms = option_ms(opts->connect_timeout_ms, 3000);
    else if ((st->connect_ms = user_connect_ms(param_get(st, n, "connect_timeout"))) == 0)
        st->connect_ms = 3000;
    user_options = param_get(st, n, "options");
    if (snprintf(text, sizeof(text),
                 "%s%s-c statement_timeout=%d -c lock_timeout=%d "
                 "-c idle_in_transaction_session_timeout=%lld",
                 user_options ? user_options : "", user_options ? " " : "", busy_ms, busy_ms,
                 (long long)idle_ms) >= (int)sizeof(text))
        return concert_sys_error_set(CONCERT_EINVAL, "postgresql: options parameter too long");
    if ((rc = param_set(st, &n, cap, "options", text)) != 0)
        goto fail;
    if (!param_get(st, n, "application_name") &&
        (rc = param_set(st, &n, cap, "application_name", "libconcert")) != 0)
        goto fail;
    /* A server that vanishes from the network is noticed within seconds. */
    if (!param_get(st, n, "keepalives_idle") &&
        (rc = param_set(st, &n, cap, "keepalives_idle", "5")) != 0)
        goto fail;
    if (!param_get(st, n, "keepalives_interval") &&
        (rc = param_set(st, &n, cap, "keepalives_interval", "2")) != 0)
        goto fail;
    if (!param_get(st, n, "keepalives_count") &&
        (rc = param_set(st, &n, cap, "keepalives_count", "2")) != 0)
        goto fail;
    return CONCERT_OK;

fail:
    if (rc == -2) {
        if (parsed)
            PQconninfoFree(parsed);
        return concert_sys_error_set(CONCERT_EINTERNAL,
                                     "postgresql: too many connection parameters");
    }
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
    st->wait_ms = option_ms(opts ? opts->busy_timeout_ms : 0, 5000);
    return CONCERT_OK;
}


int pgb_store_init(pg_store *st, const char *location, const concert_options *opts)
{
    if (pthread_mutex_init(&st->mutex, NULL) != 0)
        return concert_sys_error_set(CONCERT_ENOMEM, "postgresql: cannot create a mutex");
    /* The pool's waits are timeouts: on the monotonic clock, so that a step
     * of the wall clock neither cuts them short nor stretches them. */
    pthread_condattr_t attr;
    int cond_rc = pthread_condattr_init(&attr);
    if (cond_rc == 0) {
        cond_rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        if (cond_rc == 0)
            cond_rc = pthread_cond_init(&st->freed, &attr);
        pthread_condattr_destroy(&attr);
    }
    if (cond_rc != 0) {
        pthread_mutex_destroy(&st->mutex);
        return concert_sys_error_set(CONCERT_ENOMEM, "postgresql: cannot create a condition");
    }
    if (pthread_mutex_init(&st->cache_mutex, NULL) != 0) {
        pthread_cond_destroy(&st->freed);
        pthread_mutex_destroy(&st->mutex);
        return concert_sys_error_set(CONCERT_ENOMEM, "postgresql: cannot create a mutex");
    }
    st->sync_ready = 1;
    int rc = conninfo_build(st, location, opts);
    if (rc == 0)
        rc = pool_init(st, opts);
    return rc;
}

#else
/* Built without PostgreSQL: postgres.c alone provides the entry point. */
typedef int concert_postgres_compiled_out;
#endif
