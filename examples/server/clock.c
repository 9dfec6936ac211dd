/*
 * The server clock (see clock.h).
 */
#include "clock.h"

#include <concert/concert.h>

int64_t api_now_ms(const api_context *ctx)
{
    if (ctx != NULL && ctx->clock != NULL)
        return ctx->clock(ctx->clock_ctx);
    /* The store's clock (concert_options.clock, else the system's real-time
     * clock): concertd and the library then agree on "now", and a test build
     * that injects the store's clock moves concertd's checks with it. */
    return concert_db_now(ctx != NULL ? ctx->db : NULL);
}
