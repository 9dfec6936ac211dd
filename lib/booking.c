/*
 * Holding seats, letting them go and paying for them. The token names the
 * buyer; the backend checks it inside each atomic step (the fence).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const char *const RESERVATION_STATUS_NAMES[] = { NULL, "HELD", "CONFIRMED", "EXPIRED",
                                                        "RELEASED" };

const char *concert_reservation_status_name(int status)
{
    if (status < CONCERT_RESERVATION_HELD || status > CONCERT_RESERVATION_RELEASED)
        return "UNKNOWN";
    return RESERVATION_STATUS_NAMES[status];
}

int concert_idempotency_key_check(const char *key)
{
    size_t n;
    if (!key)
        return CONCERT_OK;
    n = strnlen(key, CONCERT_IDEMPOTENCY_KEY_MAX + 1);
    /* A blank key used to mean "no key", so two charges under it both
     * applied: a key is either absent (NULL) or meaningful. */
    if (n == 0)
        return concert__error_set(CONCERT_EINVAL, "idempotency key is empty (pass NULL for none)");
    if (n > CONCERT_IDEMPOTENCY_KEY_MAX)
        return concert__error_set(CONCERT_EINVAL, "idempotency key longer than %d bytes",
                                  CONCERT_IDEMPOTENCY_KEY_MAX);
    /* Visible ASCII only: no store can then disagree about what the key is
     * (encodings, collations, trimmed blanks). */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)key[i];
        if (c < 0x21 || c > 0x7E)
            return concert__error_set(CONCERT_EINVAL,
                                      "idempotency key: byte %zu is not printable ASCII "
                                      "(0x21..0x7E, no spaces)",
                                      i);
    }
    return CONCERT_OK;
}

/* What a caller sees: a live hold past its end reads as EXPIRED. */
static void derive_status(concert_reservation *r, int64_t now)
{
    if (r->status == CONCERT_RESERVATION_HELD && r->held_until <= now)
        r->status = CONCERT_RESERVATION_EXPIRED;
}

/*
 * The first error of a hold that failed before reaching the store, but with
 * the token's error first when the token is bad too, so that the order in
 * which a caller learns what is wrong does not depend on the cache.
 */
static int token_error_first(concert_db *db, const char *token, int64_t now, int rc)
{
    int64_t user_id;
    int trc = concert__token_require_active(db, token, now, &user_id);
    return trc != 0 ? trc : rc;
}

static int hold_limit_error(const concert_hold_request *req, const concert_storage_schedule *s)
{
    if (req->max_per_concert > 0)
        return concert__error_set(CONCERT_EHOLD_LIMIT,
                                  "hold limit reached: at most %lld seats per buyer for concert "
                                  "%lld (held and paid)",
                                  (long long)req->max_per_concert, (long long)s->concert_id);
    return concert__error_set(CONCERT_EHOLD_LIMIT,
                              "hold limit reached: at most %lld seats held at once per buyer",
                              (long long)req->max_holds);
}

int concert_reserve_seat(concert_reservation *out, concert_db *db, const char *token,
                         int64_t schedule_id, int64_t seat_number)
{
    concert_storage_schedule schedule;
    concert_hold_request req;
    int64_t now;
    int rc;

    if (!out || !db)
        return concert__error_set(CONCERT_EINVAL, "concert_reserve_seat: NULL argument");
    if ((rc = concert__token_text_check(token)) != 0)
        return rc;
    now = concert__now(db);
    if ((rc = concert__schedule_require_bookable(db, schedule_id, now, &schedule)) != 0)
        return token_error_first(db, token, now, rc);
    if (seat_number <= 0)
        return token_error_first(
            db, token, now,
            concert__error_set(CONCERT_ESEAT_NOT_FOUND, "seat %lld not found in schedule %lld",
                               (long long)seat_number, (long long)schedule_id));
    memset(&req, 0, sizeof(req));
    req.schedule_id = schedule_id;
    req.seat_number = seat_number;
    req.token = token;
    req.now = now;
    req.hold_until = now + db->opts.hold_ttl_ms;
    req.concert_id = schedule.concert_id;
    req.max_per_concert = schedule.max_per_user;
    req.max_holds = schedule.max_per_user > 0 ? 0 : db->opts.max_holds_per_user;
    req.queue = db->queue;
    memset(out, 0, sizeof(*out));
    rc = concert__st_seat_hold(db, &req, out);
    if (rc == CONCERT_EHOLD_LIMIT)
        return hold_limit_error(&req, &schedule);
    if (rc != 0)
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

int concert_reservation_release(concert_reservation *out, concert_db *db, const char *token,
                                int64_t reservation_id)
{
    concert_release_request req;
    concert_reservation r;
    int rc;

    if (!db)
        return concert__error_set(CONCERT_EINVAL, "concert_reservation_release: NULL db");
    if ((rc = concert__token_text_check(token)) != 0)
        return rc;
    memset(&req, 0, sizeof(req));
    req.reservation_id = reservation_id;
    req.token = token;
    req.now = concert__now(db);
    req.queue = db->queue;
    memset(&r, 0, sizeof(r));
    if ((rc = concert__st_reservation_release(db, &req, &r)) != 0)
        return rc;
    r.is_new = 0;
    derive_status(&r, req.now);
    if (out)
        *out = r;
    return CONCERT_OK;
}

static int id_compare(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/*
 * The fingerprint of an order: its ids, sorted. One reservation keeps the
 * form concert_pay() always stored, so that a retry across an upgrade still
 * replays.
 */
static void order_fingerprint(char *buf, size_t size, const int64_t *ids, size_t count)
{
    size_t used;
    if (count == 1) {
        snprintf(buf, size, "reservation=%lld", (long long)ids[0]);
        return;
    }
    used = (size_t)snprintf(buf, size, "reservations=");
    for (size_t i = 0; i < count && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, i ? ",%lld" : "%lld", (long long)ids[i]);
}

int concert_order_pay(concert_payment *out, concert_db *db, const char *token,
                      const int64_t *reservation_ids, size_t count, const char *idempotency_key)
{
    /* 64 ids of at most 20 digits and a comma, and the prefix. */
    char fingerprint[32 + CONCERT_ORDER_MAX * 21];
    int64_t ids[CONCERT_ORDER_MAX];
    concert_pay_request req;
    int rc;

    if (!out || !db || (!reservation_ids && count > 0))
        return concert__error_set(CONCERT_EINVAL, "concert_order_pay: NULL argument");
    if (count < 1 || count > CONCERT_ORDER_MAX)
        return concert__error_set(CONCERT_EINVAL, "an order pays for 1 to %d reservations, not %zu",
                                  CONCERT_ORDER_MAX, count);
    if ((rc = concert_idempotency_key_check(idempotency_key)) != 0)
        return rc;
    if ((rc = concert__token_text_check(token)) != 0)
        return rc;
    memcpy(ids, reservation_ids, count * sizeof(ids[0]));
    qsort(ids, count, sizeof(ids[0]), id_compare);
    for (size_t i = 1; i < count; i++) {
        if (ids[i] == ids[i - 1])
            return concert__error_set(CONCERT_EINVAL, "reservation %lld is twice in the order",
                                      (long long)ids[i]);
    }
    if (idempotency_key) /* only a keyed call needs it: snprintf is not free */
        order_fingerprint(fingerprint, sizeof(fingerprint), ids, count);
    memset(&req, 0, sizeof(req));
    req.reservation_ids = ids;
    req.count = count;
    req.token = token;
    req.now = concert__now(db);
    req.idempotency_key = idempotency_key;
    req.fingerprint = idempotency_key ? fingerprint : NULL;
    req.queue = db->queue;
    memset(out, 0, sizeof(*out));
    if ((rc = concert__st_pay(db, &req, out)) != 0) {
        /* The store's trouble leaves the outcome unknown (the payment may
         * have committed and only its reply been lost): forget the token as
         * if it had, so that this db's reads ask the store again. */
        if (rc == CONCERT_ESTORAGE || rc == CONCERT_EBUSY || rc == CONCERT_EINTERNAL) {
            concert__owner_cache_ended(db, token);
            concert__queue_cache_invalidate(db);
        }
        return rc;
    }
    concert__owner_cache_ended(db, token);
    /* The payment ended an ACTIVE token: the next in line may be admitted,
     * so this db's cached horizon is refreshed at its next use. */
    concert__queue_cache_invalidate(db);
    return CONCERT_OK;
}

int concert_pay(concert_payment *out, concert_db *db, const char *token, int64_t reservation_id,
                const char *idempotency_key)
{
    return concert_order_pay(out, db, token, &reservation_id, 1, idempotency_key);
}
