/*
 * A sale: hold seats, then pay for them in points, together (one payment
 * for a party, all or nothing). The payment carries an idempotency key
 * derived from the reservation ids, so a clerk who re-types 'pay' after the
 * kiosk was killed mid-sale never pays twice and still gets the tickets; the
 * walk-up charge is guarded by re-reading the balance (see kiosk_pay).
 * Nothing is printed between the walk-up charge and the payment: the clerk
 * sees the outcome of the whole sale or, after a kill, nothing.
 */
#include "kiosk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int kiosk_hold(kiosk *k, int64_t schedule_id, int64_t seat)
{
    if (kiosk_token(k) < 0)
        return -1;
    concert_reservation r;
    if (concert_reserve_seat(&r, k->db, k->token, schedule_id, seat) < 0)
        return kiosk_fail("hold");
    printf("held seat %lld of schedule %lld: reservation %lld, %lld points, for %lld s\n",
           (long long)r.seat_number, (long long)r.schedule_id, (long long)r.id, (long long)r.price,
           (long long)((r.held_until - concert_db_now(k->db)) / 1000));
    return 0;
}

int kiosk_release(kiosk *k, int64_t reservation_id)
{
    if (kiosk_token(k) < 0)
        return -1;
    concert_reservation r;
    if (concert_reservation_release(&r, k->db, k->token, reservation_id) < 0)
        return kiosk_fail("release");
    printf("reservation %lld %s: seat %lld of schedule %lld is no longer held for it\n",
           (long long)r.id, concert_reservation_status_name(r.status), (long long)r.seat_number,
           (long long)r.schedule_id);
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

static int cmp_id(const void *a, const void *b)
{
    const int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* "PREFIX-ID-ID-..." over the sorted ids: the same party gives the same key
 * whatever order the clerk types it in. */
static void sale_key(char *key, size_t size, const char *prefix, const int64_t *ids, size_t n)
{
    size_t len = (size_t)snprintf(key, size, "%s", prefix);
    for (size_t i = 0; i < n && len < size; i++)
        len += (size_t)snprintf(key + len, size - len, "-%lld", (long long)ids[i]);
}

typedef struct sale {
    size_t count;
    int64_t ids[KIOSK_PARTY_MAX]; /* sorted */
    concert_reservation r[KIOSK_PARTY_MAX];
    char grade[KIOSK_PARTY_MAX][CONCERT_GRADE_SIZE];
    int64_t due; /* price of the HELD ones */
} sale;

/* Read every reservation and its grade before anything is written. */
static int sale_read(kiosk *k, sale *s)
{
    s->due = 0;
    for (size_t i = 0; i < s->count; i++) {
        if (i > 0 && s->ids[i] == s->ids[i - 1]) {
            printf("! pay: reservation %lld is listed twice\n", (long long)s->ids[i]);
            return -1;
        }
        if (concert_reservation_get(&s->r[i], k->db, k->token, s->ids[i]) < 0)
            return kiosk_fail("pay");
        if (seat_grade(k, &s->r[i], s->grade[i], sizeof s->grade[i]) < 0)
            return -1;
        if (s->r[i].status == CONCERT_RESERVATION_HELD)
            s->due += s->r[i].price;
    }
    /* All held (a sale) or all paid (a re-typed sale, replayed by its key);
     * anything else would fail the payment after the walk-up charge. */
    for (size_t i = 0; i < s->count; i++) {
        const int32_t st = s->r[i].status;
        if ((st != CONCERT_RESERVATION_HELD && st != CONCERT_RESERVATION_CONFIRMED) ||
            st != s->r[0].status) {
            printf("! pay: reservation %lld is %s; nothing charged or paid\n",
                   (long long)s->r[i].id, concert_reservation_status_name(st));
            return -1;
        }
    }
    return 0;
}

int kiosk_pay(kiosk *k, const int64_t *reservation_ids, size_t count)
{
    sale s;
    memset(&s, 0, sizeof s);
    if (count == 0 || count > KIOSK_PARTY_MAX) {
        printf("! pay: 1 to %d reservations\n", KIOSK_PARTY_MAX);
        return -1;
    }
    s.count = count;
    memcpy(s.ids, reservation_ids, count * sizeof *s.ids);
    qsort(s.ids, s.count, sizeof *s.ids, cmp_id);
    if (kiosk_token(k) < 0 || sale_read(k, &s) < 0)
        return -1;

    char key[CONCERT_IDEMPOTENCY_KEY_MAX + 1];
    int64_t charged = 0, balance = 0;
    if (s.due > 0) {
        /* The balance is re-read on every 'pay': after a kill between the
         * charge and the payment, the re-typed pay finds the points there
         * and asks for nothing. */
        if (concert_points_balance_get(&balance, k->db, k->user_id) < 0)
            return kiosk_fail("balance");
        if (balance < s.due) {
            const int64_t shortfall = s.due - balance;
            char question[96];
            snprintf(question, sizeof question, "collect %lld points from the buyer?",
                     (long long)shortfall);
            if (!kiosk_confirm(question)) {
                printf("no charge, no payment; holds stay until they expire or are released\n");
                return -1;
            }
            /* No idempotency key here: the balance re-read above is what
             * stops a second charge, and a key derived from the sale would
             * replay a top-up that another sale has spent since (a re-typed
             * pay after a kill, once the counter sold other seats), leaving
             * cash the clerk took with no charge on the ledger. Charges on
             * the walk-up account stay equal to the cash taken. */
            if (concert_charge_points(&balance, k->db, k->user_id, shortfall, NULL) < 0)
                return kiosk_fail("walk-up charge");
            charged = shortfall;
        }
    }
    sale_key(key, sizeof key, "kiosk-pay", s.ids, s.count);
    concert_payment p;
    const int rc = concert_order_pay(&p, k->db, k->token, s.ids, s.count, key);
    if (charged > 0)
        printf("walk-up charge: %lld points (balance %lld)\n", (long long)charged,
               (long long)balance);
    if (rc < 0) {
        if (charged > 0)
            printf("! the walk-up charge stays on the account and pays toward the next sale\n");
        return kiosk_fail("pay");
    }
    /* The payment ended the token; the next sale joins again. */
    kiosk_token_forget(k);
    printf("paid %lld points (balance %lld)\n", (long long)p.amount, (long long)p.balance);
    for (size_t i = 0; i < s.count; i++)
        kiosk_ticket_print(k, &s.r[i], s.grade[i]);
    return 0;
}
