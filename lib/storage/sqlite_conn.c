/*
 * SQLite backend: connections, the reader pool, the per-connection statement
 * cache, error mapping and transactions. Every other sqlite_*.c file talks to
 * SQLite only through these helpers, so that no SQLITE_* code can escape and
 * every value reaches SQL as a bound parameter.
 */
#ifdef CONCERT_HAVE_SQLITE

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite_internal.h"

/* ---- busy handling ----
 * SQLite's own busy_timeout sleeps in steps of up to 100 ms, which makes a
 * briefly contended lock (another process committing) cost far more than the
 * commit itself. This handler polls with short, growing sleeps and gives up
 * at the step's deadline (busy_timeout_ms after the step began: the wait for
 * the in-process write lock, BEGIN IMMEDIATE and any later wait of the step
 * share it), or busy_timeout_ms after the wait began outside a step. Every
 * sleep is cut to what is left, so no wait runs past the bound. Monotonic
 * clock: this is a timeout, not business time. */
static int64_t mono_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static int64_t timespec_ms(const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * 1000 + ts->tv_nsec / 1000000;
}

static int busy_wait(void *ctx, int attempts)
{
    sq_conn *c = ctx;
    struct timespec pause;
    int64_t deadline, left;
    long micros;

    if (attempts == 0) {
        clock_gettime(CLOCK_MONOTONIC, &c->busy_since);
        if (c->busy_waits)
            atomic_fetch_add_explicit(c->busy_waits, 1, memory_order_relaxed);
    }
    deadline = c->step_deadline_ms > 0 ? c->step_deadline_ms
                                       : timespec_ms(&c->busy_since) + c->busy_timeout_ms;
    left = deadline - mono_ms();
    if (left <= 0)
        return 0; /* give up: the step returns SQLITE_BUSY -> CONCERT_EBUSY */
    /* 50 us doubling to 2 ms, plus an offset that differs between
     * connections (their addresses) so that waiters do not wake in lockstep. */
    micros = attempts < 6 ? 50L << attempts : 2000L;
    micros += (long)(((uintptr_t)c >> 6) % 64u);
    if ((int64_t)micros > left * 1000)
        micros = (long)(left * 1000);
    pause.tv_sec = 0;
    pause.tv_nsec = micros * 1000L;
    while (nanosleep(&pause, &pause) != 0 && errno == EINTR)
        ;
    return 1;
}

/* An absolute CLOCK_REALTIME time (what pthread_mutex_timedlock and the
 * pool's condition take) at most 100 ms ahead and never past the monotonic
 * deadline: the caller loops and re-checks that deadline, so a step of the
 * wall clock can stretch one slice, not the whole wait. */
static struct timespec realtime_slice(int64_t deadline_ms)
{
    struct timespec ts;
    int64_t ms = deadline_ms - mono_ms();
    if (ms > 100)
        ms = 100;
    if (ms < 1)
        ms = 1;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (long)ms * 1000000L;
    while (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* Lock m by deadline_ms (monotonic): 0, or ETIMEDOUT / an error number. */
static int lock_by(pthread_mutex_t *m, int64_t deadline_ms)
{
    for (;;) {
        struct timespec slice = realtime_slice(deadline_ms);
        int rc = pthread_mutex_timedlock(m, &slice);
        if (rc != ETIMEDOUT)
            return rc;
        if (mono_ms() >= deadline_ms)
            return ETIMEDOUT;
    }
}

/* ---- errors ---- */

int sq_error(sq_conn *c, int sqlite_rc, const char *what)
{
    const char *msg = c && c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(sqlite_rc);
    if (!what)
        what = "sqlite";
    switch (sqlite_rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return concert_sys_error_set(CONCERT_EBUSY,
                                     "sqlite: %s: the store stayed locked by another writer "
                                     "for more than %d ms (%s)",
                                     msg, c ? c->busy_timeout_ms : 0, what);
    case SQLITE_NOMEM:
        return concert_sys_error_set(CONCERT_ENOMEM, "sqlite: out of memory (%s)", what);
    case SQLITE_IOERR:
    case SQLITE_READONLY:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_PERM:
    case SQLITE_PROTOCOL:
    case SQLITE_NOLFS:
    case SQLITE_AUTH:
        return concert_sys_error_set(CONCERT_ESTORAGE, "sqlite: %s (%s)", msg, what);
    case SQLITE_CONSTRAINT:
        /* The schema's own guard caught what the code should have prevented. */
        return concert_sys_error_set(CONCERT_EINTERNAL,
                                     "sqlite: the database refused a change that would break "
                                     "an invariant: %s (%s)",
                                     msg, what);
    default:
        return concert_sys_error_set(CONCERT_EINTERNAL, "sqlite: %s (%s)", msg, what);
    }
}

/* ---- connections ---- */

static int exec_pragma(sq_conn *c, const char *sql, const char *what)
{
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? CONCERT_OK : sq_error(c, rc, what);
}

int sq_conn_open(const char *path, int busy_timeout_ms, int reader,
                 atomic_uint_least64_t *busy_waits, sq_conn **out)
{
    sq_conn *c;
    int rc;

    *out = NULL;
    c = calloc(1, sizeof(*c));
    if (!c)
        return concert_sys_error_set(CONCERT_ENOMEM, "sqlite: out of memory opening %s", path);
    c->busy_timeout_ms = busy_timeout_ms;
    c->busy_waits = busy_waits;
    /* NOMUTEX: the backend guarantees one thread per connection at a time. */
    rc = sqlite3_open_v2(path, &c->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        int code = c->db ? sq_error(c, rc, path)
                         : concert_sys_error_set(CONCERT_ENOMEM, "sqlite: out of memory");
        if ((rc & 0xff) == SQLITE_CANTOPEN)
            code = concert_sys_error_set(CONCERT_ESTORAGE,
                                         "sqlite: cannot open %s: %s (does the directory exist "
                                         "and is it writable?)",
                                         path, c->db ? sqlite3_errmsg(c->db) : "?");
        sq_conn_close(c);
        return code;
    }
    sqlite3_extended_result_codes(c->db, 1);
    if (sqlite3_db_readonly(c->db, "main") == 1) {
        sq_conn_close(c);
        return concert_sys_error_set(CONCERT_ESTORAGE,
                                     "sqlite: %s is read-only: libconcert needs to write the "
                                     "file and create %s-wal and %s-shm beside it",
                                     path, path, path);
    }
    sqlite3_busy_handler(c->db, busy_wait, c);
    /* journal_size_limit: after a big catalog load the WAL shrinks back to
     * 16 MiB once checkpointed, instead of keeping its peak size on disk.
     * cache_size: the writer may keep up to 64 MiB of pages (allocated only
     * as they are touched). The default 2 MiB spills a big transaction's
     * dirty pages to the WAL over and over: the opening lottery of 100,000
     * pre-queued tokens rewrites rows all over the tokens table and took
     * 3.5x the CPU time with it. */
    if ((rc = exec_pragma(c, "PRAGMA foreign_keys = ON", path)) != 0 ||
        (rc = exec_pragma(c, "PRAGMA synchronous = NORMAL", path)) != 0 ||
        (rc = exec_pragma(c, "PRAGMA journal_size_limit = 16777216", path)) != 0 ||
        (reader && (rc = exec_pragma(c, "PRAGMA query_only = ON", path)) != 0) ||
        (!reader && (rc = exec_pragma(c, "PRAGMA cache_size = -65536", path)) != 0)) {
        sq_conn_close(c);
        return rc;
    }
    c->durable = 0;
    *out = c;
    return CONCERT_OK;
}

void sq_conn_close(sq_conn *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < SQ_STMT_SLOTS; i++)
        sqlite3_finalize(c->slots[i].stmt);
    sqlite3_close_v2(c->db);
    free(c);
}

/* ---- statements ---- */

static sq_stmt_slot *slot_find(sq_conn *c, const char *sql)
{
    /* Open addressing on the text's address: statements are static strings. */
    size_t h = (size_t)(((uintptr_t)sql >> 3) * 2654435761u) % SQ_STMT_SLOTS;
    for (size_t probe = 0; probe < SQ_STMT_SLOTS; probe++) {
        sq_stmt_slot *slot = &c->slots[(h + probe) % SQ_STMT_SLOTS];
        if (slot->sql == sql || slot->sql == NULL)
            return slot;
    }
    return NULL;
}

int sq_query(sq_conn *c, const char *sql, const sq_arg *args, size_t n, sqlite3_stmt **out,
             const char *what)
{
    sq_stmt_slot *slot = slot_find(c, sql);
    sqlite3_stmt *st;
    int rc;

    *out = NULL;
    if (!slot)
        return concert_sys_error_set(CONCERT_EINTERNAL, "sqlite: statement cache full (%s)", what);
    if (!slot->stmt) {
        rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &slot->stmt, NULL);
        if (rc != SQLITE_OK) {
            sqlite3_finalize(slot->stmt);
            slot->stmt = NULL;
            return sq_error(c, rc, what);
        }
        slot->sql = sql;
    }
    st = slot->stmt;
    for (size_t i = 0; i < n; i++) {
        int idx = (int)i + 1;
        if (args[i].kind == SQ_KIND_INT)
            rc = sqlite3_bind_int64(st, idx, args[i].i);
        else if (args[i].t)
            rc = sqlite3_bind_text(st, idx, args[i].t, -1, SQLITE_STATIC);
        else
            rc = sqlite3_bind_null(st, idx);
        if (rc != SQLITE_OK) {
            sqlite3_clear_bindings(st);
            return sq_error(c, rc, what);
        }
    }
    *out = st;
    return CONCERT_OK;
}

void sq_done(sqlite3_stmt *st)
{
    if (!st)
        return;
    sqlite3_reset(st);
    /* Bound texts are SQLITE_STATIC: drop them before their owner goes. */
    sqlite3_clear_bindings(st);
}

int sq_step(sq_conn *c, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE) {
        sq_done(st);
        return 0;
    }
    rc = sq_error(c, rc, what);
    sq_done(st);
    return rc;
}

int sq_exec(sq_conn *c, const char *sql, const sq_arg *args, size_t n, const char *what)
{
    sqlite3_stmt *st;
    int rc = sq_query(c, sql, args, n, &st, what);
    if (rc != 0)
        return rc;
    rc = sq_step(c, st, what);
    if (rc == 1) { /* a statement meant to return nothing returned a row */
        sq_done(st);
        return CONCERT_OK;
    }
    return rc;
}

int sq_exec0(sq_conn *c, const char *sql, const char *what)
{
    return sq_exec(c, sql, NULL, 0, what);
}

int sq_one_i64(sq_conn *c, const char *sql, const sq_arg *args, size_t n, int64_t *out,
               const char *what)
{
    sqlite3_stmt *st;
    int rc = sq_query(c, sql, args, n, &st, what);
    if (rc != 0)
        return rc;
    rc = sq_step(c, st, what);
    if (rc == 1) {
        *out = sqlite3_column_int64(st, 0);
        sq_done(st);
    }
    return rc;
}

int sq_query_rows(sq_conn *c, const char *sql, const sq_arg *args, size_t n, sq_row_fn row,
                  void *ctx, const char *what)
{
    sqlite3_stmt *st;
    int rc = sq_query(c, sql, args, n, &st, what);
    if (rc != 0)
        return rc;
    while ((rc = sq_step(c, st, what)) == 1) {
        if ((rc = row(ctx, st)) != 0) {
            sq_done(st); /* stopped on a row: reset it for the next user */
            return rc;
        }
    }
    return rc;
}

int64_t sq_changes(sq_conn *c)
{
    return (int64_t)sqlite3_changes(c->db);
}

int64_t sq_last_id(sq_conn *c)
{
    return (int64_t)sqlite3_last_insert_rowid(c->db);
}

void sq_text_copy(char *dst, size_t size, sqlite3_stmt *st, int col)
{
    const unsigned char *text = sqlite3_column_text(st, col);
    int bytes = sqlite3_column_bytes(st, col);
    size_t n;

    if (size == 0)
        return;
    if (!text || bytes <= 0) {
        dst[0] = '\0';
        return;
    }
    n = (size_t)bytes < size - 1 ? (size_t)bytes : size - 1;
    memcpy(dst, text, n);
    dst[n] = '\0';
}

/* ---- transactions ---- */

static const char SQL_BEGIN_IMMEDIATE[] = "BEGIN IMMEDIATE";
static const char SQL_BEGIN[] = "BEGIN";
static const char SQL_COMMIT[] = "COMMIT";
static const char SQL_ROLLBACK[] = "ROLLBACK";

/* Roll back without touching the thread's error detail, which describes the
 * failure that led here. */
static void rollback_quietly(sq_conn *c)
{
    sq_stmt_slot *slot;
    if (sqlite3_get_autocommit(c->db))
        return; /* SQLite already rolled back (e.g. after SQLITE_FULL) */
    slot = slot_find(c, SQL_ROLLBACK);
    if (slot && !slot->stmt &&
        sqlite3_prepare_v3(c->db, SQL_ROLLBACK, -1, SQLITE_PREPARE_PERSISTENT, &slot->stmt, NULL) ==
            SQLITE_OK)
        slot->sql = SQL_ROLLBACK;
    if (slot && slot->stmt) {
        sqlite3_step(slot->stmt);
        sqlite3_reset(slot->stmt);
    } else {
        sqlite3_exec(c->db, SQL_ROLLBACK, NULL, NULL, NULL);
    }
}

int sq_write_begin(sq_store *s, int durable, sq_conn **out, const char *what)
{
    sq_conn *c = s->writer;
    int rc;

    int64_t deadline = mono_ms() + s->busy_timeout_ms;

    *out = NULL;
    /* Writers of this process queue here, not in SQLite: the wait for the
     * lock counts against the step's busy_timeout_ms like SQLite's own. */
    rc = lock_by(&s->write_lock, deadline);
    if (rc == ETIMEDOUT)
        return concert_sys_error_set(CONCERT_EBUSY,
                                     "sqlite: the store stayed locked by another writer of this "
                                     "process for more than %d ms (%s)",
                                     s->busy_timeout_ms, what);
    if (rc != 0)
        return concert_sys_error_set(
            CONCERT_EINTERNAL, "sqlite: cannot take the write lock: %s (%s)", strerror(rc), what);
    c->step_deadline_ms = deadline;
    if (c->durable != durable) {
        /* Only between transactions: the level applies from the next commit. */
        rc = exec_pragma(c, durable ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL",
                         what);
        if (rc != 0) {
            c->step_deadline_ms = 0;
            pthread_mutex_unlock(&s->write_lock);
            return rc;
        }
        c->durable = durable;
    }
    rc = sq_exec0(c, SQL_BEGIN_IMMEDIATE, what);
    if (rc != 0) {
        c->step_deadline_ms = 0;
        pthread_mutex_unlock(&s->write_lock);
        return rc;
    }
    *out = c;
    return CONCERT_OK;
}

int sq_write_end(sq_store *s, sq_conn *c, int rc, const char *what)
{
    if (rc == 0)
        rc = sq_exec0(c, SQL_COMMIT, what);
    if (rc != 0)
        rollback_quietly(c);
    c->step_deadline_ms = 0;
    pthread_mutex_unlock(&s->write_lock);
    return rc;
}

static int reader_acquire(sq_store *s, int64_t deadline, sq_conn **out)
{
    sq_conn *c = NULL;
    int rc;

    pthread_mutex_lock(&s->pool_lock);
    /* Every reader in use: wait for one, within the step's busy_timeout_ms. */
    while (s->idle_count == 0 && s->reader_open >= s->reader_max && mono_ms() < deadline) {
        struct timespec slice = realtime_slice(deadline);
        pthread_cond_timedwait(&s->pool_cond, &s->pool_lock, &slice);
    }
    if (s->idle_count > 0) {
        *out = s->idle[--s->idle_count];
        pthread_mutex_unlock(&s->pool_lock);
        return CONCERT_OK;
    }
    if (s->reader_open >= s->reader_max) {
        pthread_mutex_unlock(&s->pool_lock);
        return concert_sys_error_set(CONCERT_EBUSY,
                                     "sqlite: all %zu read connections stayed busy for %d ms",
                                     s->reader_max, s->busy_timeout_ms);
    }
    s->reader_open++;
    pthread_mutex_unlock(&s->pool_lock);

    /* Opened lazily, outside the lock: a process that only writes never
     * pays for readers. */
    rc = sq_conn_open(s->path, s->busy_timeout_ms, 1, &s->busy_waits, &c);
    if (rc != 0) {
        pthread_mutex_lock(&s->pool_lock);
        s->reader_open--;
        pthread_cond_signal(&s->pool_cond);
        pthread_mutex_unlock(&s->pool_lock);
        return rc;
    }
    *out = c;
    return CONCERT_OK;
}

static void reader_release(sq_store *s, sq_conn *c)
{
    pthread_mutex_lock(&s->pool_lock);
    s->idle[s->idle_count++] = c;
    pthread_cond_signal(&s->pool_cond);
    pthread_mutex_unlock(&s->pool_lock);
}

int sq_read_begin(sq_store *s, int snapshot, sq_conn **out, const char *what)
{
    sq_conn *c = NULL;
    int rc;

    int64_t deadline = mono_ms() + s->busy_timeout_ms;

    *out = NULL;
    if ((rc = reader_acquire(s, deadline, &c)) != 0)
        return rc;
    c->step_deadline_ms = deadline;
    if (snapshot && (rc = sq_exec0(c, SQL_BEGIN, what)) != 0) {
        c->step_deadline_ms = 0;
        reader_release(s, c);
        return rc;
    }
    *out = c;
    return CONCERT_OK;
}

int sq_read_end(sq_store *s, sq_conn *c, int snapshot, int rc, const char *what)
{
    if (snapshot) {
        if (rc == 0)
            rc = sq_exec0(c, SQL_COMMIT, what);
        if (rc != 0)
            rollback_quietly(c);
    }
    c->step_deadline_ms = 0;
    reader_release(s, c);
    return rc;
}

#else
/* ISO C wants at least one declaration in a translation unit. */
typedef int concert_sqlite_conn_compiled_out;
#endif
