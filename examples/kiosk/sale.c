/*
 * A sale: hold a seat, then pay in points. Every write carries an
 * idempotency key derived from the reservation id, so a clerk who re-types
 * a command after the kiosk was killed mid-sale never charges or pays twice.
 */
#include "kiosk.h"

#include <stdio.h>
#include <string.h>

int kiosk_hold(kiosk *k, int64_t schedule_id, int64_t seat)
{
    if (kiosk_token(k) < 0)
        return -1;
    concert_reservation r;
    if (concert_reserve_seat(&r, k->db, k->token, schedule_id, seat) < 0)
        return kiosk_fail("hold");
    printf("held seat %lld of schedule %lld: reservation %lld, %lld points, for %lld s\n",
           (long long)r.seat_number, (long long)r.schedule_id, (long long)r.id,
           (long long)r.price, (long long)((r.held_until - concert_now(k->db)) / 1000));
    return 0;
}

/* The seat's grade, read from the map while the token is still ACTIVE
 * (paying ends it). */
static int seat_grade(kiosk *k, const concert_reservation *r, char *grade, size_t size)
{
    concert_seat_map *map = NULL;
    if (concert_seat_map_get(&map, k->db, k->token, r->schedule_id) < 0)
        return kiosk_fail("map");
    snprintf(grade, size, "?");
    for (size_t i = 0; i < map->count; i++)
        if (map->items[i].seat.number == r->seat_number)
            snprintf(grade, size, "%s", map->items[i].seat.grade);
    concert_seat_map_free(map);
    return 0;
}

int kiosk_pay(kiosk *k, int64_t reservation_id)
{
    if (kiosk_token(k) < 0)
        return -1;
    concert_reservation r;
    if (concert_reservation_get(&r, k->db, k->token, reservation_id) < 0)
        return kiosk_fail("pay");
    char grade[CONCERT_GRADE_SIZE];
    if (seat_grade(k, &r, grade, sizeof grade) < 0)
        return -1;

    char key[64];
    if (r.status == CONCERT_RESERVATION_HELD) {
        int64_t balance = 0;
        if (concert_points_balance(&balance, k->db, k->user_id) < 0)
            return kiosk_fail("balance");
        if (balance < r.price) {
            /* Walk-up: the clerk has taken the difference at the counter. */
            const int64_t shortfall = r.price - balance;
            snprintf(key, sizeof key, "kiosk-walkup-%lld", (long long)r.id);
            if (concert_charge_points(&balance, k->db, k->user_id, shortfall, key) < 0)
                return kiosk_fail("walk-up charge");
            printf("walk-up charge: %lld points (balance %lld)\n", (long long)shortfall,
                   (long long)balance);
        }
    }
    snprintf(key, sizeof key, "kiosk-pay-%lld", (long long)r.id);
    concert_payment p;
    if (concert_pay(&p, k->db, k->token, r.id, key) < 0)
        return kiosk_fail("pay");
    /* The payment ended the token; the next sale joins again. */
    kiosk_token_forget(k);
    printf("paid %lld points (balance %lld)\n", (long long)p.amount, (long long)p.balance);
    kiosk_ticket_print(k, &r, grade);
    return 0;
}
