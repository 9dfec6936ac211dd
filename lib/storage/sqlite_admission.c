/*
 * SQLite backend: the queue_state row and admission (the storage contract's
 * queue rules), shared by every queue step in sqlite_queue.c.
 *
 * Everything that changes the row runs inside the step's BEGIN IMMEDIATE
 * transaction, so admission, the pacer and the opening lottery are atomic
 * across threads and processes: the lottery runs in the one transaction
 * that finds the queue SCHEDULED with opens_at passed, and every later one
 * finds it OPEN. Nothing here counts rows; admission looks at each ticket
 * once through the ticket index.
 */
#ifdef CONCERT_HAVE_SQLITE

#include <stdlib.h>
#include <string.h>

#include "sqlite_internal.h"

static const char SQL_STATE_GET[] =
    "SELECT last_ticket, admitted_through, active, rate_mps, rate_window_start,"
    " rate_window_count, max_active, admit_per_minute, state, opens_at, pace_us, prequeued,"
    " prequeue_seq, active_cap FROM queue_state WHERE id = 1";
static const char SQL_STATE_PUT[] =
    "UPDATE queue_state SET last_ticket = ?1, admitted_through = ?2, active = ?3,"
    " rate_mps = ?4, rate_window_start = ?5, rate_window_count = ?6, max_active = ?7,"
    " admit_per_minute = ?8, state = ?9, opens_at = ?10, pace_us = ?11, prequeued = ?12,"
    " prequeue_seq = ?13, active_cap = ?14 WHERE id = 1";
/* An ENDED token records when it stopped being live (retention counts from
 * it): an ACTIVE one that ran out at expires_at, an idle one at
 * last_seen + wait_ttl. */
static const char SQL_SETTLE_EXPIRED[] =
    "UPDATE tokens SET state = 3, ended_at = expires_at WHERE state = 2 AND expires_at <= ?1";
static const char SQL_ANY_EXPIRED[] =
    "SELECT 1 FROM tokens WHERE state = 2 AND expires_at <= ?1 LIMIT 1";
static const char SQL_BY_TICKET[] = "SELECT token, state, last_seen FROM tokens WHERE ticket = ?1";
static const char SQL_ADMIT[] = "UPDATE tokens SET state = 2, expires_at = ?2 WHERE token = ?1";
static const char SQL_END[] = "UPDATE tokens SET state = 3, ended_at = ?2 WHERE token = ?1";
/* The pre-queue in join order: placeholders -1, -2, ... through the ticket
 * index. Ended pre-queued tokens keep their placeholder and are left out. */
static const char SQL_PREQUEUE[] =
    "SELECT ticket FROM tokens WHERE ticket < 0 AND state = 1 ORDER BY ticket DESC";
static const char SQL_TICKET_GIVE[] =
    "UPDATE tokens SET ticket = ?2 WHERE ticket = ?1 AND state = 1";

int sq_queue_get(sq_conn *c, sq_queue *q, const char *what)
{
    sqlite3_stmt *st;
    int rc = sq_query(c, SQL_STATE_GET, NULL, 0, &st, what);
    if (rc != 0)
        return rc;
    rc = sq_step(c, st, what);
    if (rc == 0)
        return concert_sys_error_set(CONCERT_EINTERNAL, "sqlite: queue_state row is missing");
    if (rc < 0)
        return rc;
    memset(q, 0, sizeof(*q));
    q->last_ticket = sqlite3_column_int64(st, 0);
    q->admitted_through = sqlite3_column_int64(st, 1);
    q->active = sqlite3_column_int64(st, 2);
    q->rate.rate_mps = sqlite3_column_int64(st, 3);
    q->rate.window_start = sqlite3_column_int64(st, 4);
    q->rate.window_count = sqlite3_column_int64(st, 5);
    q->set.max_active = sqlite3_column_int64(st, 6);
    q->set.admit_per_minute = sqlite3_column_int64(st, 7);
    q->set.state = (int32_t)sqlite3_column_int64(st, 8);
    q->set.opens_at = sqlite3_column_int64(st, 9);
    q->pace_us = sqlite3_column_int64(st, 10);
    q->prequeued = sqlite3_column_int64(st, 11);
    q->prequeue_seq = sqlite3_column_int64(st, 12);
    q->active_cap = sqlite3_column_int64(st, 13);
    sq_done(st);
    return CONCERT_OK;
}

static int rate_equal(const concert_sys_rate *a, const concert_sys_rate *b)
{
    return a->rate_mps == b->rate_mps && a->window_start == b->window_start &&
           a->window_count == b->window_count;
}

static int queue_equal(const sq_queue *a, const sq_queue *b)
{
    return a->last_ticket == b->last_ticket && a->admitted_through == b->admitted_through &&
           a->active == b->active && rate_equal(&a->rate, &b->rate) &&
           a->set.max_active == b->set.max_active &&
           a->set.admit_per_minute == b->set.admit_per_minute && a->set.state == b->set.state &&
           a->set.opens_at == b->set.opens_at && a->pace_us == b->pace_us &&
           a->prequeued == b->prequeued && a->prequeue_seq == b->prequeue_seq &&
           a->active_cap == b->active_cap;
}

int sq_queue_put(sq_conn *c, const sq_queue *q, const sq_queue *before, const char *what)
{
    if (queue_equal(q, before))
        return CONCERT_OK;
    return sq_exec(c, SQL_STATE_PUT,
                   SQ_ARGS(SQ_I(q->last_ticket), SQ_I(q->admitted_through), SQ_I(q->active),
                           SQ_I(q->rate.rate_mps), SQ_I(q->rate.window_start),
                           SQ_I(q->rate.window_count), SQ_I(q->set.max_active),
                           SQ_I(q->set.admit_per_minute), SQ_I(q->set.state), SQ_I(q->set.opens_at),
                           SQ_I(q->pace_us), SQ_I(q->prequeued), SQ_I(q->prequeue_seq),
                           SQ_I(q->active_cap)),
                   what);
}

/* The pre-queue's placeholders in join order; *ids is malloc'd (NULL when
 * there are none). */
static int prequeue_read(sq_conn *c, const sq_queue *q, int64_t **ids, size_t *n, const char *what)
{
    size_t cap = q->prequeued > 16 ? (size_t)q->prequeued : 16;
    int64_t *v = NULL;
    sqlite3_stmt *st;
    int rc;

    *ids = NULL;
    *n = 0;
    if ((rc = sq_query(c, SQL_PREQUEUE, NULL, 0, &st, what)) != 0)
        return rc;
    while ((rc = sq_step(c, st, what)) == 1) {
        if (!v || *n == cap) {
            int64_t *grown;
            if (v)
                cap *= 2;
            grown = realloc(v, cap * sizeof(*v));
            if (!grown) {
                sq_done(st);
                free(v);
                return concert_sys_error_set(CONCERT_ENOMEM, "sqlite: out of memory (lottery)");
            }
            v = grown;
        }
        v[(*n)++] = sqlite3_column_int64(st, 0);
    }
    if (rc < 0) {
        free(v);
        *n = 0;
        return rc;
    }
    *ids = v;
    return CONCERT_OK;
}

int sq_lottery(sq_conn *c, sq_queue *q, const concert_queue_params *p, const char *what)
{
    int64_t *ids;
    size_t n;
    int rc = prequeue_read(c, q, &ids, &n, what);

    if (rc != 0)
        return rc;
    if (n > 0 && !p->shuffle)
        rc = concert_sys_error_set(CONCERT_EINTERNAL,
                                   "sqlite: the opening lottery needs params->shuffle");
    if (rc == 0 && n > 0)
        rc = p->shuffle(p->shuffle_ctx, ids, n);
    /* Each update must move exactly one still pre-queued token: that also
     * proves the shuffle returned a permutation of what it was given. */
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = sq_exec(c, SQL_TICKET_GIVE, SQ_ARGS(SQ_I(ids[i]), SQ_I(q->last_ticket + 1)), what);
        if (rc == 0 && sq_changes(c) != 1)
            rc = concert_sys_error_set(CONCERT_EINTERNAL,
                                       "sqlite: the lottery's shuffle did not return a "
                                       "permutation of the pre-queue");
        if (rc == 0)
            q->last_ticket++;
    }
    free(ids);
    if (rc != 0)
        return rc; /* the step rolls back: nothing happened */
    q->prequeued = 0;
    q->set.state = CONCERT_QUEUE_OPEN;
    q->set.opens_at = 0;
    return CONCERT_OK;
}

int sq_opening(sq_conn *c, sq_queue *q, const concert_queue_params *p, int64_t now,
               const char *what)
{
    if (q->set.state != CONCERT_QUEUE_SCHEDULED || now < q->set.opens_at)
        return CONCERT_OK;
    return sq_lottery(c, q, p, what);
}

static int64_t room_of(const sq_queue *q)
{
    return q->set.max_active > q->active ? q->set.max_active - q->active : 0;
}

int sq_admission(sq_conn *c, sq_queue *q, const concert_queue_params *p, int64_t now,
                 const char *what)
{
    int64_t admitted = 0, budget;
    int rc;

    if ((rc = sq_opening(c, q, p, now, what)) != 0)
        return rc;
    if ((rc = sq_exec(c, SQL_SETTLE_EXPIRED, SQ_ARGS(SQ_I(now)), what)) != 0)
        return rc;
    q->active -= sq_changes(c);
    /* Zero unless OPEN or CLOSED; bounded by room and the pacer. Skipped
     * tickets cost no budget. */
    budget = concert_sys_admit_budget(&q->set, q->pace_us, room_of(q), now);
    while (admitted < budget && q->admitted_through < q->last_ticket) {
        int64_t ticket = q->admitted_through + 1;
        char token[CONCERT_TOKEN_SIZE];
        int32_t state = 0;
        int64_t last_seen = 0;
        sqlite3_stmt *st;

        if ((rc = sq_query(c, SQL_BY_TICKET, SQ_ARGS(SQ_I(ticket)), &st, what)) != 0)
            return rc;
        rc = sq_step(c, st, what);
        if (rc < 0)
            return rc;
        if (rc == 1) {
            sq_text_copy(token, sizeof(token), st, 0);
            state = (int32_t)sqlite3_column_int64(st, 1);
            last_seen = sqlite3_column_int64(st, 2);
            sq_done(st);
        }
        rc = 0;
        if (state == SQ_TOKEN_WAITING && now < last_seen + p->wait_ttl_ms) {
            rc = sq_exec(c, SQL_ADMIT, SQ_ARGS(SQ_T(token), SQ_I(now + p->active_ttl_ms)), what);
            q->active++;
            admitted++;
        } else if (state == SQ_TOKEN_WAITING) {
            rc = sq_exec(c, SQL_END, SQ_ARGS(SQ_T(token), SQ_I(last_seen + p->wait_ttl_ms)),
                         what); /* idle: dropped */
        }
        if (rc < 0)
            return rc;
        q->admitted_through = ticket;
    }
    q->pace_us = concert_sys_admit_record(&q->set, q->pace_us, admitted, now);
    concert_sys_rate_observe(&q->rate, admitted, now);
    /* Once the ACTIVE tokens fit the limit again, the bound is the limit. */
    if (q->active <= q->set.max_active)
        q->active_cap = q->set.max_active;
    return CONCERT_OK;
}

int sq_admission_needed(sq_conn *c, const sq_queue *q, int64_t now, const char *what)
{
    concert_sys_rate probe = q->rate;
    int64_t one = 0;

    if (q->set.state == CONCERT_QUEUE_SCHEDULED && now >= q->set.opens_at)
        return 1; /* the opening is due */
    if (q->admitted_through < q->last_ticket &&
        concert_sys_admit_budget(&q->set, q->pace_us, room_of(q), now) > 0)
        return 1;
    concert_sys_rate_observe(&probe, 0, now);
    if (!rate_equal(&probe, &q->rate))
        return 1;
    /* 1: an ACTIVE token to settle (its slot may admit someone); 0: nothing. */
    return sq_one_i64(c, SQL_ANY_EXPIRED, SQ_ARGS(SQ_I(now)), &one, what);
}

#else
typedef int concert_sqlite_admission_compiled_out;
#endif
