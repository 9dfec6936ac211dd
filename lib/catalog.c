/*
 * Browsing: concerts, schedules and seats, for buyers with an ACTIVE token.
 * The bookability rules (OPEN status, start time + cutoff) live here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const char *const STATUS_NAMES[] = { NULL, "OPEN", "PENDING", "CLOSED" };

const char *concert_concert_status_name(int status)
{
    if (status < CONCERT_STATUS_OPEN || status > CONCERT_STATUS_CLOSED)
        return "UNKNOWN";
    return STATUS_NAMES[status];
}

int concert_concert_status_from_name(const char *name)
{
    if (!name)
        return 0;
    for (int s = CONCERT_STATUS_OPEN; s <= CONCERT_STATUS_CLOSED; s++) {
        if (strcmp(name, STATUS_NAMES[s]) == 0)
            return s;
    }
    return 0;
}

static int push_concert(void *ctx, const concert_concert *item)
{
    return concert__vec_push(ctx, item);
}

static int push_schedule(void *ctx, const concert_schedule *item)
{
    return concert__vec_push(ctx, item);
}

static int push_seat(void *ctx, const concert_seat *item)
{
    return concert__vec_push(ctx, item);
}

static int concerts_collect(concert_concert_list **out, concert_db *db, int32_t status)
{
    concert__vec v;
    concert_concert_list *list;
    int rc;

    concert__vec_init(&v, sizeof(concert_concert));
    rc = concert__st_concerts_list(db, status, push_concert, &v);
    CONCERT__LIST_TAKE(rc, &v, list, "concerts");
    if (rc == 0)
        *out = list;
    return rc;
}

int concert_concert_list_get(concert_concert_list **out, concert_db *db, const char *token)
{
    int64_t user_id;
    int rc;

    if (out)
        *out = NULL;
    if (!out || !db)
        return concert__error_set(CONCERT_EINVAL, "concert_concert_list_get: NULL argument");
    if ((rc = concert__token_require_active_read(db, token, concert__now(db), &user_id)) != 0)
        return rc;
    return concerts_collect(out, db, CONCERT_STATUS_OPEN);
}

int concert_admin_concert_list_get(concert_concert_list **out, concert_db *db)
{
    if (out)
        *out = NULL;
    if (!out || !db)
        return concert__error_set(CONCERT_EINVAL, "concert_admin_concert_list_get: NULL argument");
    return concerts_collect(out, db, 0);
}

void concert_concert_list_free(concert_concert_list *list)
{
    free(list);
}

/* An existing concert that is OPEN. */
static int concert_require_open(concert_db *db, int64_t concert_id, concert_concert *out)
{
    int rc;
    if (concert_id <= 0)
        return concert__error_set(CONCERT_ECONCERT_NOT_FOUND, "concert %lld not found",
                                  (long long)concert_id);
    if ((rc = concert__st_concert_get(db, concert_id, out)) != 0)
        return rc;
    if (out->status != CONCERT_STATUS_OPEN)
        return concert__error_set(
            CONCERT_ECONCERT_NOT_BOOKABLE, "concert %lld is %s", (long long)concert_id,
            concert_concert_status_name(out->status) ? concert_concert_status_name(out->status)
                                                     : "not open");
    return CONCERT_OK;
}

int concert_concert_get(concert_concert *out, concert_db *db, const char *token, int64_t concert_id)
{
    int64_t user_id;
    int rc;

    if (!out || !db)
        return concert__error_set(CONCERT_EINVAL, "concert_concert_get: NULL argument");
    if ((rc = concert__token_require_active_read(db, token, concert__now(db), &user_id)) != 0)
        return rc;
    return concert_require_open(db, concert_id, out);
}

/* Bookable while now < starts_at + cutoff, i.e. starts_at > now - cutoff. */
static int64_t bookable_starts_after(const concert_db *db, int64_t now)
{
    return now - db->opts.booking_cutoff_ms;
}

int concert_schedule_list_get(concert_schedule_list **out, concert_db *db, const char *token,
                              int64_t concert_id)
{
    concert_concert concert;
    concert__vec v;
    concert_schedule_list *list;
    int64_t user_id, total = 0, now;
    int rc;

    if (out)
        *out = NULL;
    if (!out || !db)
        return concert__error_set(CONCERT_EINVAL, "concert_schedule_list_get: NULL argument");
    now = concert__now(db);
    if ((rc = concert__token_require_active_read(db, token, now, &user_id)) != 0)
        return rc;
    if ((rc = concert_require_open(db, concert_id, &concert)) != 0)
        return rc;

    concert__vec_init(&v, sizeof(concert_schedule));
    rc = concert__st_schedules_list(db, concert_id, bookable_starts_after(db, now), now,
                                    push_schedule, &v, &total);
    if (rc == 0 && v.count == 0 && total > 0)
        rc = concert__error_set(CONCERT_EBOOKING_CLOSED,
                                "booking closed: every schedule of concert %lld has passed",
                                (long long)concert_id);
    CONCERT__LIST_TAKE(rc, &v, list, "schedules");
    if (rc == 0) {
        list->concert_id = concert_id;
        *out = list;
    }
    return rc;
}

void concert_schedule_list_free(concert_schedule_list *list)
{
    free(list);
}

int concert__schedule_require_bookable(concert_db *db, int64_t schedule_id, int64_t now,
                                       concert_storage_schedule *out)
{
    int rc;
    if (schedule_id <= 0)
        return concert__error_set(CONCERT_ESCHEDULE_NOT_FOUND, "schedule %lld not found",
                                  (long long)schedule_id);
    if ((rc = concert__schedule_lookup(db, schedule_id, out)) != 0)
        return rc;
    if (out->concert_status != CONCERT_STATUS_OPEN)
        return concert__error_set(CONCERT_ECONCERT_NOT_BOOKABLE,
                                  "concert %lld of schedule %lld is not open for booking",
                                  (long long)out->concert_id, (long long)schedule_id);
    if (out->starts_at <= bookable_starts_after(db, now))
        return concert__error_set(
            CONCERT_EBOOKING_CLOSED, "booking closed: schedule %lld started more than %lld s ago",
            (long long)schedule_id, (long long)(db->opts.booking_cutoff_ms / 1000));
    return CONCERT_OK;
}

int concert_seats_available(concert_seat_list **out, concert_db *db, const char *token,
                            int64_t schedule_id)
{
    concert_storage_schedule schedule;
    concert__vec v;
    concert_seat_list *list;
    int64_t user_id, now;
    int rc;

    if (out)
        *out = NULL;
    if (!out || !db)
        return concert__error_set(CONCERT_EINVAL, "concert_seats_available: NULL argument");
    now = concert__now(db);
    if ((rc = concert__token_require_active_read(db, token, now, &user_id)) != 0)
        return rc;
    if ((rc = concert__schedule_require_bookable(db, schedule_id, now, &schedule)) != 0)
        return rc;

    concert__vec_init(&v, sizeof(concert_seat));
    rc = concert__st_seats_available(db, schedule_id, now, push_seat, &v);
    CONCERT__LIST_TAKE(rc, &v, list, "seats");
    if (rc == 0) {
        list->schedule_id = schedule_id;
        *out = list;
    }
    return rc;
}

int concert_seat_list_version_get(concert_list_version *out, concert_db *db, const char *token,
                                  int64_t schedule_id)
{
    concert_storage_schedule schedule;
    int64_t user_id, now;
    int rc;

    if (!out || !db)
        return concert__error_set(CONCERT_EINVAL, "concert_seat_list_version_get: NULL argument");
    memset(out, 0, sizeof(*out));
    now = concert__now(db);
    /* The very checks of concert_seats_available(), in its order, so that a
     * server answering from its cache refuses exactly what it would. */
    if ((rc = concert__token_require_active_read(db, token, now, &user_id)) != 0)
        return rc;
    if ((rc = concert__schedule_require_bookable(db, schedule_id, now, &schedule)) != 0)
        return rc;
    return concert__st_list_version(db, schedule.concert_id, schedule_id, 0, now, out);
}

int concert_schedule_list_version_get(concert_list_version *out, concert_db *db, const char *token,
                                      int64_t concert_id)
{
    concert_concert concert;
    int64_t user_id, now;
    int rc;

    if (!out || !db)
        return concert__error_set(CONCERT_EINVAL,
                                  "concert_schedule_list_version_get: NULL argument");
    memset(out, 0, sizeof(*out));
    now = concert__now(db);
    if ((rc = concert__token_require_active_read(db, token, now, &user_id)) != 0)
        return rc;
    if ((rc = concert_require_open(db, concert_id, &concert)) != 0)
        return rc;
    /* BOOKING_CLOSED (every schedule passed) is the listing's to report:
     * its version is as good as any, and the listing says why. */
    return concert__st_list_version(db, concert_id, 0, bookable_starts_after(db, now), now, out);
}

void concert_seat_list_free(concert_seat_list *list)
{
    free(list);
}

static int push_seat_state(void *ctx, const concert_seat_state *item)
{
    return concert__vec_push(ctx, item);
}

int concert_seat_map_get(concert_seat_map **out, concert_db *db, const char *token,
                         int64_t schedule_id)
{
    concert_storage_schedule schedule;
    concert__vec v;
    concert_seat_map *map;
    int64_t user_id, now;
    int rc;

    if (out)
        *out = NULL;
    if (!out || !db)
        return concert__error_set(CONCERT_EINVAL, "concert_seat_map_get: NULL argument");
    now = concert__now(db);
    /* The checks of concert_seats_available(), in its order: the map's FREE
     * seats are that list, so they are refused alike. */
    if ((rc = concert__token_require_active_read(db, token, now, &user_id)) != 0)
        return rc;
    if ((rc = concert__schedule_require_bookable(db, schedule_id, now, &schedule)) != 0)
        return rc;

    concert__vec_init(&v, sizeof(concert_seat_state));
    rc = concert__st_seat_map(db, schedule_id, now, push_seat_state, &v);
    CONCERT__LIST_TAKE(rc, &v, map, "the seat map");
    if (rc == 0) {
        map->schedule_id = schedule_id;
        *out = map;
    }
    return rc;
}

void concert_seat_map_free(concert_seat_map *map)
{
    free(map);
}

const char *concert_seat_status_name(int status)
{
    switch (status) {
    case CONCERT_SEAT_FREE:
        return "FREE";
    case CONCERT_SEAT_HELD:
        return "HELD";
    case CONCERT_SEAT_SOLD:
        return "SOLD";
    default:
        return "UNKNOWN";
    }
}
