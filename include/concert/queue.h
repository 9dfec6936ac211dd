/*
 * libconcert: the waiting queue.
 *
 * A buyer joins with concert_queue_issue() and receives an opaque token. At
 * most max_active tokens are ACTIVE at once; the rest WAIT in first-come
 * order and are admitted as active tokens end (lifetime over, consumed by a
 * payment, or given back with concert_queue_leave()). Admission happens
 * during any queue operation; no background thread is needed.
 *
 * Every function here is safe to call from many threads on one db.
 */
#ifndef CONCERT_QUEUE_H
#define CONCERT_QUEUE_H

#include "common.h"

CONCERT_BEGIN_DECLS

typedef enum concert_token_state {
    CONCERT_TOKEN_WAITING = 1,
    CONCERT_TOKEN_ACTIVE = 2
} concert_token_state;

/* A token and where it stands. Filled by the library into caller memory. */
typedef struct concert_token_info {
    char token[CONCERT_TOKEN_SIZE]; /* NUL-terminated, URL-safe */
    int64_t user_id;
    int32_t state;       /* concert_token_state */
    int32_t is_new;      /* 1 if concert_queue_issue() created it, else 0 */
    int64_t position;    /* 1 = next in line; 0 when ACTIVE */
    int64_t eta_ms;      /* estimated wait; -1 when unknown or ACTIVE */
    int64_t expires_at;  /* ms since epoch: ACTIVE, end of its lifetime;
                            WAITING, when it is dropped unless polled */
} concert_token_info;

/*
 * Join the queue for user_id, or return the user's live token.
 *
 * A user has at most one live token: while it is WAITING or ACTIVE this
 * returns that token with is_new = 0. After it ended, a new token goes to
 * the back of the line (is_new = 1). The token holds at least 128 bits from
 * the random source and is not derived from the user id.
 * Errors: CONCERT_EINVAL (NULL out/db), CONCERT_EUSER_NOT_FOUND, storage
 * errors (CONCERT_ESTORAGE, CONCERT_EBUSY, CONCERT_ENOMEM).
 */
CONCERT_EXTERN int concert_queue_issue(concert_token_info *out, concert_db *db,
                                       int64_t user_id);

/*
 * Where token stands now. Polling a WAITING token keeps it in line: one not
 * polled within wait_ttl is dropped. position only decreases, and is exact
 * when no token ahead has dropped out; lookup is O(1).
 * Errors: CONCERT_EINVAL, CONCERT_ETOKEN_INVALID (unknown, expired, dropped
 * or ended), storage errors.
 */
CONCERT_EXTERN int concert_queue_status(concert_token_info *out, concert_db *db,
                                        const char *token);

/*
 * Leave the queue (WAITING) or give back the active slot (ACTIVE). The token
 * ends; the next waiting token is admitted.
 * Errors: CONCERT_EINVAL, CONCERT_ETOKEN_INVALID, storage errors.
 */
CONCERT_EXTERN int concert_queue_leave(concert_db *db, const char *token);

/* Static name of a token state ("WAITING", "ACTIVE"), or NULL. */
CONCERT_EXTERN const char *concert_token_state_name(int state);

/* Counts for administration. */
typedef struct concert_queue_stats {
    int64_t active;          /* ACTIVE tokens now */
    int64_t waiting;         /* tickets not yet admitted (may include
                                dropped ones not yet reached) */
    int64_t max_active;      /* the configured limit */
    int64_t admitted_through;/* highest ticket admitted or skipped so far */
    int64_t last_ticket;     /* highest ticket issued so far */
} concert_queue_stats;

/* Fill out with the current counts; runs admission first.
 * Errors: CONCERT_EINVAL, storage errors. */
CONCERT_EXTERN int concert_queue_stats_get(concert_queue_stats *out, concert_db *db);

CONCERT_END_DECLS

#endif
