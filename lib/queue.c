/*
 * The waiting queue: issue, status, leave, and the token check every
 * buyer-facing call makes. Admission itself is an atomic backend step.
 */
#include <string.h>

#include "internal.h"

const char *concert_token_state_name(int state)
{
    switch (state) {
    case CONCERT_TOKEN_WAITING:
        return "WAITING";
    case CONCERT_TOKEN_ACTIVE:
        return "ACTIVE";
    default:
        return "UNKNOWN";
    }
}

int concert__token_text_check(const char *token)
{
    if (!token)
        return concert__error_set(CONCERT_ETOKEN_INVALID, "no queue token given");
    if (!concert__token_well_formed(token))
        return concert__error_set(CONCERT_ETOKEN_INVALID, "token invalid: malformed");
    return CONCERT_OK;
}

int concert__token_invalid(concert_db *db, const char *token)
{
    int64_t reservation_id = 0;
    int rc = concert__st_token_paid(db, token, &reservation_id);

    /* Which payment used it is what a buyer paying twice needs to know;
     * the same call on every store says so, with the same words. */
    if (rc == 0 && reservation_id > 0)
        return concert__error_set(CONCERT_ETOKEN_INVALID,
                                  "token was used by the payment of reservation %lld",
                                  (long long)reservation_id);
    if (rc == CONCERT_ETOKEN_INVALID)
        return concert__error_set(CONCERT_ETOKEN_INVALID, "token invalid: unknown token");
    return concert__error_set(CONCERT_ETOKEN_INVALID, "token invalid: expired or ended");
}

static void report(concert_token_info *out, const concert_storage_token *t)
{
    *out = t->info;
    out->token[CONCERT_TOKEN_SIZE - 1] = '\0';
    if (out->state == CONCERT_TOKEN_ACTIVE)
        out->position = 0;
    out->eta_ms = out->state == CONCERT_TOKEN_WAITING
                      ? concert__queue_eta(t->queue_state, t->info.position, t->admit_rate_mps)
                      : -1;
}

int concert_queue_issue(concert_token_info *out, concert_db *db, int64_t user_id)
{
    char fresh[CONCERT_TOKEN_SIZE];
    concert_storage_token t;
    int64_t now;
    int rc;

    if (!out || !db)
        return concert__error_set(CONCERT_EINVAL, "concert_queue_issue: NULL argument");
    if (user_id <= 0)
        return concert__error_set(CONCERT_EUSER_NOT_FOUND, "user %lld not found",
                                  (long long)user_id);
    now = concert__now(db);
    /* Generated up front: the backend uses it only if the user has no live token. */
    if ((rc = concert__token_generate(db, fresh)) != 0)
        return rc;
    memset(&t, 0, sizeof(t));
    if ((rc = concert__st_queue_issue(db, user_id, fresh, now, &t)) != 0)
        return rc;
    if (t.info.state != CONCERT_TOKEN_WAITING && t.info.state != CONCERT_TOKEN_ACTIVE)
        return concert__error_set(CONCERT_EINTERNAL, "queue_issue reported a dead token");
    concert__queue_cache_learn(db, &t);
    report(out, &t);
    return CONCERT_OK;
}

int concert_queue_status_get(concert_token_info *out, concert_db *db, const char *token)
{
    concert_storage_token t;
    int rc;

    int64_t now;

    if (!out || !db)
        return concert__error_set(CONCERT_EINVAL, "concert_queue_status_get: NULL argument");
    if ((rc = concert__token_text_check(token)) != 0)
        return rc;
    now = concert__now(db);
    /* The common case of a stampede: a WAITING buyer polling again. */
    if (concert__queue_cache_poll(db, token, now, out))
        return CONCERT_OK;
    memset(&t, 0, sizeof(t));
    if ((rc = concert__st_queue_status(db, token, now, &t)) != 0) {
        if (rc == CONCERT_ETOKEN_INVALID) {
            concert__queue_cache_forget(db, token);
            return concert__error_set(rc, "token invalid: unknown token");
        }
        return rc;
    }
    concert__queue_cache_learn(db, &t);
    if (t.info.state == CONCERT_TOKEN_ENDED) {
        /* Ended for good (storage.h), also for this db's reads when a later
         * call brings an earlier now. */
        concert__owner_cache_ended(db, token);
        return concert__token_invalid(db, token);
    }
    report(out, &t);
    return CONCERT_OK;
}

int concert_queue_leave(concert_db *db, const char *token)
{
    int rc;
    if (!db)
        return concert__error_set(CONCERT_EINVAL, "concert_queue_leave: NULL argument");
    if ((rc = concert__token_text_check(token)) != 0)
        return rc;
    rc = concert__st_queue_leave(db, token, concert__now(db));
    /* Gone from this db's cache whatever the store said: it is not live.
     * A leave may admit the next in line: a caller of this db sees that at
     * once (the next use of the view reads the store). */
    concert__queue_cache_forget(db, token);
    concert__owner_cache_ended(db, token);
    if (rc == 0)
        concert__queue_cache_invalidate(db);
    return rc;
}

int concert_queue_stats_get(concert_queue_stats *out, concert_db *db)
{
    if (!out || !db)
        return concert__error_set(CONCERT_EINVAL, "concert_queue_stats_get: NULL argument");
    memset(out, 0, sizeof(*out));
    return concert__queue_view_get(db, concert__now(db), out);
}

/* Resolve a token to its user whatever its state (ENDED included). */
static int token_lookup(concert_db *db, const char *token, int64_t now, concert_storage_token *t)
{
    int rc;
    if ((rc = concert__token_text_check(token)) != 0)
        return rc;
    memset(t, 0, sizeof(*t));
    rc = concert__st_queue_status(db, token, now, t);
    /* queue_status refuses only a token the store has never seen */
    if (rc == CONCERT_ETOKEN_INVALID)
        return concert__error_set(rc, "token invalid: unknown token");
    return rc;
}

int concert__token_require_active(concert_db *db, const char *token, int64_t now, int64_t *user_id)
{
    concert_storage_token t;
    int rc = token_lookup(db, token, now, &t);
    if (rc != 0)
        return rc;
    if (t.info.state == CONCERT_TOKEN_ENDED) {
        concert__owner_cache_ended(db, token);
        return concert__token_invalid(db, token);
    }
    if (t.info.state != CONCERT_TOKEN_ACTIVE)
        return concert__error_set(CONCERT_ETOKEN_NOT_ACTIVE,
                                  "token not active yet: position %lld in the queue",
                                  (long long)t.info.position);
    *user_id = t.info.user_id;
    return CONCERT_OK;
}

int concert__token_require_active_read(concert_db *db, const char *token, int64_t now,
                                       int64_t *user_id)
{
    concert_storage_token t;
    int rc;
    if ((rc = concert__token_text_check(token)) != 0)
        return rc;
    if (concert__owner_cache_active(db, token, now, user_id))
        return CONCERT_OK;
    if ((rc = token_lookup(db, token, now, &t)) != 0)
        return rc;
    if (t.info.state == CONCERT_TOKEN_ENDED) {
        concert__owner_cache_ended(db, token);
        return concert__token_invalid(db, token);
    }
    if (t.info.state != CONCERT_TOKEN_ACTIVE)
        return concert__error_set(CONCERT_ETOKEN_NOT_ACTIVE,
                                  "token not active yet: position %lld in the queue",
                                  (long long)t.info.position);
    concert__owner_cache_put_active(db, token, t.info.user_id, t.info.expires_at, now);
    *user_id = t.info.user_id;
    return CONCERT_OK;
}

int concert_queue_token_owner_get(int64_t *user_id, concert_db *db, const char *token)
{
    int rc;
    if (!user_id || !db)
        return concert__error_set(CONCERT_EINVAL, "concert_queue_token_owner_get: NULL argument");
    if ((rc = concert__token_text_check(token)) != 0)
        return rc;
    if (concert__owner_cache_get(db, token, user_id))
        return CONCERT_OK;
    if ((rc = concert__st_token_owner(db, token, user_id)) != 0)
        return rc;
    concert__owner_cache_put(db, token, *user_id);
    return CONCERT_OK;
}
