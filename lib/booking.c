/*
 * Holding seats and paying for them. The token names the buyer; the
 * backend makes each step atomic.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

static const char *const RESERVATION_STATUS_NAMES[] = {NULL, "HELD", "CONFIRMED", "EXPIRED"};

const char *concert_reservation_status_name(int status)
{
    if (status < CONCERT_RESERVATION_HELD || status > CONCERT_RESERVATION_EXPIRED)
        return NULL;
    return RESERVATION_STATUS_NAMES[status];
}

int concert__idempotency_key_check(const char *key, const char **normalized)
{
    size_t n;
    *normalized = NULL;
    if (!key || !*key)
        return CONCERT_OK;
    n = strnlen(key, CONCERT_IDEMPOTENCY_KEY_MAX + 1);
    if (n > CONCERT_IDEMPOTENCY_KEY_MAX)
        return concert__error_set(CONCERT_EINVAL, "idempotency key longer than %d bytes",
                                  CONCERT_IDEMPOTENCY_KEY_MAX);
    *normalized = key;
    return CONCERT_OK;
}

/* What a caller sees: a live hold past its end reads as EXPIRED. */
static void derive_status(concert_reservation *r, int64_t now)
{
    if (r->status == CONCERT_RESERVATION_HELD && r->held_until <= now)
        r->status = CONCERT_RESERVATION_EXPIRED;
}

int concert_reserve_seat(concert_reservation *out, concert_db *db, const char *token,
                         int64_t schedule_id, int64_t seat_number)
{
    concert_storage_schedule schedule;
    concert_hold_request req;
    int64_t user_id, now;
    int rc;

    if (!out || !db)
        return concert__error_set(CONCERT_EINVAL, "concert_reserve_seat: NULL argument");
    now = concert__now(db);
    if ((rc = concert__token_require_active(db, token, now, &user_id)) != 0)
        return rc;
    if ((rc = concert__schedule_require_bookable(db, schedule_id, now, &schedule)) != 0)
        return rc;
    if (seat_number <= 0)
        return concert__error_set(CONCERT_ESEAT_NOT_FOUND, "seat %lld not found in schedule %lld",
                                  (long long)seat_number, (long long)schedule_id);
    memset(&req, 0, sizeof(req));
    req.schedule_id = schedule_id;
    req.seat_number = seat_number;
    req.user_id = user_id;
    req.now = now;
    req.hold_until = now + db->opts.hold_ttl_ms;
    memset(out, 0, sizeof(*out));
    if ((rc = concert__st_seat_hold(db, &req, out)) != 0)
        return rc;
    derive_status(out, now);
    return CONCERT_OK;
}

int concert_reservation_get(concert_reservation *out, concert_db *db, const char *token,
                            int64_t reservation_id)
{
    int64_t user_id, now;
    int rc;

    if (!out || !db)
        return concert__error_set(CONCERT_EINVAL, "concert_reservation_get: NULL argument");
    now = concert__now(db);
    if ((rc = concert__token_require_active(db, token, now, &user_id)) != 0)
        return rc;
    if (reservation_id <= 0)
        return concert__error_set(CONCERT_ERESERVATION_NOT_FOUND, "reservation %lld not found",
                                  (long long)reservation_id);
    memset(out, 0, sizeof(*out));
    if ((rc = concert__st_reservation_get(db, reservation_id, out)) != 0)
        return rc;
    if (out->user_id != user_id) {
        memset(out, 0, sizeof(*out));
        return concert__error_set(CONCERT_EFORBIDDEN, "reservation %lld belongs to another user",
                                  (long long)reservation_id);
    }
    out->is_new = 0;
    derive_status(out, now);
    return CONCERT_OK;
}

int concert_pay(concert_payment *out, concert_db *db, const char *token, int64_t reservation_id,
                const char *idempotency_key)
{
    concert_pay_request req;
    char fingerprint[64];
    const char *key;
    int64_t user_id, now;
    int32_t state;
    int rc;

    if (!out || !db)
        return concert__error_set(CONCERT_EINVAL, "concert_pay: NULL argument");
    if ((rc = concert__idempotency_key_check(idempotency_key, &key)) != 0)
        return rc;
    now = concert__now(db);
    if ((rc = concert__token_resolve_any(db, token, now, &user_id, &state)) != 0)
        return rc;
    if (state == CONCERT_TOKEN_WAITING)
        return concert__error_set(CONCERT_ETOKEN_NOT_ACTIVE, "token not active yet");
    /* An ended token may still replay a payment made under a key. */
    if (state != CONCERT_TOKEN_ACTIVE && !key)
        return concert__error_set(CONCERT_ETOKEN_INVALID, "token invalid: expired or ended");

    if (key) /* only a keyed call needs it; snprintf is not free on the hot path */
        snprintf(fingerprint, sizeof(fingerprint), "reservation=%lld", (long long)reservation_id);
    memset(&req, 0, sizeof(req));
    req.reservation_id = reservation_id;
    req.user_id = user_id;
    req.token = token;
    req.now = now;
    req.idempotency_key = key;
    req.fingerprint = key ? fingerprint : NULL;
    req.queue = db->queue;
    memset(out, 0, sizeof(*out));
    if ((rc = concert__st_pay(db, &req, out)) != 0)
        return rc;
    /* The payment ended an ACTIVE token: the next in line may be admitted,
     * so this db's cached horizon is refreshed at its next use. */
    concert__queue_cache_invalidate(db);
    return CONCERT_OK;
}
