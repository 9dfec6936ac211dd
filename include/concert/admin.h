/**
 * @file
 * @brief libconcert: administration: users and the invariant checker.
 *
 * No token is needed: these are for operators and tools, not buyers.
 */
#ifndef CONCERT_ADMIN_H
#define CONCERT_ADMIN_H

#include "common.h"
#include "catalog.h"

CONCERT_BEGIN_DECLS

/** One user and their balance, as concert_admin_user_list_get() returns it. */
typedef struct concert_user {
    int64_t id;                   /**< the user's id, >= 1 */
    int64_t balance;              /**< points, equal to the sum of the ledger */
    char name[CONCERT_NAME_SIZE]; /**< NUL-terminated UTF-8 */
} concert_user;

/** The users of a store; free with concert_user_list_free(). */
typedef struct concert_user_list {
    size_t count;        /**< number of items */
    concert_user *items; /**< in id order */
} concert_user_list;

/** Every user with their balance. Free *out with concert_user_list_free().
 * Errors: CONCERT_EINVAL, storage errors.
 * @param[out] out receives the list (NULL on failure)
 * @param db an open handle
 * @return 0 or a negative concert_error_code. */
CONCERT_EXTERN int concert_admin_user_list_get(concert_user_list **out, concert_db *db);
/** Free a list from concert_admin_user_list_get(). NULL is a no-op.
 * @param list the list, or NULL */
CONCERT_EXTERN void concert_user_list_free(concert_user_list *list);

/** Every concert whatever its status, in id order (administration; no token).
 * Free *out with concert_concert_list_free().
 * Errors: CONCERT_EINVAL, storage errors.
 * @param[out] out receives the list (NULL on failure)
 * @param db an open handle
 * @return 0 or a negative concert_error_code.
 */
CONCERT_EXTERN int concert_admin_concert_list_get(concert_concert_list **out, concert_db *db);

/** What concert_admin_verify() checked and what it found. */
typedef struct concert_verify_report {
    int64_t users;          /**< users whose balance was checked */
    int64_t ledger_entries; /**< ledger entries summed */
    int64_t seats;          /**< seats looked at */
    int64_t seats_sold;     /**< of them, sold */
    int64_t reservations;   /**< reservations looked at */
    int64_t payments;       /**< payments looked at */
    int64_t active_tokens;  /**< live ACTIVE tokens now */
    size_t violation_count; /**< number of broken invariants found; 0: clean */
    char **violations;      /**< violation_count messages */
} concert_verify_report;

/**
 * Check the store's invariants: every sold seat has exactly one CONFIRMED
 * reservation; every CONFIRMED reservation belongs to exactly one payment,
 * and each payment's amount is the sum of its reservations' prices (an
 * order pays for several); every CONFIRMED reservation's seat is sold to it; every balance equals the sum of its ledger and is never
 * negative; no seat is both sold and under a live hold; no more than
 * max_active tokens are active. Returns 0 when the check ran (whatever it
 * found: see violation_count). Free *out with concert_verify_report_free().
 * Errors: CONCERT_EINVAL, CONCERT_ENOTSUP (backend cannot verify), storage
 * errors.
 * @param[out] out receives the report (NULL on failure)
 * @param db an open handle
 * @return 0 when the check ran, or a negative concert_error_code.
 */
CONCERT_EXTERN int concert_admin_verify(concert_verify_report **out, concert_db *db);
/** Free a report from concert_admin_verify(). NULL is a no-op.
 * @param report the report, or NULL */
CONCERT_EXTERN void concert_verify_report_free(concert_verify_report *report);

/** What concert_admin_prune() deleted. */
typedef struct concert_prune_report {
    int64_t tokens;      /**< tokens that had ended more than retention ago */
    int64_t idempotency; /**< idempotency records older than retention */
    int32_t more;        /**< 1: limit reached with more still due */
    int32_t reserved;    /**< reserved for a later field; 0 */
} concert_prune_report;

/**
 * Delete what options.retention_ms allows: idempotency records older than
 * it (a retry with such a key is then a new request) and tokens that ended
 * longer ago than it (then unknown: CONCERT_ETOKEN_INVALID). Never a user,
 * a live token, a reservation, a payment or a ledger entry. At most limit
 * rows (0: all that are due), oldest first. Every store also prunes a few
 * rows inside its normal calls, so calling this is never required to keep
 * a store bounded; it is for doing it at a quiet hour (`concert prune`).
 * Errors: CONCERT_EINVAL, storage errors.
 * @param[out] out receives what was deleted (caller's struct)
 * @param db an open handle
 * @param limit most rows to delete; 0: all that are due
 * @return 0 or a negative concert_error_code.
 */
CONCERT_EXTERN int concert_admin_prune(concert_prune_report *out, concert_db *db, size_t limit);

CONCERT_END_DECLS

#endif
