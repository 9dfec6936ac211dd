/*
 * kiosk: a box-office counter terminal embedding libconcert on a local
 * sqlite: store. Single thread, no network, one line per command.
 */
#ifndef KIOSK_H
#define KIOSK_H

#include <concert/concert.h>
#include <stdint.h>

typedef struct kiosk {
    concert_db *db;
    int64_t user_id;                /* the walk-up account sales go to */
    char token[CONCERT_TOKEN_SIZE]; /* "" until a live ACTIVE token is held */
    int64_t token_expires_at;       /* the token's end of life (store clock) */
    const char *ticket_key;         /* secret for the verification code */
} kiosk;

/* clock.c: the --clock-file test clock. */
typedef struct kiosk_clock {
    const char *path;
    int64_t last; /* the last good reading */
} kiosk_clock;
int kiosk_clock_install(kiosk_clock *c, concert_options *opts, const char *path);

/* session.c: an ACTIVE token for the walk-up account (a payment ends it). */
int kiosk_token(kiosk *k);
void kiosk_token_forget(kiosk *k);

/* show.c: read-only screens. */
int kiosk_show_concerts(kiosk *k);
int kiosk_show_schedules(kiosk *k, int64_t concert_id);
int kiosk_show_map(kiosk *k, int64_t schedule_id);

/* Most reservations one 'pay' line takes (a party); well under
 * CONCERT_ORDER_MAX, and their ids fit one idempotency key. */
#define KIOSK_PARTY_MAX 8

/* sale.c: hold a seat, take payment for one or several holds at once
 * (walk-up charge first if short, after the clerk confirms), let a hold go. */
int kiosk_hold(kiosk *k, int64_t schedule_id, int64_t seat);
int kiosk_pay(kiosk *k, const int64_t *reservation_ids, size_t count);
int kiosk_release(kiosk *k, int64_t reservation_id);

/* check.c: the door's check of a printed ticket's code. */
int kiosk_check(kiosk *k, int64_t reservation_id, const char *code);

/* prompt.c: ask the clerk; 1 only for an explicit "y"/"yes". */
int kiosk_confirm(const char *question);

/* ticket.c: print a ticket for a paid reservation. */
void kiosk_ticket_print(const kiosk *k, const concert_reservation *r, const char *grade);
uint32_t kiosk_ticket_code(const char *key, const concert_reservation *r);

/* Print the library's last error as "kiosk: CODE: message". Returns -1. */
int kiosk_fail(const char *what);

#endif
