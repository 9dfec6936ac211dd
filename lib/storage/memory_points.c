/*
 * The memory backend's points: the ledger, charges, balances, history, and
 * the user listing.
 */
#include <stdlib.h>
#include <string.h>

#include "memory_internal.h"

int memory__ledger_reserve(memory_store *s, uint32_t user, size_t n)
{
    mem_user *u = &s->users[user];
    if (n > UINT32_MAX || RESERVE(s, ledger, n) != 0)
        return -1;
    return RESERVE_SMALL(u, ledger, (uint32_t)n);
}

void memory__ledger_append(memory_store *s, uint32_t user, int32_t type, int64_t amount,
                           int64_t now, int64_t reservation_id)
{
    mem_user *u = &s->users[user];
    mem_ledger *e = &s->ledger[s->ledger_count++];
    u->balance += amount;
    e->amount = amount;
    e->balance_after = u->balance;
    e->at = now;
    e->reservation_id = reservation_id;
    e->user = user;
    e->type = type;
    u->ledger[u->ledger_count++] = (uint32_t)s->ledger_count;
}

int memory__charge(concert_storage *self, const concert_charge_request *req, int64_t *balance_out)
{
    memory_store *s = memory__store_of(self);
    const mem_idem *rec;
    char *idem_text = NULL;
    uint32_t user;
    int rc;

    if (req->replayed)
        *req->replayed = 0;
    memory__store_lock(s);
    rec = memory__idem_replay(s, req->user_id, IDEM_CHARGE, req->idempotency_key, req->fingerprint,
                              &rc);
    if (rc != 0)
        goto done;
    if (rec) {
        *balance_out = s->ledger[rec->result - 1].balance_after;
        if (req->replayed)
            *req->replayed = 1;
        goto done;
    }
    if ((rc = memory__user_lookup(s, req->user_id, &user)) != 0)
        goto done;
    if (req->amount <= 0 || req->amount > req->max_balance - s->users[user].balance) {
        rc = concert_sys_error_set(
            CONCERT_EINVALID_AMOUNT, "invalid amount: balance %lld + %lld would pass %lld",
            (long long)s->users[user].balance, (long long)req->amount, (long long)req->max_balance);
        goto done;
    }
    if (memory__ledger_reserve(s, user, 1) != 0) {
        rc = memory__out_of_memory("charging");
        goto done;
    }
    if ((rc = memory__idem_prepare(s, req->idempotency_key, req->fingerprint, &idem_text)) != 0)
        goto done;
    memory__ledger_append(s, user, CONCERT_LEDGER_CHARGE, req->amount, req->now, 0);
    memory__idem_commit(s, req->user_id, IDEM_CHARGE, idem_text, (int64_t)s->ledger_count,
                        req->now);
    idem_text = NULL;
    *balance_out = s->users[user].balance;
    memory__prune_step(s, NULL, req->retention_ms, req->now);
done:
    free(idem_text);
    memory__store_unlock(s);
    return rc;
}

int memory__balance_get(concert_storage *self, int64_t user_id, int64_t *balance_out)
{
    memory_store *s = memory__store_of(self);
    uint32_t user;
    int rc = CONCERT_OK;

    memory__store_lock(s);
    if ((rc = memory__user_lookup(s, user_id, &user)) == 0)
        *balance_out = s->users[user].balance;
    memory__store_unlock(s);
    return rc;
}

/* How many of the user's entries have an id below before_id (0: all). */
static uint32_t ledger_below(const mem_user *u, int64_t before_id)
{
    uint32_t lo = 0, hi = u->ledger_count;
    if (before_id <= 0)
        return u->ledger_count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if ((int64_t)u->ledger[mid] < before_id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Lists copy what they emit under the lock and call back after it (see
 * memory_catalog.c): a callback may be slow or call into the db. */
int memory__history_list(concert_storage *self, int64_t user_id, int64_t before_id, size_t limit,
                         concert_emit_ledger_fn emit, void *ctx)
{
    memory_store *s = memory__store_of(self);
    concert_ledger_entry *items = NULL;
    const mem_user *u;
    uint32_t user, end;
    size_t n = 0, want;
    int rc = CONCERT_OK;

    memory__store_lock(s);
    if ((rc = memory__user_lookup(s, user_id, &user)) != 0)
        goto done;
    u = &s->users[user];
    end = ledger_below(u, before_id);
    want = limit > 0 && limit < end ? limit : end;
    if (want && !(items = malloc(want * sizeof(*items)))) {
        rc = memory__out_of_memory("listing the ledger");
        goto done;
    }
    /* newest first, from the cursor down: only what is emitted is read */
    for (uint32_t i = end; i > 0 && n < want; i--) {
        const uint32_t id = u->ledger[i - 1];
        const mem_ledger *e = &s->ledger[id - 1];
        concert_ledger_entry *item = &items[n++];
        memset(item, 0, sizeof(*item));
        item->id = id;
        item->user_id = user_id;
        item->type = e->type;
        item->amount = e->amount;
        item->balance_after = e->balance_after;
        item->at = e->at;
        item->reservation_id = e->reservation_id;
    }
done:
    memory__store_unlock(s);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = emit(ctx, &items[i]);
    free(items);
    return rc;
}

/* ------------------------------------------------------------------ */
/* administration                                                       */

int memory__users_list(concert_storage *self, concert_emit_user_fn emit, void *ctx)
{
    memory_store *s = memory__store_of(self);
    concert_user *items = NULL;
    size_t n = 0;
    int rc = CONCERT_OK;

    memory__store_lock(s);
    if (s->users_count && !(items = malloc(s->users_count * sizeof(*items))))
        rc = memory__out_of_memory("listing users");
    for (size_t i = 0; i < s->users_count && rc == 0; i++) {
        const mem_user *u = &s->users[s->user_order[i]];
        concert_user *item = &items[n++];
        size_t len = strnlen(u->name, CONCERT_NAME_SIZE - 1);
        memset(item, 0, sizeof(*item));
        item->id = u->id;
        item->balance = u->balance;
        memcpy(item->name, u->name, len);
        item->name[len] = '\0';
    }
    memory__store_unlock(s);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = emit(ctx, &items[i]);
    free(items);
    return rc;
}
