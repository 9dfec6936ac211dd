/*
 * SQLite backend: declarations shared by lib/storage/sqlite*.c. Never installed.
 *
 * The backend uses only the extension API (concert/sys/storage.h), like a
 * third-party store would. Layout:
 *   sqlite.c          open/close and the method table (and the compiled-out stub)
 *   sqlite_conn.c     connections, the reader pool, statement cache, errors,
 *                     transactions
 *   sqlite_schema.c   the schema, its version and migrations
 *   sqlite_queue.c    the waiting queue's steps
 *   sqlite_admission.c  the queue_state row, admission, the opening lottery
 *   sqlite_catalog.c  concerts, schedules, seats and catalog loading
 *   sqlite_booking.c  the token fence, holds (with the per-buyer limits),
 *                     reservations, releasing a hold, token_owner
 *   sqlite_pay.c      payment of an order (one or more holds)
 *   sqlite_points.c   charges, balances, the ledger, users
 *   sqlite_verify.c   the invariant checker
 *   sqlite_version.c  the free lists' versions and their change counter
 *   sqlite_retention.c  pruning what retention allows
 *
 * Threads: one writer connection behind a mutex carries every write step
 * (SQLite admits one writer at a time anyway, and queueing on a mutex is far
 * cheaper than SQLite's sleep-and-retry busy handler); a pool of reader
 * connections serves reads concurrently thanks to WAL. Each connection is
 * used by one thread at a time, so connections are opened NOMUTEX.
 */
#ifndef CONCERT_STORAGE_SQLITE_INTERNAL_H
#define CONCERT_STORAGE_SQLITE_INTERNAL_H

#ifdef CONCERT_HAVE_SQLITE

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <time.h>

#include <concert/sys/storage.h>

/* PRAGMA user_version written by this library. Older files migrate forward;
 * newer ones are refused (CONCERT_ESCHEMA). */
#define SQ_SCHEMA_VERSION 6
/* PRAGMA application_id: "CNCT", marks a file as a libconcert store. */
#define SQ_APPLICATION_ID 0x434E4354
/* max_active for a store opened without options (the core always passes
 * them, resolved); the library's documented default. */
#define SQ_DEFAULT_MAX_ACTIVE 1000
/* wait_ttl for the same (the library's default), used only to date the
 * tokens an older schema ended. */
#define SQ_DEFAULT_WAIT_TTL_MS (300 * 1000)

/* Prepared statements cached per connection, keyed by the address of their
 * static SQL text. Comfortably more than the backend's statements. */
#define SQ_STMT_SLOTS 256

typedef struct sq_stmt_slot {
    const char *sql;
    sqlite3_stmt *stmt;
} sq_stmt_slot;

typedef struct sq_conn {
    sqlite3 *db;
    int busy_timeout_ms;
    struct timespec busy_since; /* monotonic: when the current wait began */
    /* Monotonic ms at which the step using this connection gives up waiting
     * for a lock (set by sq_write_begin/sq_read_begin); 0: no step, each wait
     * gets busy_timeout_ms of its own. */
    int64_t step_deadline_ms;
    int durable;                       /* synchronous level set now: 1 FULL, 0 NORMAL */
    atomic_uint_least64_t *busy_waits; /* the store's count of waits (may be NULL) */
    sq_stmt_slot slots[SQ_STMT_SLOTS];
} sq_conn;

typedef struct sq_store {
    concert_storage base; /* first member: the core casts back */
    char *path;
    int busy_timeout_ms;

    pthread_mutex_t write_lock;
    sq_conn *writer;

    pthread_mutex_t pool_lock;
    pthread_cond_t pool_cond;
    sq_conn **idle; /* stack of idle readers, capacity reader_max */
    size_t idle_count;
    size_t reader_open; /* readers opened (idle or in use) */
    size_t reader_max;

    /* The counters method's retries: statements that found the file locked
     * by another process and waited for it (one per wait, however many
     * polls it took). Relaxed: a count for metrics, ordering nothing. */
    atomic_uint_least64_t busy_waits;
} sq_store;

/* ---- binding arguments: SQL is always static text, values always bound ---- */
typedef enum sq_kind {
    SQ_KIND_INT,
    SQ_KIND_TEXT
} sq_kind;
typedef struct sq_arg {
    sq_kind kind;
    int64_t i;
    const char *t; /* SQ_KIND_TEXT; NULL binds SQL NULL */
} sq_arg;

#define SQ_I(v) ((sq_arg){ SQ_KIND_INT, (int64_t)(v), NULL })
#define SQ_T(v) ((sq_arg){ SQ_KIND_TEXT, 0, (v) })
#define SQ_ARGS(...)                                                                               \
    (const sq_arg[]){ __VA_ARGS__ }, (sizeof((const sq_arg[]){ __VA_ARGS__ }) / sizeof(sq_arg))

/* ---- sqlite_conn.c ---- */

/* Open and configure one connection (busy handler, foreign keys, NORMAL
 * sync). A reader is also made query_only. busy_waits (may be NULL) counts
 * the waits of its busy handler. */
int sq_conn_open(const char *path, int busy_timeout_ms, int reader,
                 atomic_uint_least64_t *busy_waits, sq_conn **out);
void sq_conn_close(sq_conn *c);

/* Map a SQLite result to a libconcert code with sqlite's message; never
 * returns a SQLITE_* value. what names the step ("pay"). */
int sq_error(sq_conn *c, int sqlite_rc, const char *what);

/* The cached statement for sql (a static string), reset and bound to args. */
int sq_query(sq_conn *c, const char *sql, const sq_arg *args, size_t n, sqlite3_stmt **out,
             const char *what);
/* Step: 1 = a row, 0 = done (statement reset), < 0 = error (reset). */
int sq_step(sq_conn *c, sqlite3_stmt *st, const char *what);
/* Reset a statement left on a row. */
void sq_done(sqlite3_stmt *st);
/* One row of sq_query_rows: 0 to go on, non-zero to stop (returned). */
typedef int (*sq_row_fn)(void *ctx, sqlite3_stmt *st);
/* Run a query and hand each row to row: 0 after the last row, row's
 * non-zero return, or the query's error. The statement is reset either
 * way: every read loop of the backend goes through here. */
int sq_query_rows(sq_conn *c, const char *sql, const sq_arg *args, size_t n, sq_row_fn row,
                  void *ctx, const char *what);
/* Run a statement that returns no rows to completion. */
int sq_exec(sq_conn *c, const char *sql, const sq_arg *args, size_t n, const char *what);
/* Run a parameterless statement to completion. */
int sq_exec0(sq_conn *c, const char *sql, const char *what);
/* First column of the first row as int64: 1 found, 0 no row, < 0 error. */
int sq_one_i64(sq_conn *c, const char *sql, const sq_arg *args, size_t n, int64_t *out,
               const char *what);
/* Rows changed by the last statement on c. */
int64_t sq_changes(sq_conn *c);
/* Row id given by the last INSERT on c. */
int64_t sq_last_id(sq_conn *c);

/* Copy a text column into a fixed buffer, truncating safely. */
void sq_text_copy(char *dst, size_t size, sqlite3_stmt *st, int col);

/*
 * A write step: takes the writer mutex, sets the sync level (durable = 1:
 * synchronous=FULL, the WAL is fsynced before COMMIT returns) and runs
 * BEGIN IMMEDIATE. On failure the mutex is released and *out is NULL.
 */
int sq_write_begin(sq_store *s, int durable, sq_conn **out, const char *what);
/* Commit when rc == 0, else roll back; releases the writer. Returns rc, or
 * the commit's error. */
int sq_write_end(sq_store *s, sq_conn *c, int rc, const char *what);

/* A read step on a pooled reader. snapshot = 1 wraps it in one read
 * transaction so that several statements see one state. */
int sq_read_begin(sq_store *s, int snapshot, sq_conn **out, const char *what);
int sq_read_end(sq_store *s, sq_conn *c, int snapshot, int rc, const char *what);

/* ---- sqlite_schema.c ---- */

/* Create, migrate or refuse the schema on the writer connection. seed gives
 * max_active and admit_per_minute to a store that has no queue settings yet
 * (a new file, or one written before schema version 3); an existing
 * store's settings are left as they are. wait_ttl_ms bounds when the
 * tokens an older version ended stopped being live (schema version 5). */
int sq_schema_prepare(sq_conn *c, const char *path, const concert_queue_settings *seed,
                      int64_t wait_ttl_ms);

/* ---- sqlite_admission.c: the queue_state row, admission, the lottery ---- */

/* The queue_state row: counters, rate estimate, shared settings, pacer and
 * pre-queue. Read and written whole by every queue step. */
typedef struct sq_queue {
    int64_t last_ticket;
    int64_t admitted_through;
    int64_t active;
    concert_sys_rate rate;
    concert_queue_settings set;
    int64_t pace_us;      /* concert_sys_admit_budget's pacer */
    int64_t prequeued;    /* tokens waiting for the opening lottery */
    int64_t prequeue_seq; /* placeholders handed out so far (ticket -1, -2, ...) */
    int64_t active_cap;   /* bound on ACTIVE tokens, >= max_active (verify) */
} sq_queue;

/* Read the row (error if it is missing). */
int sq_queue_get(sq_conn *c, sq_queue *q, const char *what);
/* Write the row back only if it differs from before: a step that changed
 * nothing commits without writing anything to the WAL. */
int sq_queue_put(sq_conn *c, const sq_queue *q, const sq_queue *before, const char *what);
/* The lottery: the pre-queued tokens, in join order, through params->shuffle,
 * get tickets after last_ticket in the order it returns; the state becomes
 * OPEN. Run only inside a write transaction that read q. */
int sq_lottery(sq_conn *c, sq_queue *q, const concert_queue_params *p, const char *what);
/* Admission step 1: the lottery, if the queue is SCHEDULED and opens_at has come. */
int sq_opening(sq_conn *c, sq_queue *q, const concert_queue_params *p, int64_t now,
               const char *what);
/* The whole admission of the storage contract (opening, settling, budgeted
 * admission, pacer, rate estimate) on q, inside a write transaction. */
int sq_admission(sq_conn *c, sq_queue *q, const concert_queue_params *p, int64_t now,
                 const char *what);
/* Would admission at now change anything? Read-only, for the fast paths:
 * 1 yes, 0 no, < 0 error. */
int sq_admission_needed(sq_conn *c, const sq_queue *q, int64_t now, const char *what);

/* ---- sqlite_booking.c: shared by the booking steps ---- */

/* The token check every booking step makes first, inside its own write
 * transaction (concert_hold_request in concert/sys/storage.h): unknown
 * CONCERT_ETOKEN_INVALID, live WAITING CONCERT_ETOKEN_NOT_ACTIVE, anything
 * but live ACTIVE CONCERT_ETOKEN_INVALID. *user_id receives the owner.
 * allow_ended = 1 (pay): a known token that is not live is no error here;
 * 1 is returned for it, so that a keyed payment can still replay. */
int sq_token_fence(sq_conn *c, const char *token, const concert_queue_params *p, int64_t now,
                   int allow_ended, int64_t *user_id, const char *what);

/* Reservation rows: the columns every step reads, in this order. */
#define SQ_RESERVATION_COLUMNS "id, user_id, schedule_id, seat_number, price, status, held_until"
void sq_reservation_read(sqlite3_stmt *st, concert_reservation *out);
int sq_reservation_missing(int64_t reservation_id);

/* ---- sqlite_version.c ---- */

/* A seat of schedule_id was held, released or sold: bump its counter,
 * inside the step's write transaction. */
int sq_schedule_changed(sq_conn *c, int64_t schedule_id, const char *what);

/* ---- sqlite_retention.c ---- */

/* Rows of each kind a step prunes on its way (sq_prune_incidental): more
 * than the step can create (a token and a record), so what is due never
 * piles up, and a backlog (a store migrated with years of rows) drains. */
#define SQ_PRUNE_STEP 4

/* Inside a write step: delete up to SQ_PRUNE_STEP idempotency records
 * older than retention_ms and, when tokens = 1, as many tokens that ended
 * longer ago than that, oldest first. retention_ms <= 0 prunes nothing. */
int sq_prune_incidental(sq_conn *c, int tokens, int64_t now, int64_t retention_ms,
                        const char *what);

/* ---- the steps, one per storage method ---- */
int sq_queue_issue(concert_storage *self, const concert_queue_params *params, int64_t user_id,
                   const char *new_token, int64_t now, concert_storage_token *out);
int sq_queue_status(concert_storage *self, const concert_queue_params *params, const char *token,
                    int64_t now, concert_storage_token *out);
int sq_queue_leave(concert_storage *self, const concert_queue_params *params, const char *token,
                   int64_t now);
int sq_queue_stats(concert_storage *self, const concert_queue_params *params, int64_t now,
                   concert_queue_stats *out);
int sq_queue_configure(concert_storage *self, const concert_queue_params *params,
                       const concert_queue_update *update, int64_t now,
                       concert_queue_settings *out);

int sq_concerts_list(concert_storage *self, int32_t status, concert_emit_concert_fn emit,
                     void *ctx);
int sq_concert_get(concert_storage *self, int64_t concert_id, concert_concert *out);
int sq_schedules_list(concert_storage *self, int64_t concert_id, int64_t starts_after, int64_t now,
                      concert_emit_schedule_fn emit, void *ctx, int64_t *total);
int sq_schedule_get(concert_storage *self, int64_t schedule_id, concert_storage_schedule *out);
int sq_seats_available(concert_storage *self, int64_t schedule_id, int64_t now,
                       concert_emit_seat_fn emit, void *ctx);
int sq_seat_map(concert_storage *self, int64_t schedule_id, int64_t now,
                concert_emit_seat_state_fn emit, void *ctx);
int sq_catalog_load(concert_storage *self, const concert_catalog *catalog, int64_t now);
int sq_list_version(concert_storage *self, int64_t concert_id, int64_t schedule_id,
                    int64_t starts_after, int64_t now, concert_list_version *out);
int sq_prune(concert_storage *self, const concert_prune_request *req, concert_prune_report *out);

int sq_seat_hold(concert_storage *self, const concert_hold_request *req, concert_reservation *out);
int sq_reservation_get(concert_storage *self, int64_t reservation_id, concert_reservation *out);
int sq_pay(concert_storage *self, const concert_pay_request *req, concert_payment *out);
int sq_reservation_release(concert_storage *self, const concert_release_request *req,
                           concert_reservation *out);
int sq_token_owner(concert_storage *self, const char *token, int64_t *user_id);
int sq_token_paid(concert_storage *self, const char *token, int64_t *reservation_id);

int sq_charge(concert_storage *self, const concert_charge_request *req, int64_t *balance_out);
int sq_balance_get(concert_storage *self, int64_t user_id, int64_t *balance_out);
int sq_history_list(concert_storage *self, int64_t user_id, int64_t before_id, size_t limit,
                    concert_emit_ledger_fn emit, void *ctx);
int sq_users_list(concert_storage *self, concert_emit_user_fn emit, void *ctx);

int sq_verify(concert_storage *self, const concert_queue_params *params, int64_t now,
              concert_emit_text_fn violation, void *ctx, concert_verify_report *report);

/* Stored reservation statuses (EXPIRED is derived by the core, never stored). */
#define SQ_RES_HELD CONCERT_RESERVATION_HELD
#define SQ_RES_CONFIRMED CONCERT_RESERVATION_CONFIRMED
#define SQ_RES_RELEASED CONCERT_RESERVATION_RELEASED

/* Storage states of a token row (WAITING, ACTIVE, ENDED). */
#define SQ_TOKEN_WAITING CONCERT_TOKEN_WAITING
#define SQ_TOKEN_ACTIVE CONCERT_TOKEN_ACTIVE
#define SQ_TOKEN_ENDED CONCERT_TOKEN_ENDED

#endif /* CONCERT_HAVE_SQLITE */

#endif
