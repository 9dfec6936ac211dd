/*
 * SQLite backend: retention (concert/sys/storage.h, "Retention"). Two kinds
 * of rows exist only so that a retry can be recognised, and go once
 * retention_ms has passed:
 *  - idempotency records, created_at + retention <= now;
 *  - tokens that are no longer live, end + retention <= now, where end is
 *    ended_at for an ENDED row, expires_at for an ACTIVE row that ran out
 *    and was never settled, last_seen + wait_ttl for a WAITING row that
 *    idled and was never dropped.
 * Each kind is found oldest first through an index of its own
 * (idempotency_by_age, tokens_ended_by_time, tokens_active_by_expiry,
 * tokens_waiting_by_seen), so that finding n rows costs O(n) whatever the
 * table's size. Nothing else is ever deleted; nothing refers to a token
 * row (reservations name users; the queue names tickets, and admission
 * skips a ticket whose row is gone), and a deleted ACTIVE or pre-queued
 * token leaves its counter in the same transaction.
 *
 * Inside queue_issue, pay and charge a few ENDED tokens and idempotency
 * records are pruned (sq_prune_incidental): more than such a step creates,
 * so what is due never piles up. Open tokens need no such help: there is at
 * most one per user (tokens_one_open_per_user). prune() does the rest, in
 * batches of one short write transaction each, so that other writers (in
 * this process or another) wait for one batch at most.
 */
#ifdef CONCERT_HAVE_SQLITE

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite_internal.h"

/* Rows per write transaction in prune(). */
#define BATCH 256

static const char SQL_DUE_ENDED[] =
    "SELECT token, ended_at, 0 FROM tokens WHERE state = 3 AND ended_at <= ?1"
    " ORDER BY ended_at LIMIT ?2";
static const char SQL_DUE_ACTIVE[] =
    "SELECT token, expires_at, 0 FROM tokens WHERE state = 2 AND expires_at <= ?1"
    " ORDER BY expires_at LIMIT ?2";
static const char SQL_DUE_WAITING[] =
    "SELECT token, last_seen, ticket FROM tokens WHERE state = 1 AND last_seen <= ?1"
    " ORDER BY last_seen LIMIT ?2";
static const char SQL_DUE_IDEMPOTENCY[] =
    "SELECT user_id, operation, key, created_at FROM idempotency WHERE created_at <= ?1"
    " ORDER BY created_at LIMIT ?2";
/* The state is checked again: a row is deleted only as what it was found. */
static const char SQL_TOKEN_DELETE[] = "DELETE FROM tokens WHERE token = ?1 AND state = ?2";
static const char SQL_IDEMPOTENCY_DELETE[] =
    "DELETE FROM idempotency WHERE user_id = ?1 AND operation = ?2 AND key = ?3";

typedef enum due_kind {
    DUE_ENDED,
    DUE_ACTIVE,
    DUE_WAITING,
    DUE_IDEMPOTENCY,
    DUE_KINDS
} due_kind;

/* A row found due. */
typedef struct due_row {
    int64_t at;     /* when retention began for it: its end, or created_at */
    int64_t number; /* a token's ticket (< 0: pre-queued); a record's user */
    due_kind kind;
    char op[8];                                /* a record's operation */
    char key[CONCERT_IDEMPOTENCY_KEY_MAX + 1]; /* a token's text, or a record's key */
} due_row;

typedef struct cutoffs {
    int64_t ended;   /* ended_at <= this */
    int64_t active;  /* expires_at <= this */
    int64_t waiting; /* last_seen <= this */
    int64_t created; /* created_at <= this */
    int64_t wait_ttl;
} cutoffs;

static int64_t sub_floor(int64_t a, int64_t b)
{
    /* Times and durations are far from the limits; never wrap anyway. */
    return b > 0 && a < INT64_MIN + b ? INT64_MIN : a - b;
}

static void cutoffs_at(cutoffs *k, int64_t now, int64_t retention_ms, int64_t wait_ttl_ms)
{
    k->ended = k->active = k->created = sub_floor(now, retention_ms);
    k->waiting = sub_floor(k->ended, wait_ttl_ms);
    k->wait_ttl = wait_ttl_ms;
}

/* Append up to limit rows of one kind, oldest first, to rows[*n]. */
static int due_collect(sq_conn *c, due_kind kind, const cutoffs *k, size_t limit, due_row *rows,
                       size_t *n, const char *what)
{
    static const char *const SQL[DUE_KINDS] = { SQL_DUE_ENDED, SQL_DUE_ACTIVE, SQL_DUE_WAITING,
                                                SQL_DUE_IDEMPOTENCY };
    const int64_t cutoff = kind == DUE_ENDED     ? k->ended
                           : kind == DUE_ACTIVE  ? k->active
                           : kind == DUE_WAITING ? k->waiting
                                                 : k->created;
    sqlite3_stmt *st;
    int rc;

    if (limit == 0)
        return CONCERT_OK;
    rc = sq_query(c, SQL[kind], SQ_ARGS(SQ_I(cutoff), SQ_I((int64_t)limit)), &st, what);
    if (rc != 0)
        return rc;
    while ((rc = sq_step(c, st, what)) == 1) {
        due_row *r = &rows[(*n)++];
        memset(r, 0, sizeof(*r));
        r->kind = kind;
        if (kind == DUE_IDEMPOTENCY) {
            r->number = sqlite3_column_int64(st, 0);
            sq_text_copy(r->op, sizeof(r->op), st, 1);
            sq_text_copy(r->key, sizeof(r->key), st, 2);
            r->at = sqlite3_column_int64(st, 3);
        } else {
            sq_text_copy(r->key, sizeof(r->key), st, 0);
            r->at = sqlite3_column_int64(st, 1);
            r->number = sqlite3_column_int64(st, 2);
            if (kind == DUE_WAITING)
                r->at += k->wait_ttl;
        }
    }
    return rc;
}

static int due_delete(sq_conn *c, const due_row *r, sq_queue *q, concert_prune_report *out,
                      const char *what)
{
    static const int32_t STATE[] = { SQ_TOKEN_ENDED, SQ_TOKEN_ACTIVE, SQ_TOKEN_WAITING };
    int rc;

    if (r->kind == DUE_IDEMPOTENCY) {
        rc = sq_exec(c, SQL_IDEMPOTENCY_DELETE, SQ_ARGS(SQ_I(r->number), SQ_T(r->op), SQ_T(r->key)),
                     what);
    } else {
        rc = sq_exec(c, SQL_TOKEN_DELETE, SQ_ARGS(SQ_T(r->key), SQ_I(STATE[r->kind])), what);
    }
    if (rc != 0)
        return rc;
    if (sq_changes(c) != 1)
        return concert_sys_error_set(CONCERT_EINTERNAL,
                                     "sqlite: a row due for pruning changed under a write "
                                     "transaction");
    if (r->kind == DUE_IDEMPOTENCY) {
        out->idempotency++;
        return CONCERT_OK;
    }
    out->tokens++;
    /* The counters that describe open tokens lose this one (q is NULL only
     * where no open token is pruned). */
    if (r->kind == DUE_ACTIVE)
        q->active--;
    if (r->kind == DUE_WAITING && r->number < 0)
        q->prequeued--;
    return CONCERT_OK;
}

int sq_prune_incidental(sq_conn *c, int tokens, int64_t now, int64_t retention_ms, const char *what)
{
    due_row rows[SQ_PRUNE_STEP];
    concert_prune_report ignored;
    cutoffs k;
    int rc = 0;

    /* Only a core older than retention passes none: keep everything. */
    if (retention_ms <= 0)
        return CONCERT_OK;
    cutoffs_at(&k, now, retention_ms, 0);
    memset(&ignored, 0, sizeof(ignored));
    for (int kind = tokens ? DUE_ENDED : DUE_IDEMPOTENCY; kind < DUE_KINDS && rc == 0; kind++) {
        size_t n = 0;
        if (kind == DUE_ACTIVE || kind == DUE_WAITING)
            continue; /* open tokens: at most one per user, left to prune() */
        rc = due_collect(c, (due_kind)kind, &k, SQ_PRUNE_STEP, rows, &n, what);
        for (size_t i = 0; i < n && rc == 0; i++)
            rc = due_delete(c, &rows[i], NULL, &ignored, what);
    }
    return rc;
}

static int due_older(const void *a, const void *b)
{
    const due_row *x = a, *y = b;
    if (x->at != y->at)
        return x->at < y->at ? -1 : 1;
    return x->kind < y->kind ? -1 : x->kind > y->kind;
}

/* One batch: the `want` oldest due rows of all kinds, deleted. *found is
 * how many were due among those looked at (up to want per kind). */
static int prune_batch(sq_conn *c, const cutoffs *k, size_t want, due_row *rows,
                       concert_prune_report *out, size_t *found, const char *what)
{
    sq_queue q, before;
    size_t n = 0;
    int rc;

    *found = 0;
    if ((rc = sq_queue_get(c, &q, what)) != 0)
        return rc;
    before = q;
    for (int kind = 0; kind < DUE_KINDS; kind++) {
        if ((rc = due_collect(c, (due_kind)kind, k, want, rows, &n, what)) != 0)
            return rc;
    }
    *found = n;
    /* Oldest first across the kinds: of what each kind offered, the want
     * oldest are the want oldest of all. */
    qsort(rows, n, sizeof(*rows), due_older);
    for (size_t i = 0; i < n && i < want; i++) {
        if ((rc = due_delete(c, &rows[i], &q, out, what)) != 0)
            return rc;
    }
    return sq_queue_put(c, &q, &before, what);
}

int sq_prune(concert_storage *self, const concert_prune_request *req, concert_prune_report *out)
{
    const char *what = "prune";
    sq_store *s = (sq_store *)self;
    due_row *rows;
    cutoffs k;
    size_t left = req->limit, found = 0;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (req->queue.retention_ms <= 0)
        return concert_sys_error_set(CONCERT_EINVAL, "sqlite: prune needs retention_ms > 0");
    rows = malloc(DUE_KINDS * BATCH * sizeof(*rows));
    if (!rows)
        return concert_sys_error_set(CONCERT_ENOMEM, "sqlite: out of memory (prune)");
    cutoffs_at(&k, req->now, req->queue.retention_ms, req->queue.wait_ttl_ms);
    for (;;) {
        const size_t want = req->limit == 0 || left > BATCH ? BATCH : left;
        sq_conn *c;
        if (req->limit != 0 && left == 0) {
            /* The limit is spent: is anything still due? One row of each
             * kind answers it, deleting nothing. */
            if ((rc = sq_read_begin(s, 1, &c, what)) != 0)
                break;
            found = 0;
            for (int kind = 0; kind < DUE_KINDS && rc == 0; kind++)
                rc = due_collect(c, (due_kind)kind, &k, 1, rows, &found, what);
            rc = sq_read_end(s, c, 1, rc, what);
            out->more = rc == 0 && found > 0;
            break;
        }
        /* Not durable: a prune lost to a power cut is simply done again. */
        if ((rc = sq_write_begin(s, 0, &c, what)) != 0)
            break;
        rc = prune_batch(c, &k, want, rows, out, &found, what);
        if ((rc = sq_write_end(s, c, rc, what)) != 0)
            break;
        if (req->limit != 0)
            left -= found < want ? found : want;
        if (found < want)
            break; /* every kind had fewer than want due: all done */
    }
    free(rows);
    if (rc != 0)
        memset(out, 0, sizeof(*out));
    return rc;
}

#else
typedef int concert_sqlite_retention_compiled_out;
#endif
