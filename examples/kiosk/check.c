/*
 * 'check R CODE': the door's question, asked at a kiosk that holds the venue
 * key and the store. The code alone proves the kiosk printed this ticket
 * (reservation, schedule, seat and price as printed, under the venue key);
 * the store adds that the reservation is paid. It does not say whether the
 * ticket was already used to enter: the door keeps that record.
 */
#include "kiosk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "XXXX-XXXX" (either case) as a number, or -1. */
static int64_t parse_code(const char *s)
{
    if (s == NULL || strlen(s) != 9 || s[4] != '-')
        return -1;
    char hex[9];
    memcpy(hex, s, 4);
    memcpy(hex + 4, s + 5, 4);
    hex[8] = '\0';
    if (strspn(hex, "0123456789abcdefABCDEF") != 8)
        return -1;
    return (int64_t)strtoll(hex, NULL, 16);
}

int kiosk_check(kiosk *k, int64_t reservation_id, const char *code_text)
{
    const int64_t code = parse_code(code_text);
    if (code < 0) {
        printf("! check: a code reads XXXX-XXXX (hex)\n");
        return -1;
    }
    if (kiosk_token(k) < 0)
        return -1;
    concert_reservation r;
    if (concert_reservation_get(&r, k->db, k->token, reservation_id) < 0)
        return kiosk_fail("check");
    if ((int64_t)kiosk_ticket_code(k->ticket_key, &r) != code) {
        printf("! check: the code does not match reservation %lld: not a ticket of this venue\n",
               (long long)r.id);
        return -1;
    }
    if (r.status != CONCERT_RESERVATION_CONFIRMED) {
        printf("! check: reservation %lld is %s, not paid\n", (long long)r.id,
               concert_reservation_status_name(r.status));
        return -1;
    }
    printf("valid: reservation %lld, schedule %lld, seat %lld, paid\n", (long long)r.id,
           (long long)r.schedule_id, (long long)r.seat_number);
    return 0;
}
