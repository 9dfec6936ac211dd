#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "races.h"

typedef struct race {
    concert_db *db;
    pthread_barrier_t start;
    pthread_mutex_t lock;
    race_result result;
    /* inputs */
    const concert_token_info *tokens;
    concert_token_info *tokens_out;
    const char *token;
    const char *key;
    int64_t a, b;
    int64_t payment_id;
} race;

typedef struct worker {
    race *r;
    int index;
} worker;

/* Count one outcome. why: what the race found wrong, or NULL for a library
 * failure, whose message is read here, in the worker's thread (the error is
 * thread-local: the main thread cannot see it). */
static void tally_why(race *r, int rc, int ok_loss, const char *why)
{
    const char *message = rc != 0 && !ok_loss && !why ? concert_error_last()->message : why;
    pthread_mutex_lock(&r->lock);
    if (rc == 0) {
        r->result.successes++;
    } else if (ok_loss) {
        r->result.expected++;
    } else {
        if (r->result.others++ == 0) {
            r->result.first_other_rc = rc;
            snprintf(r->result.first_other_message, sizeof(r->result.first_other_message), "%s",
                     message ? message : "");
        }
    }
    pthread_mutex_unlock(&r->lock);
}

static void tally(race *r, int rc, int ok_loss)
{
    tally_why(r, rc, ok_loss, NULL);
}

static void run(race *r, int n, void *(*fn)(void *), race_result *out)
{
    pthread_t th[RACE_MAX_THREADS];
    worker w[RACE_MAX_THREADS];
    if (n > RACE_MAX_THREADS)
        n = RACE_MAX_THREADS;
    memset(&r->result, 0, sizeof(r->result));
    pthread_mutex_init(&r->lock, NULL);
    pthread_barrier_init(&r->start, NULL, (unsigned)n);
    for (int i = 0; i < n; i++) {
        w[i].r = r;
        w[i].index = i;
        pthread_create(&th[i], NULL, fn, &w[i]);
    }
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&r->start);
    pthread_mutex_destroy(&r->lock);
    *out = r->result;
}

static void *reserve_worker(void *arg)
{
    worker *w = arg;
    race *r = w->r;
    concert_reservation res;
    int rc;
    pthread_barrier_wait(&r->start);
    rc = concert_reserve_seat(&res, r->db, r->tokens[w->index].token, r->a, r->b);
    tally(r, rc, rc == CONCERT_ESEAT_TAKEN);
    return NULL;
}

void race_reserve_same_seat(concert_db *db, const concert_token_info *tokens, int n,
                            int64_t schedule_id, int64_t seat, race_result *out)
{
    race r;
    memset(&r, 0, sizeof(r));
    r.db = db;
    r.tokens = tokens;
    r.a = schedule_id;
    r.b = seat;
    run(&r, n, reserve_worker, out);
}

static void *hold_one_token_worker(void *arg)
{
    worker *w = arg;
    race *r = w->r;
    concert_reservation res;
    int64_t owner = 0;
    int rc;
    pthread_barrier_wait(&r->start);
    rc = concert_reserve_seat(&res, r->db, r->token, r->a, r->b + w->index);
    /* The owner cache is filled and read from every thread at once. */
    if (rc == 0 || rc == CONCERT_EHOLD_LIMIT) {
        int orc = concert_queue_token_owner_get(&owner, r->db, r->token);
        if (orc != 0) {
            tally(r, orc, 0);
            return NULL;
        }
        if (rc == 0 && owner != res.user_id) {
            tally_why(r, CONCERT_EINTERNAL, 0, "the token's owner is not the hold's user");
            return NULL;
        }
    }
    tally(r, rc, rc == CONCERT_EHOLD_LIMIT);
    return NULL;
}

void race_hold_with_one_token(concert_db *db, const char *token, int n, int64_t schedule_id,
                              int64_t first_seat, race_result *out)
{
    race r;
    memset(&r, 0, sizeof(r));
    r.db = db;
    r.token = token;
    r.a = schedule_id;
    r.b = first_seat;
    run(&r, n, hold_one_token_worker, out);
}

static void *charge_worker(void *arg)
{
    worker *w = arg;
    race *r = w->r;
    pthread_barrier_wait(&r->start);
    for (int k = 0; k < 10; k++)
        tally(r, concert_charge_points(NULL, r->db, r->a, 1 + w->index, NULL), 0);
    return NULL;
}

void race_charge_one_user(concert_db *db, int64_t user_id, int n, race_result *out)
{
    race r;
    memset(&r, 0, sizeof(r));
    r.db = db;
    r.a = user_id;
    run(&r, n, charge_worker, out);
}

static void *pay_worker(void *arg)
{
    worker *w = arg;
    race *r = w->r;
    concert_payment p;
    int rc;
    pthread_barrier_wait(&r->start);
    rc = concert_pay(&p, r->db, r->token, r->a, r->key);
    if (rc == 0 && r->key) {
        /* Every replay must report the one payment. */
        int other = 0;
        pthread_mutex_lock(&r->lock);
        if (r->payment_id == 0)
            r->payment_id = p.id;
        else if (r->payment_id != p.id)
            other = 1;
        pthread_mutex_unlock(&r->lock);
        if (other) {
            tally_why(r, CONCERT_EINTERNAL, 0, "a keyed replay reported another payment");
            return NULL;
        }
    }
    tally(r, rc, !r->key && (rc == CONCERT_ETOKEN_INVALID || rc == CONCERT_EALREADY_PAID));
    return NULL;
}

void race_pay_one_reservation(concert_db *db, const char *token, int64_t reservation_id,
                              const char *key, int n, race_result *out)
{
    race r;
    memset(&r, 0, sizeof(r));
    r.db = db;
    r.token = token;
    r.key = key;
    r.a = reservation_id;
    run(&r, n, pay_worker, out);
}

static void *join_worker(void *arg)
{
    worker *w = arg;
    race *r = w->r;
    int rc;
    pthread_barrier_wait(&r->start);
    rc = concert_queue_issue(&r->tokens_out[w->index], r->db, r->a + w->index);
    tally(r, rc, 0);
    return NULL;
}

void race_join_queue(concert_db *db, int64_t first_user, int n, concert_token_info *tokens,
                     race_result *out)
{
    race r;
    memset(&r, 0, sizeof(r));
    r.db = db;
    r.tokens_out = tokens;
    r.a = first_user;
    run(&r, n, join_worker, out);
}

/* ---- polls racing leaves: the db's queue cache under many threads ---- */

static void *poll_worker(void *arg)
{
    worker *w = arg;
    race *r = w->r;
    int64_t last[RACE_MAX_THREADS];
    int n = (int)r->a, rounds = (int)r->b;

    for (int j = 0; j < n; j++)
        last[j] = INT64_MAX;
    pthread_barrier_wait(&r->start);
    for (int round = 0; round < rounds; round++) {
        if (w->index == 0) {
            /* The churn: one ACTIVE buyer gives its place back per round. */
            for (int j = 0; j < n; j++) {
                if (r->tokens[j].state == CONCERT_TOKEN_ACTIVE && j == round % n) {
                    int rc = concert_queue_leave(r->db, r->tokens[j].token);
                    tally(r, rc, rc == CONCERT_ETOKEN_INVALID);
                }
            }
            continue;
        }
        for (int j = 0; j < n; j++) {
            concert_token_info t;
            int rc = concert_queue_status_get(&t, r->db, r->tokens[j].token);
            if (rc == 0 && t.state == CONCERT_TOKEN_WAITING) {
                /* A position seen by one thread never goes up. */
                int ok = t.position >= 1 && t.position <= last[j];
                last[j] = t.position;
                tally_why(r, ok ? 0 : CONCERT_EINTERNAL, 0,
                          "a WAITING position went up or left 1..previous");
            } else if (rc == 0) {
                last[j] = 0;
                tally(r, 0, 0);
            } else {
                /* Left by the churn thread (an ACTIVE token at the start). */
                tally(r, rc,
                      rc == CONCERT_ETOKEN_INVALID && r->tokens[j].state == CONCERT_TOKEN_ACTIVE);
            }
        }
    }
    return NULL;
}

void race_poll_queue(concert_db *db, const concert_token_info *tokens, int ntokens, int n,
                     int rounds, race_result *out)
{
    race r;
    memset(&r, 0, sizeof(r));
    r.db = db;
    r.tokens = tokens;
    r.a = ntokens > RACE_MAX_THREADS ? RACE_MAX_THREADS : ntokens;
    r.b = rounds;
    run(&r, n, poll_worker, out);
}
