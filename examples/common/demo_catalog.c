/*
 * The built-in demo catalog (concertd --demo, concert demo).
 *
 * Built in C rather than from embedded JSON because its schedule times are
 * relative to the store's clock (concert_db_now), so the same demo always has
 * past and future shows, and a fake clock in tests moves them too.
 *
 * What it holds, so that every path of the API can be tried by hand:
 *   users     1 Kim 500000 points, 2 Lee 0 points (INSUFFICIENT_POINTS),
 *             3 Park 120000, 4 Choi 1000000, 5 Jung 0
 *   concert 1 OPEN    schedules 10 (2 days ago: BOOKING_CLOSED),
 *                     11 (in 7 days), 12 (in 14 days); 300 seats each
 *   concert 2 OPEN    schedule 20 (in 30 days); 150 seats
 *   concert 3 PENDING schedule 30 (in 60 days): CONCERT_NOT_BOOKABLE
 *   concert 4 CLOSED  schedule 40 (30 days ago): CONCERT_NOT_BOOKABLE
 *   concert 5 OPEN    schedule 50 (yesterday): all schedules closed
 * Seats are graded VIP / R / S (and A for the small hall) with different
 * prices. Show times are 19:00 UTC on their day.
 */
#include "catalog_json.h"

#include <stdio.h>

#define MS_PER_HOUR INT64_C(3600000)
#define MS_PER_DAY (24 * MS_PER_HOUR)

static const concert_catalog_user demo_users[] = {
    { 1, "Kim", 500000 },   { 2, "Lee", 0 },  { 3, "Park", 120000 },
    { 4, "Choi", 1000000 }, { 5, "Jung", 0 },
};

/* Main hall: 300 seats. */
static const concert_catalog_seat_range hall_seats[] = {
    { 1, 20, "VIP", 150000 },
    { 21, 100, "R", 110000 },
    { 101, 300, "S", 80000 },
};

/* Small hall: 150 seats. */
static const concert_catalog_seat_range club_seats[] = {
    { 1, 10, "VIP", 200000 },
    { 11, 60, "R", 120000 },
    { 61, 120, "S", 70000 },
    { 121, 150, "A", 40000 },
};

#define COUNT_OF(array) (sizeof(array) / sizeof((array)[0]))

/* A show at 19:00 UTC, day_offset days from today (negative: the past). */
static int64_t show_time(int64_t now, int64_t day_offset)
{
    int64_t today = now / MS_PER_DAY * MS_PER_DAY;
    if (now < 0 && now % MS_PER_DAY != 0)
        today -= MS_PER_DAY; /* floor for clocks before 1970 (fake clocks) */
    return today + day_offset * MS_PER_DAY + 19 * MS_PER_HOUR;
}

/* Whether the store holds no users and no concerts. */
static int store_is_empty(concert_db *db, int *empty, char *err, size_t errlen)
{
    concert_user_list *users = NULL;
    concert_concert_list *concerts = NULL;
    int rc = concert_admin_user_list_get(&users, db);
    if (rc == 0)
        rc = concert_admin_concert_list_get(&concerts, db);
    if (rc != 0) {
        if (err != NULL && errlen > 0)
            (void)snprintf(err, errlen, "%s", concert_error_last()->message);
    } else {
        *empty = users->count == 0 && concerts->count == 0;
    }
    concert_user_list_free(users);
    concert_concert_list_free(concerts);
    return rc;
}

int catalog_demo_load_if_empty(concert_db *db, int *loaded, char *err, size_t errlen)
{
    if (loaded != NULL)
        *loaded = 0;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (db == NULL) {
        if (err != NULL && errlen > 0)
            (void)snprintf(err, errlen, "demo: no store");
        return CONCERT_EINVAL;
    }
    int empty = 0;
    int rc = store_is_empty(db, &empty, err, errlen);
    if (rc != 0 || !empty)
        return rc;

    const int64_t now = concert_db_now(db);
    const concert_catalog_schedule concert1[] = {
        { 10, show_time(now, -2), hall_seats, COUNT_OF(hall_seats) },
        { 11, show_time(now, 7), hall_seats, COUNT_OF(hall_seats) },
        { 12, show_time(now, 14), hall_seats, COUNT_OF(hall_seats) },
    };
    const concert_catalog_schedule concert2[] = {
        { 20, show_time(now, 30), club_seats, COUNT_OF(club_seats) },
    };
    const concert_catalog_schedule concert3[] = {
        { 30, show_time(now, 60), hall_seats, COUNT_OF(hall_seats) },
    };
    const concert_catalog_schedule concert4[] = {
        { 40, show_time(now, -30), club_seats, COUNT_OF(club_seats) },
    };
    const concert_catalog_schedule concert5[] = {
        { 50, show_time(now, -1), club_seats, COUNT_OF(club_seats) },
    };
    const concert_catalog_concert concerts[] = {
        { 1, "Winter Symphony Night", CONCERT_STATUS_OPEN, 0, concert1, COUNT_OF(concert1) },
        { 2, "Spring Jazz Session", CONCERT_STATUS_OPEN, 0, concert2, COUNT_OF(concert2) },
        { 3, "Summer Rock Festival", CONCERT_STATUS_PENDING, 0, concert3, COUNT_OF(concert3) },
        { 4, "Autumn Chamber Recital", CONCERT_STATUS_CLOSED, 0, concert4, COUNT_OF(concert4) },
        { 5, "Last Night's Encore", CONCERT_STATUS_OPEN, 0, concert5, COUNT_OF(concert5) },
    };
    const concert_catalog catalog = { CONCERT_CATALOG_VERSION, demo_users, COUNT_OF(demo_users),
                                      concerts, COUNT_OF(concerts) };

    rc = concert_catalog_load(db, &catalog);
    if (rc == CONCERT_ECONFLICT) {
        /* Another process loaded it between our check and our load: the
         * store is no longer empty, which is all the caller asked for. */
        return 0;
    }
    if (rc != 0) {
        if (err != NULL && errlen > 0)
            (void)snprintf(err, errlen, "%s", concert_error_last()->message);
        return rc;
    }
    if (loaded != NULL)
        *loaded = 1;
    return 0;
}
