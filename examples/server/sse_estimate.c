/*
 * Which changes of a queue document go out (see sse_estimate.h).
 */
#include "sse_estimate.h"

#include <string.h>

static int same_text(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

int sse_queue_doc_worth_sending(const concert_token_info *sent, const char *sent_state,
                                const concert_token_info *now, const char *now_state)
{
    if (sent->state != now->state || sent->position != now->position ||
        sent->expires_at != now->expires_at || sent->user_id != now->user_id ||
        !same_text(sent_state, now_state))
        return 1;
    /* Unknown (-1) to known or back is news. */
    if ((sent->eta_ms < 0) != (now->eta_ms < 0))
        return 1;
    const int64_t moved =
        now->eta_ms > sent->eta_ms ? now->eta_ms - sent->eta_ms : sent->eta_ms - now->eta_ms;
    const int64_t tenth = sent->eta_ms / 10;
    return moved >= (tenth > SSE_ESTIMATE_STEP_MS ? tenth : SSE_ESTIMATE_STEP_MS);
}
