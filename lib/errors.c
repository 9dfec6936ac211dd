/*
 * Error codes, their names and texts, and the per-thread error detail.
 */
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

/* Detail lives per thread so that a shared concert_db never mixes up two
 * callers' errors (libgit2's model). */
#define ERROR_MESSAGE_SIZE 512
static _Thread_local char tl_message[ERROR_MESSAGE_SIZE];
static _Thread_local concert_error tl_error = { 0, "" };
/* The code for which tl_message was written explicitly since the last clear. */
static _Thread_local int tl_explicit_code = 0;

typedef struct error_info {
    int code;
    const char *name;
    const char *text;
} error_info;

static const error_info ERRORS[] = {
    { CONCERT_OK, "OK", "success" },
    { CONCERT_EINVAL, "INVALID_ARGUMENT", "invalid argument" },
    { CONCERT_ENOMEM, "OUT_OF_MEMORY", "out of memory" },
    { CONCERT_ESTORAGE, "STORAGE_UNAVAILABLE", "storage unavailable" },
    { CONCERT_EBUSY, "STORAGE_BUSY", "storage busy, try again" },
    { CONCERT_ENOTSUP, "NOT_SUPPORTED", "not supported" },
    { CONCERT_ESCHEMA, "SCHEMA_TOO_NEW", "store schema is newer than this library" },
    { CONCERT_EINTERNAL, "INTERNAL", "internal error" },
    { CONCERT_ECONFLICT, "CONFLICT", "already exists" },
    { CONCERT_EUSER_NOT_FOUND, "USER_NOT_FOUND", "user not found" },
    { CONCERT_ETOKEN_INVALID, "TOKEN_INVALID", "token invalid" },
    { CONCERT_ETOKEN_NOT_ACTIVE, "TOKEN_NOT_ACTIVE", "token not active yet" },
    { CONCERT_ECONCERT_NOT_FOUND, "CONCERT_NOT_FOUND", "concert not found" },
    { CONCERT_ECONCERT_NOT_BOOKABLE, "CONCERT_NOT_BOOKABLE", "concert not bookable" },
    { CONCERT_ESCHEDULE_NOT_FOUND, "SCHEDULE_NOT_FOUND", "schedule not found" },
    { CONCERT_EBOOKING_CLOSED, "BOOKING_CLOSED", "booking closed" },
    { CONCERT_ESEAT_NOT_FOUND, "SEAT_NOT_FOUND", "seat not found" },
    { CONCERT_ESEAT_TAKEN, "SEAT_TAKEN", "seat taken" },
    { CONCERT_ERESERVATION_NOT_FOUND, "RESERVATION_NOT_FOUND", "reservation not found" },
    { CONCERT_EFORBIDDEN, "FORBIDDEN", "forbidden: not your reservation" },
    { CONCERT_EHOLD_EXPIRED, "HOLD_EXPIRED", "hold expired" },
    { CONCERT_EALREADY_PAID, "ALREADY_PAID", "already paid" },
    { CONCERT_EINSUFFICIENT_POINTS, "INSUFFICIENT_POINTS", "insufficient points" },
    { CONCERT_EINVALID_AMOUNT, "INVALID_AMOUNT", "invalid amount" },
    { CONCERT_EIDEMPOTENCY_KEY_REUSED, "IDEMPOTENCY_KEY_REUSED",
      "idempotency key reused with different arguments" },
    { CONCERT_EQUEUE_CLOSED, "QUEUE_CLOSED", "the queue is closed to new buyers" },
    { CONCERT_EHOLD_LIMIT, "HOLD_LIMIT",
      "hold limit reached: this buyer holds as many seats as allowed" },
};

static const error_info *error_find(int code)
{
    for (size_t i = 0; i < sizeof(ERRORS) / sizeof(ERRORS[0]); i++) {
        if (ERRORS[i].code == code)
            return &ERRORS[i];
    }
    return NULL;
}

int concert__error_is_known(int code)
{
    return error_find(code) != NULL;
}

const char *concert_error_string(int code)
{
    const error_info *e = error_find(code);
    return e ? e->text : "unknown error";
}

const char *concert_error_name(int code)
{
    const error_info *e = error_find(code);
    return e ? e->name : "UNKNOWN";
}

const concert_error *concert_error_last(void)
{
    tl_error.message = tl_message;
    return &tl_error;
}

#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 2, 0)))
#endif
static int
error_vset(int code, const char *fmt, va_list ap)
{
    int n = vsnprintf(tl_message, sizeof(tl_message), fmt, ap);
    if (n < 0)
        snprintf(tl_message, sizeof(tl_message), "%s", concert_error_string(code));
    /* A truncated message is still useful; vsnprintf always terminates. */
    tl_error.code = code;
    tl_error.message = tl_message;
    tl_explicit_code = code;
    return code;
}

int concert__error_set(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_vset(code, fmt, ap);
    va_end(ap);
    return code;
}

int concert_sys_error_set(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_vset(code, fmt, ap);
    va_end(ap);
    return code;
}

void concert__error_clear(void)
{
    tl_explicit_code = 0;
}

int concert__error_ensure(int code)
{
    if (tl_explicit_code != code)
        return concert__error_set(code, "%s", concert_error_string(code));
    return code;
}
