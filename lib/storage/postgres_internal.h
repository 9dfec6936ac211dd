/*
 * Internal declarations of the PostgreSQL backend (postgres*.c). Never
 * installed. See postgres.c for the backend's shape and
 * docs/storage-postgres.md for the schema.
 */
#ifndef CONCERT_POSTGRES_INTERNAL_H
#define CONCERT_POSTGRES_INTERNAL_H

#include <concert/sys/storage.h>
#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "postgres_sql.h"

#define PG_STMT_ENUM(id, sql) id,
typedef enum pg_stmt {
    PG_STATEMENTS(PG_STMT_ENUM) PG_STMT_COUNT
} pg_stmt;

/* Longer statement timeout for bulk work (catalog load, verify, schema). */
#define PG_BULK_TIMEOUT_SQL "SET LOCAL statement_timeout = '600s'; SET LOCAL lock_timeout = '60s'"
/* The client-side deadline of a step that ran PG_BULK_TIMEOUT_SQL: the
 * server's own 600 s, plus time to hear the server cancel it. */
#define PG_BULK_DEADLINE_MS 605000
/* Schedules and concerts remembered (direct-mapped by id). */
#define PG_SCHEDULE_CACHE 512
#define PG_CONCERT_CACHE 64

typedef struct pg_slot {
    PGconn *conn;         /* NULL: not connected (yet, or since a failure) */
    uint64_t prepared;    /* bit per pg_stmt prepared on conn */
    int connected_before; /* a connection was opened here once: the next one replaces it */
    /* The command in flight on this slot gives up at deadline_ms
     * (CLOCK_MONOTONIC milliseconds: a timeout, not business time), budget_ms
     * after it was sent: busy_timeout_ms, set when the slot is taken, or
     * PG_BULK_DEADLINE_MS once a step ran PG_BULK_TIMEOUT_SQL. */
    int64_t deadline_ms;
    int64_t budget_ms;
} pg_slot;

typedef struct pg_store {
    concert_storage base; /* first: the core sees only this */
    char **keywords;      /* libpq connection parameters, NULL-terminated */
    char **values;
    int slot_count;
    pg_slot *slots;
    int *idle; /* stack of idle slot indexes */
    int idle_count;
    int wait_ms; /* longest wait for a free connection, and for a step's answers (busy_timeout_ms) */
    int connect_ms; /* longest wait for a new connection (connect_timeout_ms) */
    int sync_ready; /* the mutexes and condition below exist */
    pthread_mutex_t mutex;
    pthread_cond_t freed;
    /* Schedules (with their concert's status) never change once loaded: the
     * library has no call that edits or deletes them, in any process. So a
     * found schedule is cached, saving a round trip on every reservation. */
    pthread_mutex_t cache_mutex;
    concert_storage_schedule schedule_cache[PG_SCHEDULE_CACHE];
    /* Concerts, for the same reason: a concert's list version checks the
     * concert first, and then costs one round trip, not two. */
    concert_concert concert_cache[PG_CONCERT_CACHE];
    /* The counters method: steps pgb_run ran again (a conflict, or a lost
     * connection that cannot have committed) and connections opened in
     * place of one that was dropped. Relaxed: counts for metrics, ordering
     * nothing. */
    atomic_uint_least64_t retries;
    atomic_uint_least64_t reconnects;
} pg_store;

/* How a failure may be retried. */
typedef enum pg_fail_kind {
    PG_FAIL_FINAL,     /* report it */
    PG_FAIL_CONFLICT,  /* serialization failure or deadlock: retry */
    PG_FAIL_CONN_SAFE, /* connection lost, the step cannot have committed: retry once */
    PG_FAIL_CONN_DOUBT /* connection lost with a commit in flight: outcome unknown, report */
} pg_fail_kind;

/* What a failure means: its code, how it may be retried, and the text put
 * before libpq's message. */
typedef struct pg_verdict {
    int code;
    pg_fail_kind kind;
    const char *prefix; /* static */
} pg_verdict;

typedef struct pg_error {
    int code;
    pg_fail_kind kind;
    int timed_out; /* the server gave no answer within the deadline: a
                      hung server is not asked again in the same step */
    char message[480];
} pg_error;

/* Bound parameters, as text. */
#define PG_MAX_PARAMS 12
typedef struct pg_params {
    int count;
    /* A setter was called with every slot taken: a programming error. The
     * setters then write nothing, and pgb_exec_stmt() refuses to run the
     * statement (CONCERT_EINTERNAL) rather than send it short a value. */
    int overflow;
    const char *values[PG_MAX_PARAMS];
    char buffers[PG_MAX_PARAMS][24];
} pg_params;

/* 0, or -1 (and p->overflow set) if p is full. */
static inline int param_int(pg_params *p, int64_t v)
{
    if (p->count < 0 || p->count >= PG_MAX_PARAMS) {
        p->overflow = 1;
        return -1;
    }
    snprintf(p->buffers[p->count], sizeof(p->buffers[0]), "%lld", (long long)v);
    p->values[p->count] = p->buffers[p->count];
    p->count++;
    return 0;
}

/* NULL text becomes SQL NULL. 0, or -1 (and p->overflow set) if p is full. */
static inline int param_text(pg_params *p, const char *text)
{
    if (p->count < 0 || p->count >= PG_MAX_PARAMS) {
        p->overflow = 1;
        return -1;
    }
    p->values[p->count++] = text;
    return 0;
}

static inline int64_t col_int(const PGresult *res, int row, int col)
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

static inline void col_text(const PGresult *res, int row, int col, char *out, size_t size)
{
    snprintf(out, size, "%s", PQgetisnull(res, row, col) ? "" : PQgetvalue(res, row, col));
}

/* retention_ms as a step passes it to the server; a caller that left it 0
 * (a backend driven without the core) gets the documented default rather
 * than "prune everything that ended". */
#define PG_DEFAULT_RETENTION_MS (INT64_C(24) * 3600 * 1000)
static inline int64_t pg_retention(int64_t retention_ms)
{
    return retention_ms > 0 ? retention_ms : PG_DEFAULT_RETENTION_MS;
}

/* The body of one step on one connection: 0, or -1 with err filled. */
typedef int (*pg_body)(pg_slot *slot, void *ctx, pg_error *err);

/* ---- postgres_conn.c: connections, execution, retries ---- */

/* v clamped to [lo, hi], for option values used in arithmetic. */
static inline int64_t pg_clamp(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Set up st (pool, connection parameters) from location and opts; on
 * failure the caller frees st with pgb_store_free(). */
int pgb_store_init(pg_store *st, const char *location, const concert_options *opts);
/* Close every connection and free st (also a partly initialised one). */
void pgb_store_free(pg_store *st);

void pgb_error_fill(pg_error *err, int code, pg_fail_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The retry policy's decision for a failure: state is the SQLSTATE (NULL:
 * none), conn_bad says the connection is gone, sent that the statement may
 * have reached the server, commits that it commits a change if it completes
 * (an auto-commit write, or COMMIT after writes). A lost connection is
 * PG_FAIL_CONN_DOUBT exactly when sent && commits, whatever the SQLSTATE. */
pg_verdict pgb_verdict(const char *state, int conn_bad, int sent, int commits);
/* Map a failed statement (res may be NULL) to a libconcert code and a retry
 * kind (pgb_verdict). sent: it may have reached the server; writes: it
 * commits a change if it completes. Inside an explicit block, a statement
 * before COMMIT commits nothing: pgb_abort makes its failure safe. */
void pgb_classify(PGconn *conn, const PGresult *res, int sent, int writes, pg_error *err);

/* Explicit blocks. pgb_begin runs sql (NULL: "BEGIN"). pgb_commit runs
 * COMMIT: if the connection is lost with it in flight and the block wrote
 * (wrote != 0), the step is in doubt and is never re-run. pgb_abort leaves
 * a block that failed before COMMIT: ROLLBACK if the session lives, and a
 * lost connection becomes PG_FAIL_CONN_SAFE; it returns -1 (err kept). */
int pgb_begin(pg_slot *slot, const char *sql, pg_error *err);
int pgb_commit(pg_slot *slot, int wrote, pg_error *err);
int pgb_abort(pg_slot *slot, pg_error *err);

/* Name under which stmt is prepared on every connection. */
const char *pgb_stmt_name(pg_stmt stmt);
int pgb_ensure_prepared(pg_slot *slot, pg_stmt stmt, pg_error *err);
/* Run fixed SQL text (never caller data) on slot: 0 or -1 with err. */
int pgb_exec_simple(pg_slot *slot, const char *sql, int writes, pg_error *err);
/* Execute a prepared statement; its result, or NULL with err filled. */
PGresult *pgb_exec_stmt(pg_slot *slot, pg_stmt stmt, const pg_params *p, int writes, pg_error *err);
/* Run fixed SQL text with text parameters within the step's deadline; its
 * result, or NULL with err filled. */
PGresult *pgb_exec_params(pg_slot *slot, const char *sql, int count, const char *const *values,
                          int writes, pg_error *err);
/* PQgetResult() bounded by the step's deadline (pipeline mode): 0 with *out
 * (NULL as from PQgetResult), or -1 with err (deadline passed, connection
 * dropped: slot->conn is then NULL). */
int pgb_next_result(pg_slot *slot, PGresult **out, pg_error *err);
/* Run body on a pooled connection with the retry policy, and turn a failure
 * into a libconcert code and detail (concert_sys_error_set). */
int pgb_run(pg_store *st, pg_body body, void *ctx);
/* One statement as a whole step; *out receives the result (PQclear it). */
int pgb_query(pg_store *st, pg_stmt stmt, const pg_params *p, int writes, PGresult **out);

/* ---- postgres_schema.c ---- */
/* Create or migrate the schema; CONCERT_ESCHEMA if it is newer. A new
 * store, or one migrated from before the shared queue settings, takes
 * max_active and admit_per_minute from opts. */
int pgb_schema_ensure(pg_store *st, const concert_options *opts);

/* ---- the queue (postgres_queue.c, postgres_lottery.c) ---- */

/* Internal answer of a queue step (never a libconcert code): the queue is
 * SCHEDULED and now >= opens_at, so the lottery must run first. */
#define PG_OPENING_DUE (-1000)
/* How often one step runs the opening and tries again before giving up. */
#define PG_OPENING_ATTEMPTS 4

/* Run the opening if it is due at now: the lottery, then OPEN. Exactly once
 * across processes (it holds the queue lock K exclusively and re-checks). */
int pgb_opening(pg_store *st, const concert_queue_params *params, int64_t now);
/* Record admissions in the stored rate estimate (compare-and-set); returns
 * the estimate after it. seen: the fields as read with the admission. */
int64_t pgb_rate_record(pg_store *st, int64_t admitted, int64_t now, concert_sys_rate seen);
/* The queue_configure method. */
int pgb_queue_configure(concert_storage *self, const concert_queue_params *params,
                        const concert_queue_update *update, int64_t now,
                        concert_queue_settings *out);

/* ---- the methods, by area: each fills its entries of the table ---- */
void pgb_install_retention(concert_storage *base);
void pgb_install_queue(concert_storage *base);
void pgb_install_catalog(concert_storage *base);
void pgb_install_booking(concert_storage *base);
void pgb_install_points(concert_storage *base);
void pgb_install_verify(concert_storage *base);

#endif
