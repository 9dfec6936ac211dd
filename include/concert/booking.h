/**
 * @file
 * @brief libconcert: seat holds and payment.
 *
 * A buyer with an ACTIVE token holds a free seat for hold_ttl, then pays for
 * it with points. The user always comes from the token, never from the
 * caller. Every function here is safe to call from many threads on one db.
 */
#ifndef CONCERT_BOOKING_H
#define CONCERT_BOOKING_H

#include "common.h"

CONCERT_BEGIN_DECLS

/** Where a reservation stands. */
typedef enum concert_reservation_status {
    CONCERT_RESERVATION_HELD = 1,      /**< hold is live */
    CONCERT_RESERVATION_CONFIRMED = 2, /**< paid; the seat is sold for good */
    CONCERT_RESERVATION_EXPIRED = 3,   /**< hold ran out before payment */
    CONCERT_RESERVATION_RELEASED = 4   /**< its buyer let the hold go */
} concert_reservation_status;

/** Most reservations one order (concert_order_pay()) may pay for. */
#define CONCERT_ORDER_MAX 64

/** A seat held or bought by one user for one schedule. */
typedef struct concert_reservation {
    int64_t id;          /**< the reservation's id */
    int64_t user_id;     /**< whose hold (the token's user) */
    int64_t schedule_id; /**< which performance */
    int64_t seat_number; /**< which seat of it */
    int64_t price;       /**< points, fixed when the hold was made */
    int32_t status;      /**< concert_reservation_status */
    int32_t is_new;      /**< 1 if concert_reserve_seat() created it */
    int64_t held_until;  /**< ms since epoch: end of the hold */
} concert_reservation;

/** What a payment (concert_pay() or concert_order_pay()) recorded. */
typedef struct concert_payment {
    int64_t id;             /**< the payment's id */
    int64_t reservation_id; /**< the one paid for; for an order, the lowest
                               of its reservation ids */
    int64_t user_id;        /**< who paid */
    int64_t amount;         /**< points debited (an order's total) */
    int64_t balance;        /**< balance right after the payment */
    int64_t paid_at;        /**< ms since epoch */
} concert_payment;

/**
 * Hold seat_number of schedule_id for the token's user for hold_ttl.
 * Reserving a seat the user already holds returns that same reservation
 * (is_new = 0). An expired hold frees the seat at once, for everyone.
 *
 * The token is checked in the same atomic step that takes the seat: a hold
 * never lands for a token that a payment or a leave has just ended.
 * Per-buyer limits, enforced in that step too (no race lets one more in):
 * if the schedule's concert sets max_per_user, the user's live holds plus
 * paid seats of that concert stay at or below it; otherwise the user's live
 * holds across the store stay at or below the db's max_holds_per_user
 * (options; 0 = no limit). Past the limit: CONCERT_EHOLD_LIMIT, whose
 * message gives the limit.
 * Errors: CONCERT_EINVAL, CONCERT_ETOKEN_INVALID, CONCERT_ETOKEN_NOT_ACTIVE,
 * CONCERT_ESCHEDULE_NOT_FOUND, CONCERT_ECONCERT_NOT_BOOKABLE,
 * CONCERT_EBOOKING_CLOSED, CONCERT_ESEAT_NOT_FOUND, CONCERT_ESEAT_TAKEN,
 * CONCERT_EHOLD_LIMIT, storage errors.
 * @param[out] out receives the reservation
 * @param db an open handle
 * @param token the buyer's queue token; must be ACTIVE
 * @param schedule_id which performance
 * @param seat_number which seat of it
 * @return 0 or a negative concert_error_code.
 */
CONCERT_EXTERN int concert_reserve_seat(concert_reservation *out, concert_db *db, const char *token,
                                        int64_t schedule_id, int64_t seat_number);

/**
 * Read one of the token's user's reservations. A HELD reservation whose hold
 * ran out reads back as EXPIRED. token must be ACTIVE; a paid reservation
 * stays readable by its owner with any later ACTIVE token of theirs.
 * Errors: CONCERT_EINVAL, token errors, CONCERT_ERESERVATION_NOT_FOUND,
 * CONCERT_EFORBIDDEN (another user's), storage errors.
 * @param[out] out receives the reservation
 * @param db an open handle
 * @param token an ACTIVE token of the reservation's user
 * @param reservation_id which reservation
 * @return 0 or a negative concert_error_code.
 */
CONCERT_EXTERN int concert_reservation_get(concert_reservation *out, concert_db *db,
                                           const char *token, int64_t reservation_id);

/**
 * Pay for a held reservation with the token's user's points, in one atomic
 * step: debit, ledger entry, payment record, seat sold, reservation
 * CONFIRMED and the token ended; all of it or none.
 * The same as concert_order_pay() with one reservation.
 *
 * idempotency_key: NULL for none, else 1..CONCERT_IDEMPOTENCY_KEY_MAX bytes
 * of printable ASCII without spaces (0x21..0x7E; anything else, "" included,
 * is CONCERT_EINVAL). Keys are scoped to the token's user. A repeat with the
 * same key and reservation returns the first payment without a second
 * effect, even after the token has ended; the same key for another
 * reservation is CONCERT_EIDEMPOTENCY_KEY_REUSED.
 * Errors: CONCERT_EINVAL, CONCERT_ETOKEN_INVALID, CONCERT_ETOKEN_NOT_ACTIVE,
 * CONCERT_ERESERVATION_NOT_FOUND, CONCERT_EFORBIDDEN, CONCERT_EHOLD_EXPIRED,
 * CONCERT_EALREADY_PAID, CONCERT_EINSUFFICIENT_POINTS,
 * CONCERT_EIDEMPOTENCY_KEY_REUSED, storage errors. On error nothing changed.
 * @param[out] out receives the payment
 * @param db an open handle
 * @param token the buyer's queue token; must be ACTIVE; ended by the payment
 * @param reservation_id the HELD reservation to pay for
 * @param idempotency_key NULL or a key as above
 * @return 0 or a negative concert_error_code.
 */
CONCERT_EXTERN int concert_pay(concert_payment *out, concert_db *db, const char *token,
                               int64_t reservation_id, const char *idempotency_key);

/**
 * Pay for several of the token's live holds at once (a party buying
 * together), in one atomic step: one debit of the total, one PAYMENT ledger
 * entry (its reservation_id is the lowest of the order), one payment record
 * covering every reservation, every seat sold, every reservation CONFIRMED,
 * the token ended. All of it or nothing: one expired, released, paid or
 * foreign reservation fails the whole order with that reservation's error
 * (in ascending id order) and changes nothing.
 *
 * reservation_ids: count (1..CONCERT_ORDER_MAX) distinct ids, in any order.
 * idempotency_key as for concert_pay(); the key covers the set of ids, so a
 * repeat with the same ids in another order replays, and another set under
 * the same key is CONCERT_EIDEMPOTENCY_KEY_REUSED.
 * *out: id, user, total amount, balance after, paid_at; reservation_id is the
 * lowest id of the order.
 * Errors: as concert_pay(), plus CONCERT_EINVAL (count out of range or a
 * repeated id).
 * @param[out] out receives the payment
 * @param db an open handle
 * @param token the buyer's queue token; must be ACTIVE; ended by the payment
 * @param reservation_ids the HELD reservations to pay for
 * @param count how many, 1..CONCERT_ORDER_MAX
 * @param idempotency_key NULL or a key as for concert_pay()
 * @return 0 or a negative concert_error_code.
 */
CONCERT_EXTERN int concert_order_pay(concert_payment *out, concert_db *db, const char *token,
                                     const int64_t *reservation_ids, size_t count,
                                     const char *idempotency_key);

/**
 * Let a hold go before it expires: the reservation becomes RELEASED and its
 * seat is free for everyone at once. token must be ACTIVE and belong to the
 * reservation's user. Releasing a reservation that is already RELEASED, or
 * whose hold has run out, succeeds and changes nothing but its status (the
 * seat, possibly held by someone else by now, is not touched).
 * *out (may be NULL) receives the reservation as it is after the call.
 * Errors: CONCERT_EINVAL, CONCERT_ETOKEN_INVALID, CONCERT_ETOKEN_NOT_ACTIVE,
 * CONCERT_ERESERVATION_NOT_FOUND, CONCERT_EFORBIDDEN (another user's),
 * CONCERT_EALREADY_PAID, storage errors. On error nothing changed.
 * @param[out] out receives the reservation after the call, or NULL
 * @param db an open handle
 * @param token an ACTIVE token of the reservation's user
 * @param reservation_id which reservation
 * @return 0 or a negative concert_error_code.
 */
CONCERT_EXTERN int concert_reservation_release(concert_reservation *out, concert_db *db,
                                               const char *token, int64_t reservation_id);

/**
 * Is key a valid idempotency key? 0 for NULL (no key) or 1 to
 * CONCERT_IDEMPOTENCY_KEY_MAX bytes of printable ASCII without spaces
 * (0x21..0x7E); CONCERT_EINVAL otherwise, with the reason in
 * concert_error_last(). concert_pay(), concert_order_pay() and
 * concert_charge_points() apply this same rule; a server can ask first, to
 * refuse a bad key before doing anything else.
 * @param key the key to check, or NULL
 * @return 0 or CONCERT_EINVAL.
 */
CONCERT_EXTERN int concert_idempotency_key_check(const char *key);

/** Static name of a reservation status ("HELD", "CONFIRMED", "EXPIRED",
 * "RELEASED"); "UNKNOWN" otherwise.
 * @param status a concert_reservation_status
 * @return static name; "UNKNOWN" otherwise.
 */
CONCERT_EXTERN const char *concert_reservation_status_name(int status);

CONCERT_END_DECLS

#endif
