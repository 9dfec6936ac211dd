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
static const char *const PG_STMT_TEXT[] = {PG_STATEMENTS(PG_STMT_SQL)};
static const char *const PG_STMT_NAMES[] = {PG_STATEMENTS(PG_STMT_NAME)};

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
    pg_verdict v = {CONCERT_EINTERNAL, PG_FAIL_FINAL, "postgresql: "};

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
     * ended, so a lost connection here committed nothing. */
    if (err->kind == PG_FAIL_CONN_DOUBT)
        err->kind = PG_FAIL_CONN_SAFE;
    return -1;
}

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
        pgb_error_fill(err, CONCERT_ENOMEM, PG_FAIL_FINAL, "postgresql: out of memory connecting");
        return -1;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
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

/* Run a simple command (fixed text, no parameters) on slot. */
int pgb_exec_simple(pg_slot *slot, const char *sql, int writes, pg_error *err)
{
    PGresult *res = PQexec(slot->conn, sql);
    ExecStatusType s = PQresultStatus(res);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
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
    res = PQprepare(slot->conn, PG_STMT_NAMES[stmt], PG_STMT_TEXT[stmt], 0, NULL);
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
PGresult *pgb_exec_stmt(pg_slot *slot, pg_stmt stmt, const pg_params *p, int writes,
                           pg_error *err)
{
    PGresult *res = NULL, *next;
    ExecStatusType s;

    if (pgb_ensure_prepared(slot, stmt, err) != 0)
        return NULL;
    if (!PQsendQueryPrepared(slot->conn, PG_STMT_NAMES[stmt], p ? p->count : 0,
                             p ? p->values : NULL, NULL, NULL, 0)) {
        pgb_classify(slot->conn, NULL, 0, writes, err);
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
        pgb_classify(slot->conn, res, 1, writes, err);
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
    q->result = pgb_exec_stmt(slot, q->stmt, q->params, q->writes, err);
    return q->result ? 0 : -1;
}

/* Run one statement; *out receives the result (PQclear it). */
int pgb_query(pg_store *st, pg_stmt stmt, const pg_params *p, int writes, PGresult **out)
{
    pg_query_ctx q = {stmt, p, writes, NULL};
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


int pgb_store_init(pg_store *st, const char *location, const concert_options *opts)
{
    if (pthread_mutex_init(&st->mutex, NULL) != 0)
        return concert_sys_error_set(CONCERT_ENOMEM, "postgresql: cannot create a mutex");
    if (pthread_cond_init(&st->freed, NULL) != 0) {
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
