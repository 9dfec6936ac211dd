/**
 * @file
 * @brief libconcert: error codes and error detail.
 *
 * Every fallible call returns int: 0 on success or one of the negative codes
 * below. Values are part of the ABI: never renumbered, never reused.
 */
#ifndef CONCERT_ERRORS_H
#define CONCERT_ERRORS_H

#include "common.h"

CONCERT_BEGIN_DECLS

/** Every code a fallible call may return; values never change. */
typedef enum concert_error_code {
    CONCERT_OK = 0, /**< success */

    /* Caller and environment errors. */
    CONCERT_EINVAL = -1,    /**< INVALID_ARGUMENT: bad argument or input */
    CONCERT_ENOMEM = -2,    /**< out of memory */
    CONCERT_ESTORAGE = -3,  /**< STORAGE_UNAVAILABLE: store unreachable, I/O */
    CONCERT_EBUSY = -4,     /**< store busy after bounded retries */
    CONCERT_ENOTSUP = -5,   /**< not supported by this build or backend */
    CONCERT_ESCHEMA = -6,   /**< store schema is newer than this library */
    CONCERT_EINTERNAL = -7, /**< a bug or broken invariant */
    CONCERT_ECONFLICT = -8, /**< catalog: an id that already exists */

    /* Domain errors: one per rule. */
    CONCERT_EUSER_NOT_FOUND = -20,         /**< no user with that id */
    CONCERT_ETOKEN_INVALID = -21,          /**< unknown, expired or ended token */
    CONCERT_ETOKEN_NOT_ACTIVE = -22,       /**< still waiting in the queue */
    CONCERT_ECONCERT_NOT_FOUND = -23,      /**< no concert with that id */
    CONCERT_ECONCERT_NOT_BOOKABLE = -24,   /**< PENDING or CLOSED */
    CONCERT_ESCHEDULE_NOT_FOUND = -25,     /**< no schedule with that id */
    CONCERT_EBOOKING_CLOSED = -26,         /**< past start time + booking cutoff */
    CONCERT_ESEAT_NOT_FOUND = -27,         /**< no such seat in the schedule */
    CONCERT_ESEAT_TAKEN = -28,             /**< sold or under another live hold */
    CONCERT_ERESERVATION_NOT_FOUND = -29,  /**< no reservation with that id */
    CONCERT_EFORBIDDEN = -30,              /**< another user's reservation */
    CONCERT_EHOLD_EXPIRED = -31,           /**< the hold's time ran out before payment */
    CONCERT_EALREADY_PAID = -32,           /**< the reservation is already paid */
    CONCERT_EINSUFFICIENT_POINTS = -33,    /**< the balance is below the price */
    CONCERT_EINVALID_AMOUNT = -34,         /**< an amount out of range */
    CONCERT_EIDEMPOTENCY_KEY_REUSED = -35, /**< a key reused for a different request */
    CONCERT_EQUEUE_CLOSED = -36,           /**< the queue is CLOSED to new joins */
    CONCERT_EHOLD_LIMIT = -37              /**< the buyer already holds as many seats
                                          as a limit allows */
} concert_error_code;

/** Detail about the last failure on the calling thread. */
typedef struct concert_error {
    int code;            /**< a concert_error_code */
    const char *message; /**< human-readable, never NULL */
} concert_error;

/**
 * The last error raised on the calling thread. Never NULL. The struct and
 * its message belong to the library and stay valid until the next libconcert
 * call on this thread. Only meaningful right after a call returned < 0.
 * @return the calling thread's last error; never NULL, not to be freed.
 */
CONCERT_EXTERN const concert_error *concert_error_last(void);

/**
 * Static English text for a code ("seat taken"); never NULL.
 * @param code a concert_error_code (any int is accepted)
 * @return static text, never to be freed.
 */
CONCERT_EXTERN const char *concert_error_string(int code);

/**
 * Static stable name for a code, as used by the HTTP API and the bindings
 * ("SEAT_TAKEN", "INVALID_ARGUMENT"); "UNKNOWN" for values not in the enum.
 * @param code a concert_error_code (any int is accepted)
 * @return static name, never NULL, never to be freed.
 */
CONCERT_EXTERN const char *concert_error_name(int code);

CONCERT_END_DECLS

#endif
