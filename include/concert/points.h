/**
 * @file
 * @brief libconcert: prepaid points.
 *
 * Every charge and payment is an immutable ledger entry carrying the balance
 * after it; a balance always equals the sum of its ledger and is never
 * negative. Every function here is safe to call from many threads on one db.
 */
#ifndef CONCERT_POINTS_H
#define CONCERT_POINTS_H

#include "common.h"

CONCERT_BEGIN_DECLS

/** Largest amount one charge may add. */
#define CONCERT_MAX_CHARGE INT64_C(1000000000)
/** Largest balance: 2^53 - 1, exact in a JSON number. */
#define CONCERT_MAX_BALANCE INT64_C(9007199254740991)

/** What a ledger entry records. */
typedef enum concert_ledger_type {
    CONCERT_LEDGER_CHARGE = 1, /**< points added (amount > 0) */
    CONCERT_LEDGER_PAYMENT = 2 /**< points spent (amount < 0) */
} concert_ledger_type;

/** One immutable entry of a user's points ledger. */
typedef struct concert_ledger_entry {
    int64_t id;             /**< grows with every entry */
    int64_t user_id;        /**< whose ledger */
    int32_t type;           /**< concert_ledger_type */
    int32_t reserved;       /**< reserved for a later field; 0 */
    int64_t amount;         /**< signed: + for CHARGE, - for PAYMENT */
    int64_t balance_after;  /**< the user's balance after this entry */
    int64_t at;             /**< ms since epoch */
    int64_t reservation_id; /**< PAYMENT: what was bought; else 0 */
} concert_ledger_entry;

/** A user's ledger or one page of it; free with concert_ledger_list_free(). */
typedef struct concert_ledger_list {
    int64_t user_id;             /**< whose ledger */
    size_t count;                /**< number of items */
    concert_ledger_entry *items; /**< newest first */
    int64_t next_before_id;      /**< concert_ledger_list_get_page(): pass as
                                    before_id for the next page; 0 when
                                    this page is the last */
} concert_ledger_list;

/** Most entries one page of history may ask for. */
#define CONCERT_HISTORY_PAGE_MAX 1000

/**
 * Add amount (1..CONCERT_MAX_CHARGE) points to user_id; *balance_out (may be
 * NULL) receives the new balance. The library trusts its caller here: who
 * may charge whom is the embedding program's decision (concertd asks for a
 * service key). idempotency_key as for concert_pay(), scoped to user_id: a
 * repeat with the same key and amount returns the first result without a
 * second charge; another amount under the same key is
 * CONCERT_EIDEMPOTENCY_KEY_REUSED.
 * Errors: CONCERT_EINVAL, CONCERT_EUSER_NOT_FOUND, CONCERT_EINVALID_AMOUNT
 * (out of range, or the balance would pass CONCERT_MAX_BALANCE),
 * CONCERT_EIDEMPOTENCY_KEY_REUSED, storage errors.
 * @param[out] balance_out receives the new balance, or NULL
 * @param db an open handle
 * @param user_id whom to charge
 * @param amount points to add, 1..CONCERT_MAX_CHARGE
 * @param idempotency_key as for concert_pay(), or NULL
 * @return 0 or a negative concert_error_code.
 */
CONCERT_EXTERN int concert_charge_points(int64_t *balance_out, concert_db *db, int64_t user_id,
                                         int64_t amount, const char *idempotency_key);

/** The user's balance. Errors: CONCERT_EINVAL, CONCERT_EUSER_NOT_FOUND,
 * storage errors.
 * @param[out] balance_out receives the balance
 * @param db an open handle
 * @param user_id whose balance
 * @return 0 or a negative concert_error_code. */
CONCERT_EXTERN int concert_points_balance_get(int64_t *balance_out, concert_db *db,
                                              int64_t user_id);

/** The user's ledger, newest first. Free *out with concert_ledger_list_free().
 * Errors: CONCERT_EINVAL, CONCERT_EUSER_NOT_FOUND, storage errors.
 * @param[out] out receives the list (NULL on failure)
 * @param db an open handle
 * @param user_id whose ledger
 * @return 0 or a negative concert_error_code. */
CONCERT_EXTERN int concert_ledger_list_get(concert_ledger_list **out, concert_db *db,
                                           int64_t user_id);
/** Free a list from concert_ledger_list_get() or concert_ledger_list_get_page().
 * NULL is a no-op.
 * @param list the list, or NULL */
CONCERT_EXTERN void concert_ledger_list_free(concert_ledger_list *list);

/**
 * One page of the user's ledger, newest first: at most limit
 * (1..CONCERT_HISTORY_PAGE_MAX) entries with id < before_id (0: from the
 * newest). (*out)->next_before_id is the cursor for the next page, 0 after
 * the last one. Entries are immutable and ids only grow, so paging while
 * new entries arrive neither skips nor repeats an entry.
 * Errors: CONCERT_EINVAL (limit or before_id out of range),
 * CONCERT_EUSER_NOT_FOUND, storage errors.
 * @param[out] out receives the page; free with concert_ledger_list_free()
 * @param db an open handle
 * @param user_id whose ledger
 * @param before_id only entries with a smaller id; 0: from the newest
 * @param limit most entries, 1..CONCERT_HISTORY_PAGE_MAX
 * @return 0 or a negative concert_error_code.
 */
CONCERT_EXTERN int concert_ledger_list_get_page(concert_ledger_list **out, concert_db *db,
                                                int64_t user_id, int64_t before_id, size_t limit);

/** Static name of a ledger type ("CHARGE", "PAYMENT"); "UNKNOWN" otherwise.
 * @param type a concert_ledger_type
 * @return static name; "UNKNOWN" otherwise. */
CONCERT_EXTERN const char *concert_ledger_type_name(int type);

/** The version of concert_charge_result this library fills; fields are
 *  only appended, and the library fills what the caller's version has. */
#define CONCERT_CHARGE_RESULT_VERSION 1

/** What concert_charge_points_ex() reports. The caller sets version to
 *  CONCERT_CHARGE_RESULT_VERSION. */
typedef struct concert_charge_result {
    unsigned int version; /**< CONCERT_CHARGE_RESULT_VERSION, set by the caller */
    int32_t replayed;     /**< 1: the idempotency key matched an earlier charge,
                               whose result this is; nothing was charged now */
    int64_t balance;      /**< the balance after the charge */
} concert_charge_result;

/**
 * concert_charge_points(), also saying whether a keyed call replayed an
 * earlier charge (without a second read: a server counting new money needs
 * no ledger read).
 * @param out required, its version set; on failure zeroed except version
 * @param db the store
 * @param user_id whose points
 * @param amount 1..CONCERT_MAX_CHARGE
 * @param idempotency_key NULL, or a key (concert_idempotency_key_check())
 * @return CONCERT_OK, the errors of concert_charge_points(), or
 *         CONCERT_EINVAL for a NULL out or an unknown version.
 */
CONCERT_EXTERN int concert_charge_points_ex(concert_charge_result *out, concert_db *db,
                                            int64_t user_id, int64_t amount,
                                            const char *idempotency_key);

CONCERT_END_DECLS

#endif
