/*
 * Whose queue token is it? The one place concertd asks, so that a cheaper
 * library call can replace the lookup without touching the access rules.
 */
#ifndef CONCERTD_TOKEN_OWNER_H
#define CONCERTD_TOKEN_OWNER_H

#include <stdint.h>

#include <concert/concert.h>

/* The user token was issued to, in any state (an ended token still names
 * its owner; the library call that follows refuses it), into *owner.
 * Returns 0, or the libconcert code (CONCERT_ETOKEN_INVALID for a malformed
 * or unknown token, storage errors), with concert_error_last() set. */
int token_owner(concert_db *db, const char *token, int64_t *owner);

#endif
