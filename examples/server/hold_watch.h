/*
 * concert_holds_expired_total: which of the holds this process made ran out
 * unpaid and unreleased. One thread per process keeps the holds it made, in
 * the order they were made, and once a hold's held_until has passed (plus a
 * second's grace) decides it once:
 *  - paid or released through this process (the handlers settle it here):
 *    not expired, no store read;
 *  - otherwise ONE concert_reservation_get() with the token that made it:
 *    EXPIRED counts, CONFIRMED or RELEASED (another process) does not;
 *  - the token no longer ACTIVE, so the read is refused: counted as
 *    expired when a payment through this process ended that token (the
 *    hold was not in it, or it would be settled); otherwise (a payment
 *    through another process, a leave, the token's lifetime) not counted,
 *    since that process may have paid it (docs/http.md).
 * Scrapes never read the store for this. Adding and settling take a mutex:
 * both follow a store write (a hold, a payment, a release), never a read.
 */
#ifndef CONCERTD_HOLD_WATCH_H
#define CONCERTD_HOLD_WATCH_H

#include <stdint.h>

#include <concert/concert.h>

#include "metrics.h"

typedef struct hold_watch hold_watch;

/* Start the watcher for db, whose holds last hold_ttl_ms, counting into m
 * (both kept: they must outlive it). NULL when out of memory or no thread
 * could be started. */
hold_watch *hold_watch_start(concert_db *db, metrics *m, int64_t hold_ttl_ms);

/* Stop the thread and free everything (NULL is a no-op). */
void hold_watch_stop(hold_watch *w);

/* A new hold this process made (w NULL is a no-op). Out of memory: the
 * hold is not watched (and never counted). */
void hold_watch_add(hold_watch *w, const char *token, int64_t reservation_id, int64_t held_until);

/*
 * The hold was paid or released through this process. Returns 1 if it was
 * watched and not settled yet (now settled), 0 if it was settled already,
 * -1 if this process is not watching it (made elsewhere, or already
 * decided) or w is NULL.
 */
int hold_watch_settle(hold_watch *w, int64_t reservation_id);

/* A payment through this process ended token (w NULL is a no-op): its
 * holds that were not paid can no longer be. Remembered until every hold
 * the token could have made has been decided. */
void hold_watch_token_ended(hold_watch *w, const char *token);

#endif
