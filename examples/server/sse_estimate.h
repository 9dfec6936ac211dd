/*
 * When a waiting buyer's queue document is worth a new event.
 *
 * The library re-estimates the wait from the admission rate every few
 * seconds; sending every wobble of the estimate to every waiting subscriber
 * cost thousands of events a minute on a queue where nothing happened
 * (docs/performance.md, issue 13). So the estimate alone goes out again
 * only once it moved by 10 % or SSE_ESTIMATE_STEP_MS; anything else that
 * changes (place, state, the queue's state, the idle deadline) goes out at
 * once, with the current estimate.
 */
#ifndef CONCERTD_SSE_ESTIMATE_H
#define CONCERTD_SSE_ESTIMATE_H

#include <concert/concert.h>

/* The smallest move of the estimate alone worth an event. */
#define SSE_ESTIMATE_STEP_MS 5000

/* 1 if now (with the queue's state name now_state, or NULL) differs from
 * sent (sent_state) by more than a small move of the estimate, else 0. */
int sse_queue_doc_worth_sending(const concert_token_info *sent, const char *sent_state,
                                const concert_token_info *now, const char *now_state);

#endif
