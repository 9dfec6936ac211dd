/*
 * libconcert: seat holds and payment.
 *
 * A buyer with an ACTIVE token holds a free seat for hold_ttl, then pays for
 * it with points. The user always comes from the token, never from the
 * caller. Every function here is safe to call from many threads on one db.
 */
#ifndef CONCERT_BOOKING_H
#define CONCERT_BOOKING_H

#include "common.h"

CONCERT_BEGIN_DECLS

typedef enum concert_reservation_status {
    CONCERT_RESERVATION_HELD = 1,      /* hold is live */
    CONCERT_RESERVATION_CONFIRMED = 2, /* paid; the seat is sold for good */
    CONCERT_RESERVATION_EXPIRED = 3    /* hold ran out before payment */
} concert_reservation_status;

typedef struct concert_reservation {
    int64_t id;
    int64_t user_id;
    int64_t schedule_id;
    int64_t seat_number;
    int64_t price;         /* points, fixed when the hold was made */
    int32_t status;        /* concert_reservation_status */
    int32_t is_new;        /* 1 if concert_reserve_seat() created it */
    int64_t held_until;    /* ms since epoch: end of the hold */
} concert_reservation;

typedef struct concert_payment {
    int64_t id;
    int64_t reservation_id;
    int64_t user_id;
    int64_t amount;        /* points debited */
    int64_t balance;       /* balance right after the payment */
    int64_t paid_at;       /* ms since epoch */
} concert_payment;

/*
 * Hold seat_number of schedule_id for the token's user for hold_ttl.
 * Reserving a seat the user already holds returns that same reservation
 * (is_new = 0). An expired hold frees the seat at once, for everyone.
 * Errors: CONCERT_EINVAL, CONCERT_ETOKEN_INVALID, CONCERT_ETOKEN_NOT_ACTIVE,
 * CONCERT_ESCHEDULE_NOT_FOUND, CONCERT_ECONCERT_NOT_BOOKABLE,
 * CONCERT_EBOOKING_CLOSED, CONCERT_ESEAT_NOT_FOUND, CONCERT_ESEAT_TAKEN,
 * storage errors.
 */
CONCERT_EXTERN int concert_reserve_seat(concert_reservation *out, concert_db *db,
                                        const char *token, int64_t schedule_id,
                                        int64_t seat_number);

/*
 * Read one of the token's user's reservations. A HELD reservation whose hold
 * ran out reads back as EXPIRED. token must be ACTIVE; a paid reservation
 * stays readable by its owner with any later ACTIVE token of theirs.
 * Errors: CONCERT_EINVAL, token errors, CONCERT_ERESERVATION_NOT_FOUND,
 * CONCERT_EFORBIDDEN (another user's), storage errors.
 */
CONCERT_EXTERN int concert_reservation_get(concert_reservation *out, concert_db *db,
                                           const char *token, int64_t reservation_id);

/*
 * Pay for a held reservation with the token's user's points, in one atomic
 * step: debit, ledger entry, payment record, seat sold, reservation
 * CONFIRMED and the token ended; all of it or none.
 *
 * idempotency_key (NULL or "" for none, at most 255 bytes): a repeat with the
 * same key and reservation returns the first payment without a second effect,
 * even after the token has ended; the same key for another reservation is
 * CONCERT_EIDEMPOTENCY_KEY_REUSED.
 * Errors: CONCERT_EINVAL, CONCERT_ETOKEN_INVALID, CONCERT_ETOKEN_NOT_ACTIVE,
 * CONCERT_ERESERVATION_NOT_FOUND, CONCERT_EFORBIDDEN, CONCERT_EHOLD_EXPIRED,
 * CONCERT_EALREADY_PAID, CONCERT_EINSUFFICIENT_POINTS,
 * CONCERT_EIDEMPOTENCY_KEY_REUSED, storage errors. On error nothing changed.
 */
CONCERT_EXTERN int concert_pay(concert_payment *out, concert_db *db, const char *token,
                               int64_t reservation_id, const char *idempotency_key);

/* Static name of a reservation status ("HELD", "CONFIRMED", "EXPIRED"), or NULL. */
CONCERT_EXTERN const char *concert_reservation_status_name(int status);

CONCERT_END_DECLS

#endif
