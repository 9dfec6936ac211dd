/*
 * concertd's one clock for its own decisions (JWT exp and nbf today). Every
 * check that needs "now" asks here, so that a test can move one clock
 * (api_context.clock) instead of sleeping.
 */
#ifndef CONCERTD_CLOCK_H
#define CONCERTD_CLOCK_H

#include <stdint.h>

#include "api.h"

/* Now in ms since the epoch (UTC): ctx->clock if set, else the store's
 * clock (concert_db_now(ctx->db): concert_options.clock, else the system's
 * real-time clock). */
int64_t api_now_ms(const api_context *ctx);

#endif
