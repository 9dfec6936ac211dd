/**
 * @file
 * @brief libconcert extension API: storage backends.
 *
 * This is a different promise from the application API in include/concert/ (the headers
 * behind concert.h): it is for people who write a store, not for people who
 * sell tickets.
 *
 * A backend is a versioned table of function pointers. Each entry is one
 * ATOMIC DOMAIN STEP (hold a seat if it is free, commit a payment, charge
 * points), never a generic get/put: a read-then-write split across two calls
 * is the double-booking bug this library exists to prevent.
 *
 * Division of labour:
 *  - The core validates arguments, reads the clock ONCE per public call and
 *    passes that `now` to every step, generates tokens, builds idempotency
 *    fingerprints, decides which error a caller sees, and derives display
 *    state (EXPIRED, ETA).
 *  - The backend stores, and makes each step atomic with respect to every
 *    other step, from any thread of this process and (for shared stores) any
 *    other process. It never reads a clock of its own: time is `now`.
 *
 * Time may go backwards. `now` comes from a wall clock that can be stepped
 * (NTP, an operator), and two threads may read it in one order and reach the
 * store in the other, so a step may see a `now` earlier than one an earlier
 * step saw. A backend must never lose or double-count anything because of
 * it: it expires by comparing each deadline with `now`, never by assuming
 * deadlines come in the order things were created; and what it has settled
 * (a hold or token counted as expired, an admission made) stays settled
 * when a later step brings an earlier `now`.
 *
 * Every method may be called concurrently from many threads on one storage.
 * Methods return 0 or a negative concert_error_code; on failure they may set
 * a detail message with concert_sys_error_set() (the core supplies a generic
 * one otherwise) and must leave the store unchanged. Database codes
 * (SQLITE_*, SQLSTATE) never escape: map them to CONCERT_ESTORAGE (cannot
 * reach or use the store), CONCERT_EBUSY (contention after bounded retries),
 * CONCERT_ESCHEMA or CONCERT_EINTERNAL.
 *
 * "must provide": the core refuses a table with it NULL.
 * "may provide": NULL is allowed; the core returns CONCERT_ENOTSUP.
 */
#ifndef CONCERT_SYS_STORAGE_H
#define CONCERT_SYS_STORAGE_H

#include "../concert.h"

CONCERT_BEGIN_DECLS

/** The version of the storage table these headers describe.
 *
 * 2: shared queue settings and states (queue_configure, the lottery through
 * concert_queue_params.shuffle, the admission budget), ticket in
 * concert_storage_token, the extended concert_queue_stats.
 * 3: holds and payments resolve and fence the token themselves (no user_id
 * in their requests), per-buyer hold limits in seat_hold, orders (pay takes
 * a list), reservation_release, token_owner, paged history_list,
 * max_per_user in concert_storage_schedule and the catalog, status
 * RELEASED.
 * 4: list_version (the free lists' change counter), retention and prune
 * (retention_ms in concert_queue_params and concert_charge_request).
 * 5: seat_map (every seat of a schedule with its state), and the optional
 * counters (retries and reconnects the backend made on its own).
 * 6: `now` may go backwards between steps (see "Time may go backwards"
 * above); every wait a step makes is bounded by busy_timeout_ms; a step a
 * backend re-runs on its own must be known not to have committed.
 * 7: a payment records the token it ended, and the optional token_paid
 * reports it, so that the core can tell a buyer which payment used the
 * token (one message on every store); charge reports through
 * concert_charge_request.replayed whether a key replayed a stored charge.
 * Unlike the application's versioned structs, a table must carry exactly
 * this version: each version changed what a backend promises, not only the
 * table's size, so an older table cannot be adapted by copying. */
#define CONCERT_STORAGE_VERSION 7

/** A token that exists but can no longer be used: it expired, was dropped
 * for idleness, was left, or was consumed by a payment. Only ever seen by
 * the core, never by applications. */
#define CONCERT_TOKEN_ENDED 3

/**
 * Put n items in a uniformly random order, from the db's injected random
 * source (the core's Fisher-Yates). 0, or a negative concert_error_code that
 * the step must return after undoing everything.
 */
typedef int (*concert_shuffle_fn)(void *ctx, int64_t *items, size_t n);

/** The queue rules' parameters from the db's options, in milliseconds, and
 * the lottery. max_active and admit_per_minute are NOT here: they are the
 * store's shared settings (concert_queue_settings), which every step reads
 * inside its own atomic step. */
typedef struct concert_queue_params {
    int64_t active_ttl_ms;      /**< how long an ACTIVE token lives */
    int64_t wait_ttl_ms;        /**< how long a WAITING token lives unpolled */
    concert_shuffle_fn shuffle; /**< for the opening lottery */
    void *shuffle_ctx;          /**< passed to shuffle */
    int64_t retention_ms;       /**< see "Retention" below */
} concert_queue_params;

/**
 * Retention. Two kinds of rows exist only so that a retry can be
 * recognised: idempotency records, and tokens that are no longer live (kept
 * so that a keyed payment retried with its ended token still replays).
 * They may be deleted once retention_ms has passed:
 *  - an idempotency record created at t, once t + retention_ms <= now;
 *  - a token that is not live, once end + retention_ms <= now, where end is
 *    the instant it stopped being live: expires_at for an ACTIVE one that
 *    ran out, last_seen + wait_ttl for a WAITING one that idled, and the
 *    step's now for one ended by a payment or a leave.
 * After that a retry is a new request (an ended token is then unknown:
 * CONCERT_ETOKEN_INVALID). Nothing else is ever deleted: users, the
 * catalog, reservations (held, paid or released), payments and ledger
 * entries are records. A user's live token, a live hold and everything a
 * payment needs are never pruned (they are not in the two kinds above).
 *
 * A backend prunes a bounded amount inside its normal steps (queue_issue
 * and pay: tokens and idempotency records; charge: idempotency records; a
 * few rows each, at least as many as the step may create, amortised), so that a store nobody prunes explicitly stays
 * bounded by what is live plus what retention keeps; prune() does it all on
 * request. Never from a thread of its own.
 */
typedef struct concert_prune_request {
    int64_t now;                /**< the step's now */
    size_t limit;               /**< delete at most this many rows; 0: no limit */
    concert_queue_params queue; /**< wait_ttl (to tell a live token) and
                                    retention_ms */
} concert_prune_request;

/** What a queue step reports about one token. */
typedef struct concert_storage_token {
    concert_token_info info; /**< state may also be CONCERT_TOKEN_ENDED;
                                 eta_ms is left for the core (set -1) */
    int64_t admit_rate_mps;  /**< admissions per 1000 s (see
                                 concert_sys_rate); 0 when unknown */
    int64_t ticket;          /**< the token's ticket; 0 while pre-queued */
    int32_t queue_state;     /**< the queue's concert_queue_state at the step */
    int32_t reserved;        /**< reserved for a later field; 0 */
} concert_storage_token;

/**
 * The admission budget: how many tokens admission may admit at now, given
 * room (max_active - active, >= 0), the queue state (none unless OPEN or
 * CLOSED) and admit_per_minute (a GCRA pacer: admissions are spaced
 * (60 s + 0.5 s) / admit_per_minute apart, with at most 0.5 s of unused
 * pace saved up, so no 60-second window ever admits more than
 * admit_per_minute and admissions spread over the minute). pace_us is the
 * pacer's state, stored with the queue state (0 for a new store).
 * Backends call concert_sys_admit_budget() before admitting and
 * concert_sys_admit_record() with the number they did admit, which returns
 * the new pace_us. Written once, here.
 * @param settings the queue's shared settings
 * @param pace_us the pacer's stored state
 * @param room max_active - active, >= 0
 * @param now the step's now
 * @return how many tokens admission may admit now.
 */
CONCERT_EXTERN int64_t concert_sys_admit_budget(const concert_queue_settings *settings,
                                                int64_t pace_us, int64_t room, int64_t now);
/** Record admitted admissions in the pacer (see concert_sys_admit_budget()).
 * @param settings the queue's shared settings
 * @param pace_us the pacer's stored state
 * @param admitted how many were admitted
 * @param now the step's now
 * @return the new pace_us to store.
 */
CONCERT_EXTERN int64_t concert_sys_admit_record(const concert_queue_settings *settings,
                                                int64_t pace_us, int64_t admitted, int64_t now);
/** The pacer's constants, for backends that compute the budget inside their
 * engine (PostgreSQL's PL/pgSQL) and must agree with the C above. */
#define CONCERT_ADMIT_SLACK_MS 500

/**
 * Admission-rate estimate kept with the queue state, for ETAs. Backends store
 * the three fields and call concert_sys_rate_observe() whenever they admit
 * tokens, so that the estimator is written once, here.
 */
typedef struct concert_sys_rate {
    int64_t rate_mps;     /**< admissions per 1000 seconds; 0 = no estimate */
    int64_t window_start; /**< ms; 0 = no window open */
    int64_t window_count; /**< admissions counted since window_start */
} concert_sys_rate;

/** Update the admission-rate estimate after admitting tokens (see concert_sys_rate).
 * @param[in,out] rate the estimate stored with the queue state
 * @param admitted how many tokens were just admitted
 * @param now the step's now
 */
CONCERT_EXTERN void concert_sys_rate_observe(concert_sys_rate *rate, int64_t admitted, int64_t now);

/**
 * A schedule with what the core needs to decide bookability. Catalog rows
 * never change once loaded (there is no call that changes them), so the
 * core caches these per db; a backend must not change them either.
 */
typedef struct concert_storage_schedule {
    int64_t id;             /**< the schedule's id */
    int64_t concert_id;     /**< its concert */
    int64_t starts_at;      /**< ms since epoch */
    int32_t concert_status; /**< concert_concert_status of its concert */
    int32_t max_per_user;   /**< its concert's max_per_user (0: none) */
} concert_storage_schedule;

/**
 * The token check every booking step makes first, inside its own atomic
 * step (the fence: a token that a payment or a leave ended a moment ago can
 * never hold or pay):
 *  - a token the store has never seen: CONCERT_ETOKEN_INVALID;
 *  - a live WAITING token (see the queue rules): CONCERT_ETOKEN_NOT_ACTIVE;
 *  - anything but a live ACTIVE token: CONCERT_ETOKEN_INVALID;
 * and the token's user is the user the step acts for.
 */
typedef struct concert_hold_request {
    int64_t schedule_id; /**< which performance */
    int64_t seat_number; /**< which seat of it */
    const char *token;   /**< must be live ACTIVE (the check above) */
    int64_t now;         /**< the step's now */
    int64_t hold_until;  /**< now + hold_ttl */
    int64_t concert_id;  /**< the schedule's concert */
    /** The per-buyer limit, decided by the core (a new hold is refused with
     * CONCERT_EHOLD_LIMIT when it would pass the limit; re-reporting a hold
     * the user already has on this seat is never refused):
     *  max_per_concert > 0: the user's live HELD plus CONFIRMED reservations
     *    of concert_id must stay <= max_per_concert;
     *  else max_holds > 0: the user's live HELD reservations in the whole
     *    store must stay <= max_holds;
     *  else no limit.
     * Counted inside the atomic step, serialised per user, so that no race
     * of concurrent holds by one user passes the limit. */
    int64_t max_per_concert;
    int64_t max_holds;          /**< see max_per_concert */
    concert_queue_params queue; /**< to tell a live ACTIVE token */
} concert_hold_request;

/**
 * A payment for one or more reservations (an order). The backend resolves
 * the token to its user first: unknown is CONCERT_ETOKEN_INVALID, a live
 * WAITING token CONCERT_ETOKEN_NOT_ACTIVE; an ENDED one may still replay a
 * keyed payment (step 1 of pay), else it is CONCERT_ETOKEN_INVALID.
 */
typedef struct concert_pay_request {
    const int64_t *reservation_ids; /**< count distinct ids, ascending */
    size_t count;                   /**< 1..CONCERT_ORDER_MAX */
    const char *token;              /**< to end it, fenced: must still be ACTIVE */
    int64_t now;                    /**< the step's now */
    const char *idempotency_key;    /**< NULL: none */
    const char *fingerprint;        /**< the arguments (the set of ids), when a
                                    key is given */
    concert_queue_params queue;     /**< to tell a live ACTIVE token */
} concert_pay_request;

/** A release of one hold (see reservation_release). */
typedef struct concert_release_request {
    int64_t reservation_id;     /**< which reservation */
    const char *token;          /**< must be live ACTIVE (the check above) */
    int64_t now;                /**< the step's now */
    concert_queue_params queue; /**< to tell a live ACTIVE token */
} concert_release_request;

/** A charge of points (see charge). */
typedef struct concert_charge_request {
    int64_t user_id;             /**< whom to credit */
    int64_t amount;              /**< 1..CONCERT_MAX_CHARGE, checked by core */
    int64_t max_balance;         /**< refuse (CONCERT_EINVALID_AMOUNT) above */
    int64_t now;                 /**< the step's now */
    const char *idempotency_key; /**< NULL: none */
    const char *fingerprint;     /**< the arguments (the amount), when a key is given */
    int64_t retention_ms;        /**< for the idempotency records a charge
                                    may prune (see "Retention") */
    int32_t *replayed;           /**< out (NULL: not wanted): the backend sets
                                      1 when step 1 reported a stored result
                                      (nothing was charged), else 0 (v7) */
} concert_charge_request;

/* Callbacks through which list steps hand rows to the core, which owns the
 * memory given to applications. A non-zero return (CONCERT_ENOMEM) must stop
 * the step and be returned by it. */
/** Hands one concert to the core; non-zero: stop and return it. */
typedef int (*concert_emit_concert_fn)(void *ctx, const concert_concert *item);
/** Hands one schedule to the core; non-zero: stop and return it. */
typedef int (*concert_emit_schedule_fn)(void *ctx, const concert_schedule *item);
/** Hands one seat to the core; non-zero: stop and return it. */
typedef int (*concert_emit_seat_fn)(void *ctx, const concert_seat *item);
/** Hands one seat with its state to the core; non-zero: stop and return it. */
typedef int (*concert_emit_seat_state_fn)(void *ctx, const concert_seat_state *item);
/** Hands one ledger entry to the core; non-zero: stop and return it. */
typedef int (*concert_emit_ledger_fn)(void *ctx, const concert_ledger_entry *item);
/** Hands one user to the core; non-zero: stop and return it. */
typedef int (*concert_emit_user_fn)(void *ctx, const concert_user *item);
/** Hands one line of text (a verify violation) to the core; non-zero: stop and return it. */
typedef int (*concert_emit_text_fn)(void *ctx, const char *text);

/** What a backend did on its own, since it was opened (counters()). */
typedef struct concert_storage_counters {
    uint64_t retries;    /**< steps run again after a serialization failure,
                             a deadlock or a busy store */
    uint64_t reconnects; /**< connections replaced after they were lost */
} concert_storage_counters;

/** A storage backend's table of steps; see struct concert_storage. */
typedef struct concert_storage concert_storage;

/**
 * The table. A backend embeds it as the FIRST member of its own struct and
 * casts back (SQLite's sqlite3_file shape).
 */
struct concert_storage {
    unsigned int version; /**< CONCERT_STORAGE_VERSION */
    const char *name;     /**< static, e.g. "memory" */

    /** must: release everything. Called once, with no call in flight. */
    void (*free)(concert_storage *self);

    /* ---------------- queue ----------------
     * Queue rules every backend implements with the given params:
     *  - Tickets come from one monotonic sequence; position of a WAITING
     *    token = ticket - admitted_through (never a count of rows).
     *  - A token is live when WAITING and now < last_seen + wait_ttl, or
     *    ACTIVE and now < expires_at. Otherwise it is ENDED.
     *  - The shared settings (concert_queue_settings) live in the store. A
     *    new store starts OPEN with the options' max_active and
     *    admit_per_minute (given to the backend's open); an existing
     *    store's settings are never changed by opening it.
     *  - Admission, run at the start of every queue step:
     *     1. the opening: if the state is SCHEDULED and now >= opens_at,
     *        run the lottery (below) and set the state OPEN;
     *     2. settle ACTIVE tokens with expires_at <= now (they leave the
     *        active count);
     *     3. budget = concert_sys_admit_budget(settings, pace, max_active -
     *        active, now); while budget remains and tickets remain, look at
     *        the next ticket once: admit it if it is live and WAITING (state
     *        ACTIVE, expires_at = now + active_ttl), else skip it; advance
     *        admitted_through. Then pace = concert_sys_admit_record(...)
     *        and concert_sys_rate_observe() with the number admitted.
     *    Atomic across processes for shared stores; the lottery happens
     *    exactly once per opening.
     *  - The lottery: the pre-queued tokens (joined while SCHEDULED) are
     *    handed, as int64 ids in a stable order, to params->shuffle and
     *    then get tickets in the order it returns, after every ticket
     *    issued before. Pre-queued tokens have no ticket before it, report
     *    position CONCERT_POSITION_PREQUEUE, are never admitted, and count
     *    in stats.prequeued, not in waiting.
     *  - Ticket numbers may have gaps (a failed join) but never go back.
     *  - Every way an ACTIVE token ends (expiry, payment, leave) decrements
     *    the active count exactly once.
     *  - info.expires_at: ACTIVE, expires_at; WAITING, last_seen + wait_ttl;
     *    ENDED, 0.
     */

    /** must: the user's live token (is_new = 0; a WAITING one counts as
     * polled), or a new WAITING token named new_token at the back of the
     * line (is_new = 1; pre-queued while SCHEDULED), then admission, then
     * report it (it may already be ACTIVE). CONCERT_EUSER_NOT_FOUND if the
     * user does not exist; CONCERT_EQUEUE_CLOSED if a new token is needed
     * while the queue is CLOSED. */
    int (*queue_issue)(concert_storage *self, const concert_queue_params *params, int64_t user_id,
                       const char *new_token, int64_t now, concert_storage_token *out);

    /** must: run admission, then report token. A live WAITING token's
     * last_seen becomes now. A known token that is no longer live reports
     * state CONCERT_TOKEN_ENDED with its user_id (the core needs it to
     * replay idempotent payments). CONCERT_ETOKEN_INVALID only for a token
     * the store has never seen. Compare token text in constant time once the
     * candidate is found (concert_sys_token_equal). */
    int (*queue_status)(concert_storage *self, const concert_queue_params *params,
                        const char *token, int64_t now, concert_storage_token *out);

    /** must: end a live token (WAITING or ACTIVE), then run admission.
     * CONCERT_ETOKEN_INVALID if unknown or not live. */
    int (*queue_leave)(concert_storage *self, const concert_queue_params *params, const char *token,
                       int64_t now);

    /** must: run admission, then fill the counts and settings: active,
     * waiting, max_active, admitted_through, last_ticket, admit_per_minute,
     * state, opens_at, prequeued, admit_rate_mps (eta_ms is the core's).
     * The core calls this to refresh its cached view of the queue, at most
     * every queue_refresh_ms per db, so it should be cheap when admission
     * has nothing to do. */
    int (*queue_stats)(concert_storage *self, const concert_queue_params *params, int64_t now,
                       concert_queue_stats *out);

    /** must, atomically: apply update (already validated by the core:
     * fields non-empty, values in range, opens_at > now, state one of OPEN,
     * PAUSED, CLOSED). CONCERT_ECONFLICT if update->expect_state is
     * non-zero and differs from the stored state. OPENS_AT makes the state
     * SCHEDULED (pre-queueing starts; a queue already SCHEDULED keeps its
     * pre-queue). STATE on a SCHEDULED queue runs the lottery first. Then
     * run admission and report the settings as they are after it. */
    int (*queue_configure)(concert_storage *self, const concert_queue_params *params,
                           const concert_queue_update *update, int64_t now,
                           concert_queue_settings *out);

    /* ---------------- catalog ---------------- */

    /** must: emit concerts in id order; status 0 = all, else only that status. */
    int (*concerts_list)(concert_storage *self, int32_t status, concert_emit_concert_fn emit,
                         void *ctx);

    /** must: CONCERT_ECONCERT_NOT_FOUND if missing. */
    int (*concert_get)(concert_storage *self, int64_t concert_id, concert_concert *out);

    /** must: emit the concert's schedules with starts_at > starts_after, in
     * (starts_at, id) order, each with available_seats counted at now (free:
     * unsold and no hold with hold_until > now). *total receives the count of
     * ALL the concert's schedules. The concert is known to exist. */
    int (*schedules_list)(concert_storage *self, int64_t concert_id, int64_t starts_after,
                          int64_t now, concert_emit_schedule_fn emit, void *ctx, int64_t *total);

    /** must: CONCERT_ESCHEDULE_NOT_FOUND if missing. */
    int (*schedule_get)(concert_storage *self, int64_t schedule_id, concert_storage_schedule *out);

    /** must: emit the free seats at now in seat-number order, in time linear
     * in the seats of that schedule (an index on schedule). */
    int (*seats_available)(concert_storage *self, int64_t schedule_id, int64_t now,
                           concert_emit_seat_fn emit, void *ctx);

    /** must: the version of a free list at now, cheaply (a few index reads,
     * no write, no scan of seats): of one schedule's free seats when
     * schedule_id > 0, else of the free counts of all of concert_id's
     * schedules. The promise: two calls that report equal versions (all
     * fields) saw equal lists, from any process sharing the store. So:
     *  - changes grows (by any amount) with every hold, release and sale of
     *    a seat in scope, visible with the step's commit;
     *  - a hold expiring also changes the list, at held_until. Either count
     *    it in changes as of now (the memory store settles expired holds),
     *    or report expired_through = the latest held_until <= now among
     *    the scope's holds that still own their seat (0: none): with the
     *    store unchanged, equal expired_through means the same set of
     *    holds has run out;
     *  - past (concert scope only; 0 for a schedule): how many of the
     *    concert's schedules have starts_at <= starts_after (they have left
     *    the list; the core passes its booking horizon);
     *  - epoch: an identity of the store's history that differs between
     *    stores whose counters could repeat (a fresh memory store, a new
     *    database file): random when the store is created.
     * The schedule or concert is known to exist. */
    int (*list_version)(concert_storage *self, int64_t concert_id, int64_t schedule_id,
                        int64_t starts_after, int64_t now, concert_list_version *out);

    /** must: emit EVERY seat of the schedule at now in seat-number order, in
     * time linear in its seats, each with its state: CONCERT_SEAT_SOLD when
     * a PAID reservation owns it, CONCERT_SEAT_HELD under a live hold
     * (held_until > now) with held_until set, else CONCERT_SEAT_FREE (an
     * expired or released hold frees the seat). The FREE seats are exactly
     * what seats_available emits at the same now, so list_version labels
     * this map too. One consistent read (a snapshot or one lock). The
     * schedule is known to exist. */
    int (*seat_map)(concert_storage *self, int64_t schedule_id, int64_t now,
                    concert_emit_seat_state_fn emit, void *ctx);

    /** must: load a catalog the core has already validated (fields in range,
     * ids unique within it, seat ranges ordered and disjoint), all or nothing.
     * An id already in the store is CONCERT_ECONFLICT, with a message naming
     * the place: "concerts[2].id: concert 7 already exists". Opening points
     * become a CHARGE ledger entry at now (none when 0). Each concert's
     * max_per_user is stored and reported by concert_get, concerts_list and
     * schedule_get. */
    int (*catalog_load)(concert_storage *self, const concert_catalog *catalog, int64_t now);

    /* ---------------- holds and payment ---------------- */

    /** must, in one atomic step, in this order: 1. the token check (see
     * concert_hold_request). 2. CONCERT_ESEAT_NOT_FOUND if the schedule has
     * no such seat. 3. If the seat is under a live hold (hold_until > now)
     * by a HELD reservation of the same user: report that reservation,
     * is_new = 0. 4. If sold, or under another live hold:
     * CONCERT_ESEAT_TAKEN. 5. The per-buyer limit (see
     * concert_hold_request): CONCERT_EHOLD_LIMIT. 6. Create a HELD
     * reservation for the token's user at the seat's price until hold_until,
     * make the seat point at it (the fence), and report it with is_new = 1.
     * The schedule is known to exist and be bookable. A backend that talks
     * to a server should make this one round trip. */
    int (*seat_hold)(concert_storage *self, const concert_hold_request *req,
                     concert_reservation *out);

    /** must: the reservation as stored: status HELD, CONFIRMED or RELEASED
     * (the core derives EXPIRED). CONCERT_ERESERVATION_NOT_FOUND if missing. */
    int (*reservation_get)(concert_storage *self, int64_t reservation_id, concert_reservation *out);

    /** must, in one atomic step, in this order:
     *  0. resolve the token to its user (see concert_pay_request).
     *  1. key given and a record exists for (user, "pay", key): same
     *     fingerprint, report the stored payment and return 0; else
     *     CONCERT_EIDEMPOTENCY_KEY_REUSED.
     *  2. the token is live ACTIVE (see params), else
     *     CONCERT_ETOKEN_INVALID.
     *  3. for each reservation in ascending id order, the first failure
     *     wins: missing: CONCERT_ERESERVATION_NOT_FOUND; another user's:
     *     CONCERT_EFORBIDDEN; CONFIRMED: CONCERT_EALREADY_PAID; RELEASED,
     *     hold_until <= now or the seat no longer points at it:
     *     CONCERT_EHOLD_EXPIRED.
     *  4. balance < the sum of their prices: CONCERT_EINSUFFICIENT_POINTS.
     *  5. debit the sum; ONE PAYMENT ledger entry (amount -sum,
     *     reservation_id = the first id); ONE payment record (reservation_id
     *     = the first id, amount = sum) that every reservation of the order
     *     refers to; each seat sold to its reservation (fenced); each
     *     reservation CONFIRMED; token ENDED (active count - 1); idempotency
     *     record if a key was given.
     * out: id, reservation_id (the first), user_id, amount, balance,
     * paid_at. Any failure leaves everything unchanged. The store should
     * also refuse a negative balance and a second sale of a seat by itself
     * (CHECK, UNIQUE) so that a bug cannot corrupt it. */
    int (*pay)(concert_storage *self, const concert_pay_request *req, concert_payment *out);

    /** must, in one atomic step: 1. the token check (see
     * concert_hold_request). 2. missing: CONCERT_ERESERVATION_NOT_FOUND;
     * another user's: CONCERT_EFORBIDDEN; CONFIRMED: CONCERT_EALREADY_PAID.
     * 3. HELD (live or not): status RELEASED, and the seat stops pointing at
     * it if it still does (fenced: a seat held by a later reservation is not
     * touched). RELEASED: nothing changes. out: the reservation after. */
    int (*reservation_release)(concert_storage *self, const concert_release_request *req,
                               concert_reservation *out);

    /** must: the user a token was issued to, in any state, without touching
     * it (no last_seen, no admission). CONCERT_ETOKEN_INVALID if unknown. */
    int (*token_owner)(concert_storage *self, const char *token, int64_t *user_id);

    /* ---------------- points ---------------- */

    /** must, atomically: 1. idempotency as for pay with operation "charge"
     * (report the stored result's user and balance); 2.
     * CONCERT_EUSER_NOT_FOUND; 3. balance + amount > max_balance:
     * CONCERT_EINVALID_AMOUNT; 4. credit, CHARGE ledger entry, idempotency
     * record. *balance_out = the balance after. */
    int (*charge)(concert_storage *self, const concert_charge_request *req, int64_t *balance_out);

    /** must: CONCERT_EUSER_NOT_FOUND if missing. */
    int (*balance_get)(concert_storage *self, int64_t user_id, int64_t *balance_out);

    /** must: emit the user's ledger entries with id < before_id (0: no
     * bound) newest first (descending id), at most limit of them (0: all),
     * in time proportional to what is emitted (an index on (user, id));
     * CONCERT_EUSER_NOT_FOUND if the user does not exist. */
    int (*history_list)(concert_storage *self, int64_t user_id, int64_t before_id, size_t limit,
                        concert_emit_ledger_fn emit, void *ctx);

    /* ---------------- administration ---------------- */

    /** must: emit every user in id order. */
    int (*users_list)(concert_storage *self, concert_emit_user_fn emit, void *ctx);

    /** must: delete what retention allows (see "Retention"), oldest first,
     * at most req->limit rows (0: all that are due), and count them in out
     * (tokens, idempotency; more = 1 when the limit stopped it with rows
     * still due). Never touches anything else. */
    int (*prune)(concert_storage *self, const concert_prune_request *req,
                 concert_prune_report *out);

    /** may: check every invariant listed at concert_admin_verify(), emit one line
     * per violation, and fill the counts of report (not violations). */
    int (*verify)(concert_storage *self, const concert_queue_params *params, int64_t now,
                  concert_emit_text_fn violation, void *ctx, concert_verify_report *report);

    /** may: the work this backend did on its own since it was opened, for
     * concert_db_stats_get() (NULL: reported as 0). Cheap (atomic loads):
     * a metrics scrape calls it. */
    int (*counters)(concert_storage *self, concert_storage_counters *out);

    /** may: how a token ended, without touching it: *reservation_id = the
     * first reservation of the payment that ended it (pay step 5), or 0
     * if no payment did (it is live, expired, idled or was left).
     * CONCERT_ETOKEN_INVALID if the store does not know the token. The
     * core asks only after a step refused the token, to word the refusal
     * the same way on every store (NULL: a generic wording). */
    int (*token_paid)(concert_storage *self, const char *token, int64_t *reservation_id);
};

/**
 * Open a built-in backend. location is what follows the scheme
 * ("sqlite:PATH" gives "PATH"; PostgreSQL gets the whole URI or conninfo).
 * Backends compiled out still exist and return CONCERT_ENOTSUP.
 * @param[out] out receives the backend's table
 * @param location what follows the scheme
 * @param opts the db's options, or NULL
 * @return 0 or a negative concert_error_code.
 */
CONCERT_EXTERN int concert_storage_memory_open(concert_storage **out, const char *location,
                                               const concert_options *opts);
/** Open the SQLite backend (see concert_storage_memory_open()).
 * @param[out] out receives the backend's table
 * @param location the file path
 * @param opts the db's options, or NULL
 * @return 0 or a negative concert_error_code.
 */
CONCERT_EXTERN int concert_storage_sqlite_open(concert_storage **out, const char *location,
                                               const concert_options *opts);
/** Open the PostgreSQL backend (see concert_storage_memory_open()).
 * @param[out] out receives the backend's table
 * @param location the whole URI or conninfo
 * @param opts the db's options, or NULL
 * @return 0 or a negative concert_error_code.
 */
CONCERT_EXTERN int concert_storage_postgres_open(concert_storage **out, const char *location,
                                                 const concert_options *opts);

/**
 * Open a db on a storage of your own. Takes ownership of storage in every
 * case (it is freed on failure). Errors: CONCERT_EINVAL (bad table: wrong
 * version or a "must" method NULL), CONCERT_ENOMEM.
 * @param[out] out receives the handle; close it with concert_db_close()
 * @param storage the table; owned by the db from now on
 * @param opts options, or NULL for the defaults
 * @return 0 or a negative concert_error_code.
 */
CONCERT_EXTERN int concert_db_open_storage(concert_db **out, concert_storage *storage,
                                           const concert_options *opts);

/**
 * Set the calling thread's error detail (printf-style) and return code, so
 * that a backend can write `return concert_sys_error_set(CONCERT_ESTORAGE,
 * "sqlite: %s", msg);`.
 * @param code the concert_error_code to set and return
 * @param fmt printf-style format of the message
 * @param ... its arguments
 * @return code.
 */
CONCERT_EXTERN int concert_sys_error_set(int code, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/** Constant-time comparison of two NUL-terminated tokens: 1 if equal.
 * @param a a token
 * @param b another token
 * @return 1 if equal, else 0.
 */
CONCERT_EXTERN int concert_sys_token_equal(const char *a, const char *b);

CONCERT_END_DECLS

#endif
