/*
 * The server clock (see clock.h).
 */
#include "clock.h"

#include <time.h>

int64_t api_now_ms(const api_context *ctx)
{
    if (ctx != NULL && ctx->clock != NULL)
        return ctx->clock(ctx->clock_ctx);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}
