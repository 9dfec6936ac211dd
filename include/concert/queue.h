/**
 * @file
 * @brief libconcert: the waiting queue.
 *
 * A buyer joins with concert_queue_issue() and receives an opaque token. At
 * most max_active tokens are ACTIVE at once; the rest WAIT in first-come
 * order and are admitted as active tokens end (lifetime over, consumed by a
 * payment, or given back with concert_queue_leave()). Admission happens
 * during any queue operation; no background thread is needed.
 *
 * Every function here is safe to call from many threads on one db.
 */
#ifndef CONCERT_QUEUE_H
#define CONCERT_QUEUE_H

#include "common.h"

CONCERT_BEGIN_DECLS

/** Where a live token stands. */
typedef enum concert_token_state {
    CONCERT_TOKEN_WAITING = 1, /**< in line, not yet admitted */
    CONCERT_TOKEN_ACTIVE = 2   /**< admitted: may browse, hold and pay */
} concert_token_state;

/** position of a pre-queued token: it joined a SCHEDULED queue before
 * opens_at and gets its place from the opening lottery. */
#define CONCERT_POSITION_PREQUEUE (-1)

/** A token and where it stands. Filled by the library into caller memory. */
typedef struct concert_token_info {
    char token[CONCERT_TOKEN_SIZE]; /**< NUL-terminated, URL-safe */
    int64_t user_id;                /**< whose token */
    int32_t state;                  /**< concert_token_state */
    int32_t is_new;                 /**< 1 if concert_queue_issue() created it, else 0 */
    int64_t position;               /**< 1 = next in line; 0 when ACTIVE;
                            CONCERT_POSITION_PREQUEUE (-1) before the
                            opening lottery of a SCHEDULED queue */
    int64_t eta_ms;                 /**< estimated wait; -1 when unknown or ACTIVE */
    int64_t expires_at;             /**< ms since epoch: ACTIVE, end of its lifetime;
                            WAITING, when it is dropped unless polled */
} concert_token_info;

/**
 * Join the queue for user_id, or return the user's live token.
 *
 * A user has at most one live token: while it is WAITING or ACTIVE this
 * returns that token with is_new = 0. After it ended, a new token goes to
 * the back of the line (is_new = 1). The token holds at least 128 bits from
 * the random source and is not derived from the user id.
 * While the queue is SCHEDULED a new token is pre-queued (WAITING, position
 * CONCERT_POSITION_PREQUEUE) until the opening lottery.
 * Errors: CONCERT_EINVAL (NULL out/db), CONCERT_EUSER_NOT_FOUND,
 * CONCERT_EQUEUE_CLOSED (the queue is CLOSED and the user has no live
 * token), storage errors (CONCERT_ESTORAGE, CONCERT_EBUSY, CONCERT_ENOMEM).
 * @param[out] out receives the token and where it stands
 * @param db an open handle
 * @param user_id who joins
 * @return 0 or a negative concert_error_code.
 */
CONCERT_EXTERN int concert_queue_issue(concert_token_info *out, concert_db *db, int64_t user_id);

/**
 * Where token stands now. Polling a WAITING token keeps it in line: one not
 * polled within wait_ttl is dropped. position only decreases, and is exact
 * when no token ahead has dropped out; lookup is O(1).
 *
 * Staleness (options.queue_refresh_ms, default 250 ms): a WAITING token
 * polled again through the same db is usually answered from the db's cache
 * without a store round trip. Its position may then lag the store by the
 * admissions of at most one refresh interval (plus one round trip), never
 * runs ahead of the store, and never increases on one db; a token is never
 * reported ACTIVE from the cache. The idle deadline (expires_at) is the one
 * the store holds: the cache writes it through when a quarter of wait_ttl
 * has passed since it last did. A token ended through ANOTHER db (another
 * process) may read WAITING from this db's cache until that write-through
 * or until admission reaches its ticket.
 * Errors: CONCERT_EINVAL, CONCERT_ETOKEN_INVALID (unknown, expired, dropped
 * or ended), storage errors.
 * @param[out] out receives where the token stands
 * @param db an open handle
 * @param token the token from concert_queue_issue()
 * @return 0 or a negative concert_error_code.
 */
CONCERT_EXTERN int concert_queue_status_get(concert_token_info *out, concert_db *db,
                                            const char *token);

/**
 * Leave the queue (WAITING) or give back the active slot (ACTIVE). The token
 * ends; the next waiting token is admitted.
 * Errors: CONCERT_EINVAL, CONCERT_ETOKEN_INVALID, storage errors.
 * @param db an open handle
 * @param token the token to end
 * @return 0 or a negative concert_error_code.
 */
CONCERT_EXTERN int concert_queue_leave(concert_db *db, const char *token);

/**
 * The user a token was issued to, whatever its state (a token's owner never
 * changes): for a server that must check that the caller it authenticated
 * owns the token it presents. Answered from the db's cache when it can, else
 * from the store (without touching the token: no poll, no admission).
 * Errors: CONCERT_EINVAL, CONCERT_ETOKEN_INVALID (malformed or unknown),
 * storage errors.
 * @param[out] user_id receives the owner's user id
 * @param db an open handle
 * @param token the token to look up
 * @return 0 or a negative concert_error_code.
 */
CONCERT_EXTERN int concert_queue_token_owner_get(int64_t *user_id, concert_db *db,
                                                 const char *token);

/** Static name of a token state ("WAITING", "ACTIVE"); "UNKNOWN" otherwise.
 * @param state a concert_token_state
 * @return static name; "UNKNOWN" otherwise.
 */
CONCERT_EXTERN const char *concert_token_state_name(int state);

/**
 * The queue's state, shared by every process on a store.
 *
 *      OPEN       normal: joins queue, admission runs under both limits.
 *      PAUSED     "queue all": joins still queue, nobody is admitted, ETA is
 *                 unknown; ACTIVE tokens keep going.
 *      CLOSED     joins are refused (CONCERT_EQUEUE_CLOSED); tokens already in
 *                 line keep their place and are still admitted.
 *      SCHEDULED  the sale opens at opens_at. Joins before it are pre-queued;
 *                 at opens_at every pre-queued token is ordered uniformly at
 *                 random, exactly once (the lottery), behind any line already
 *                 there, and the queue is OPEN; later joins queue behind them.
 *                 Leaving SCHEDULED in any other way runs the lottery too.
 */
typedef enum concert_queue_state {
    CONCERT_QUEUE_OPEN = 1,     /**< normal: joins queue, admission runs */
    CONCERT_QUEUE_PAUSED = 2,   /**< joins queue, nobody is admitted */
    CONCERT_QUEUE_CLOSED = 3,   /**< joins are refused */
    CONCERT_QUEUE_SCHEDULED = 4 /**< the sale opens at opens_at, by lottery */
} concert_queue_state;

/** Static name of a queue state ("OPEN", "PAUSED", "CLOSED", "SCHEDULED");
 * "UNKNOWN" otherwise.
 * @param state a concert_queue_state
 * @return static name; "UNKNOWN" otherwise.
 */
CONCERT_EXTERN const char *concert_queue_state_name(int state);
/** The state named name (exact, upper case), or 0 when unknown.
 * @param name the name to parse
 * @return the concert_queue_state, or 0 when unknown.
 */
CONCERT_EXTERN int concert_queue_state_from_name(const char *name);

/** Largest max_active accepted. */
#define CONCERT_MAX_ACTIVE_LIMIT INT64_C(100000000)
/** Largest admit_per_minute accepted. */
#define CONCERT_ADMIT_PER_MINUTE_LIMIT INT64_C(6000000)

/** The settings every process sharing a store obeys; they live in the store.
 * A new store starts OPEN with the options' max_active and
 * admit_per_minute; after that only concert_queue_update() changes them. */
typedef struct concert_queue_settings {
    int64_t max_active;       /**< ACTIVE tokens at once, 1..CONCERT_MAX_ACTIVE_LIMIT */
    int64_t admit_per_minute; /**< new admissions per minute; 0 = unlimited */
    int32_t state;            /**< concert_queue_state */
    int32_t reserved;         /**< reserved for a later field; 0 */
    int64_t opens_at;         /**< SCHEDULED: ms since epoch; otherwise 0 */
} concert_queue_settings;

/** Counts and settings, for administration and the public queue page. */
typedef struct concert_queue_stats {
    int64_t active;           /**< ACTIVE tokens now */
    int64_t waiting;          /**< tickets not yet admitted (may include
                                dropped ones not yet reached) */
    int64_t max_active;       /**< the shared limit (settings.max_active) */
    int64_t admitted_through; /**< highest ticket admitted or skipped so far */
    int64_t last_ticket;      /**< highest ticket issued so far (PostgreSQL:
                                may count tickets of joins that failed) */
    /* since 0.2 */
    int64_t admit_per_minute; /**< the shared rate limit; 0 = unlimited */
    int32_t state;            /**< concert_queue_state */
    int32_t reserved;         /**< reserved for a later field; 0 */
    int64_t opens_at;         /**< SCHEDULED: when; otherwise 0 */
    int64_t prequeued;        /**< tokens waiting for the opening lottery */
    int64_t admit_rate_mps;   /**< recent admissions per 1000 s; 0 unknown */
    int64_t eta_ms;           /**< estimated wait at the back of the line;
                                -1 when unknown (no rate yet, PAUSED,
                                SCHEDULED) */
} concert_queue_stats;

/**
 * Fill out with the current counts and settings. Served from the db's
 * cached view of the queue when it is younger than queue_refresh_ms (the
 * refresh runs admission), so it is cheap enough for a public page.
 * Errors: CONCERT_EINVAL, storage errors.
 * @param[out] out receives counts and settings
 * @param db an open handle
 * @return 0 or a negative concert_error_code.
 */
CONCERT_EXTERN int concert_queue_stats_get(concert_queue_stats *out, concert_db *db);

/** Read the shared settings from the store (no cache).
 * Errors: CONCERT_EINVAL, storage errors.
 * @param[out] out receives the settings
 * @param db an open handle
 * @return 0 or a negative concert_error_code.
 */
CONCERT_EXTERN int concert_queue_settings_get(concert_queue_settings *out, concert_db *db);

/** The version of concert_queue_update these headers describe. */
#define CONCERT_QUEUE_UPDATE_VERSION 1
/** Which fields of a concert_queue_update to apply. */
enum {
    CONCERT_QUEUE_SET_MAX_ACTIVE = 1,       /**< apply max_active */
    CONCERT_QUEUE_SET_ADMIT_PER_MINUTE = 2, /**< apply admit_per_minute */
    CONCERT_QUEUE_SET_STATE = 4,            /**< OPEN, PAUSED or CLOSED */
    CONCERT_QUEUE_SET_OPENS_AT = 8          /**< state becomes SCHEDULED */
};

/** A change of the shared settings, applied atomically for every process. */
typedef struct concert_queue_update {
    unsigned int version;     /**< CONCERT_QUEUE_UPDATE_VERSION */
    int32_t fields;           /**< CONCERT_QUEUE_SET_* flags; at least one */
    int64_t max_active;       /**< with CONCERT_QUEUE_SET_MAX_ACTIVE:
                                   1..CONCERT_MAX_ACTIVE_LIMIT */
    int64_t admit_per_minute; /**< with CONCERT_QUEUE_SET_ADMIT_PER_MINUTE:
                                   0 (unlimited)..CONCERT_ADMIT_PER_MINUTE_LIMIT */
    int32_t state;            /**< with CONCERT_QUEUE_SET_STATE */
    int32_t expect_state;     /**< 0: any; else refuse (CONCERT_ECONFLICT)
                                 unless the queue is in this state */
    int64_t opens_at;         /**< with CONCERT_QUEUE_SET_OPENS_AT: > now */
} concert_queue_update;

/** A concert_queue_update of the current version with no field set. */
#define CONCERT_QUEUE_UPDATE_INIT                                                                  \
    {                                                                                              \
        CONCERT_QUEUE_UPDATE_VERSION, 0, 0, 0, 0, 0, 0                                             \
    }
/** For bindings that cannot expand the macro. Any version from 1 to
 * CONCERT_QUEUE_UPDATE_VERSION: only that version's fields are written (an
 * older caller's struct is shorter). CONCERT_EINVAL on a NULL, a version of 0
 * or one newer than this library's. concert_queue_update_apply() accepts the
 * same versions and gives the fields a version lacks their _INIT values.
 * @param[out] u the struct to initialize
 * @param version 1..CONCERT_QUEUE_UPDATE_VERSION: the caller's header version
 * @return 0 or CONCERT_EINVAL.
 */
CONCERT_EXTERN int concert_queue_update_init(concert_queue_update *u, unsigned int version);

/**
 * Change the shared settings; out (may be NULL) receives them as they are
 * after the change. SCHEDULED cannot be set directly: give opens_at. Setting
 * OPEN, PAUSED or CLOSED on a SCHEDULED queue runs the lottery at once.
 * Every process sharing the store obeys the change within its
 * queue_refresh_ms; this db at once.
 * Errors: CONCERT_EINVAL (no field, a value out of range, opens_at not in
 * the future, an unknown state or SCHEDULED given as a state),
 * CONCERT_ECONFLICT (expect_state not met), storage errors. Nothing changes
 * on error.
 * @param[out] out receives the settings after the change, or NULL
 * @param db an open handle
 * @param update what to change
 * @return 0 or a negative concert_error_code.
 */
CONCERT_EXTERN int concert_queue_update_apply(concert_queue_settings *out, concert_db *db,
                                              const concert_queue_update *update);

/* Shorthands for concert_queue_update_apply(). pause: any -> PAUSED;
 * resume: PAUSED -> OPEN (CONCERT_ECONFLICT from any other state); close:
 * any -> CLOSED; open: any -> OPEN (a SCHEDULED queue opens now, with its
 * lottery); schedule: SCHEDULED at opens_at (> now). */
/** pause: any -> PAUSED.
 * @param db an open handle
 * @return 0 or a negative concert_error_code. */
CONCERT_EXTERN int concert_queue_pause(concert_db *db);
/** resume: PAUSED -> OPEN (CONCERT_ECONFLICT from any other state).
 * @param db an open handle
 * @return 0 or a negative concert_error_code. */
CONCERT_EXTERN int concert_queue_resume(concert_db *db);
/** close: any -> CLOSED.
 * @param db an open handle
 * @return 0 or a negative concert_error_code. */
CONCERT_EXTERN int concert_queue_close(concert_db *db);
/** open: any -> OPEN (a SCHEDULED queue opens now, with its lottery).
 * @param db an open handle
 * @return 0 or a negative concert_error_code. */
CONCERT_EXTERN int concert_queue_open(concert_db *db);
/** schedule: SCHEDULED at opens_at (> now).
 * @param db an open handle
 * @param opens_at when the sale opens, ms since epoch, > now
 * @return 0 or a negative concert_error_code. */
CONCERT_EXTERN int concert_queue_schedule(concert_db *db, int64_t opens_at);
/** For concert_queue_limits_set(): leave this limit as it is. */
#define CONCERT_UNCHANGED INT64_C(-1)
/** Set both limits; CONCERT_UNCHANGED (-1) leaves one as it is.
 * @param db an open handle
 * @param max_active 1..CONCERT_MAX_ACTIVE_LIMIT, or CONCERT_UNCHANGED
 * @param admit_per_minute 0..CONCERT_ADMIT_PER_MINUTE_LIMIT, or CONCERT_UNCHANGED
 * @return 0 or a negative concert_error_code. */
CONCERT_EXTERN int concert_queue_limits_set(concert_db *db, int64_t max_active,
                                            int64_t admit_per_minute);

CONCERT_END_DECLS

#endif
