/*
 * Prepaid points: charging, balances, the ledger.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const char *const LEDGER_TYPE_NAMES[] = { NULL, "CHARGE", "PAYMENT" };

const char *concert_ledger_type_name(int type)
{
    if (type < CONCERT_LEDGER_CHARGE || type > CONCERT_LEDGER_PAYMENT)
        return "UNKNOWN";
    return LEDGER_TYPE_NAMES[type];
}

static int user_id_check(int64_t user_id)
{
    if (user_id <= 0)
        return concert__error_set(CONCERT_EUSER_NOT_FOUND, "user %lld not found",
                                  (long long)user_id);
    return CONCERT_OK;
}

/* A checked charge: the balance after and whether a key replayed it. */
static int charge(concert_db *db, int64_t user_id, int64_t amount, const char *key,
                  int64_t *balance, int32_t *replayed)
{
    concert_charge_request req;
    char fingerprint[64];
    int rc;

    if ((rc = concert_idempotency_key_check(key)) != 0)
        return rc;
    if ((rc = user_id_check(user_id)) != 0)
        return rc;
    if (amount < 1 || amount > CONCERT_MAX_CHARGE)
        return concert__error_set(CONCERT_EINVALID_AMOUNT, "invalid amount %lld: must be 1 to %lld",
                                  (long long)amount, (long long)CONCERT_MAX_CHARGE);
    if (key)
        snprintf(fingerprint, sizeof(fingerprint), "amount=%lld", (long long)amount);
    memset(&req, 0, sizeof(req));
    req.user_id = user_id;
    req.amount = amount;
    req.max_balance = CONCERT_MAX_BALANCE;
    req.now = concert__now(db);
    req.idempotency_key = key;
    req.fingerprint = key ? fingerprint : NULL;
    req.retention_ms = db->opts.retention_ms;
    req.replayed = replayed;
    *replayed = 0;
    *balance = 0;
    return concert__st_charge(db, &req, balance);
}

int concert_charge_points(int64_t *balance_out, concert_db *db, int64_t user_id, int64_t amount,
                          const char *idempotency_key)
{
    int64_t balance;
    int32_t replayed;
    int rc;

    if (!db)
        return concert__error_set(CONCERT_EINVAL, "concert_charge_points: NULL db");
    if ((rc = charge(db, user_id, amount, idempotency_key, &balance, &replayed)) != 0)
        return rc;
    if (balance_out)
        *balance_out = balance;
    return CONCERT_OK;
}

int concert_charge_points_ex(concert_charge_result *out, concert_db *db, int64_t user_id,
                             int64_t amount, const char *idempotency_key)
{
    concert_charge_result r;
    int rc;

    if (!out || !db)
        return concert__error_set(CONCERT_EINVAL, "concert_charge_points_ex: NULL argument");
    if (out->version < 1 || out->version > CONCERT_CHARGE_RESULT_VERSION)
        return concert__error_set(CONCERT_EINVAL,
                                  "concert_charge_points_ex: result version %u (this library "
                                  "knows 1 to %d)",
                                  out->version, CONCERT_CHARGE_RESULT_VERSION);
    memset(&r, 0, sizeof(r));
    r.version = out->version;
    rc = charge(db, user_id, amount, idempotency_key, &r.balance, &r.replayed);
    if (rc != 0) {
        r.balance = 0;
        r.replayed = 0;
    }
    /* Version 1 is the whole struct; a later version copies only the
     * caller's fields. */
    *out = r;
    return rc;
}

int concert_points_balance_get(int64_t *balance_out, concert_db *db, int64_t user_id)
{
    int rc;
    if (!balance_out || !db)
        return concert__error_set(CONCERT_EINVAL, "concert_points_balance_get: NULL argument");
    if ((rc = user_id_check(user_id)) != 0)
        return rc;
    return concert__st_balance_get(db, user_id, balance_out);
}

static int push_entry(void *ctx, const concert_ledger_entry *item)
{
    return concert__vec_push(ctx, item);
}

/* Read up to limit (0: all) entries below before_id into a new list. */
static int history_read(concert_ledger_list **out, concert_db *db, int64_t user_id,
                        int64_t before_id, size_t limit)
{
    concert__vec v;
    concert_ledger_list *list;
    int more;
    int rc;

    concert__vec_init(&v, sizeof(concert_ledger_entry));
    /* One more than asked tells whether a next page exists without a
     * second query. */
    rc = concert__st_history_list(db, user_id, before_id, limit ? limit + 1 : 0, push_entry, &v);
    /* One more than asked came back: there is a next page. */
    more = rc == 0 && limit && v.count > limit;
    if (more)
        v.count = limit;
    CONCERT__LIST_TAKE(rc, &v, list, "history");
    if (rc == 0) {
        list->user_id = user_id;
        list->next_before_id = more ? list->items[list->count - 1].id : 0;
        *out = list;
    }
    return rc;
}

int concert_ledger_list_get(concert_ledger_list **out, concert_db *db, int64_t user_id)
{
    int rc;
    if (out)
        *out = NULL;
    if (!out || !db)
        return concert__error_set(CONCERT_EINVAL, "concert_ledger_list_get: NULL argument");
    if ((rc = user_id_check(user_id)) != 0)
        return rc;
    return history_read(out, db, user_id, 0, 0);
}

int concert_ledger_list_get_page(concert_ledger_list **out, concert_db *db, int64_t user_id,
                                 int64_t before_id, size_t limit)
{
    int rc;
    if (out)
        *out = NULL;
    if (!out || !db)
        return concert__error_set(CONCERT_EINVAL, "concert_ledger_list_get_page: NULL argument");
    if (limit < 1 || limit > CONCERT_HISTORY_PAGE_MAX)
        return concert__error_set(CONCERT_EINVAL, "history page limit %zu: must be 1 to %d", limit,
                                  CONCERT_HISTORY_PAGE_MAX);
    if (before_id < 0)
        return concert__error_set(CONCERT_EINVAL,
                                  "history cursor %lld: must be 0 (newest) or an entry id",
                                  (long long)before_id);
    if ((rc = user_id_check(user_id)) != 0)
        return rc;
    return history_read(out, db, user_id, before_id, limit);
}

void concert_ledger_list_free(concert_ledger_list *list)
{
    free(list);
}
