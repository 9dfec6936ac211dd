/*
 * Thread races on one shared concert_db, free of any test framework so that
 * the Criterion suite and the ThreadSanitizer driver (which cannot run under
 * Criterion) share them.
 */
#ifndef CONCERT_TEST_RACES_H
#define CONCERT_TEST_RACES_H

#include <concert/concert.h>

typedef struct race_result {
    int successes; /* calls that returned 0 */
    int expected;  /* calls that failed the way losers should */
    int others;    /* anything else: always a bug */
    int first_other_rc;
    /* The first "other" failure as the worker thread saw it: its own
     * concert_error_last() message (thread-local, so the main thread's would
     * be another call's), or what the race itself found wrong. */
    char first_other_message[320];
} race_result;

#define RACE_MAX_THREADS 128

/* n threads each reserve (schedule, seat) with their own ACTIVE token.
 * Losers must get CONCERT_ESEAT_TAKEN. */
void race_reserve_same_seat(concert_db *db, const concert_token_info *tokens, int n,
                            int64_t schedule_id, int64_t seat, race_result *out);

/* n threads hold seats first_seat + i of schedule_id with one buyer's token
 * and look up its owner; the per-buyer limit must let exactly the limit in
 * (the caller checks the count), the others get CONCERT_EHOLD_LIMIT. */
void race_hold_with_one_token(concert_db *db, const char *token, int n, int64_t schedule_id,
                              int64_t first_seat, race_result *out);

/* n threads each charge user 10 times, thread i adding i + 1 points. */
void race_charge_one_user(concert_db *db, int64_t user_id, int n, race_result *out);

/* n threads pay one reservation with the same token; key may be NULL. Without
 * a key losers must get TOKEN_INVALID or ALREADY_PAID; with one, all succeed
 * and see the same payment. */
void race_pay_one_reservation(concert_db *db, const char *token, int64_t reservation_id,
                              const char *key, int n, race_result *out);

/* n threads join the queue as users first_user .. first_user + n - 1. */
void race_join_queue(concert_db *db, int64_t first_user, int n, concert_token_info *tokens,
                     race_result *out);

/* n threads race polls and leaves on the ntokens (<= RACE_MAX_THREADS)
 * tokens given, for rounds rounds: thread 0 makes the tokens that were
 * ACTIVE in tokens leave, one per round; the others poll every token. A
 * WAITING position must stay >= 1 and never go up as one thread sees it;
 * only the tokens that left may answer TOKEN_INVALID. */
void race_poll_queue(concert_db *db, const concert_token_info *tokens, int ntokens, int n,
                     int rounds, race_result *out);

#endif
