/*
 * Synthetic catalogs for the benchmarks, loaded through the public API.
 *
 * Users go in chunks: each concert_catalog_load() is all or nothing, and a
 * million users in one transaction would measure the backend's worst case
 * for huge transactions rather than anything a sale does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define USERS_PER_LOAD 50000
#define NAME_STRIDE 24
#define DAY_MS (INT64_C(24) * 3600 * 1000)

int bench_load_users(concert_db *db, int64_t first_id, int64_t count, int64_t points)
{
    concert_catalog_user *users = malloc(USERS_PER_LOAD * sizeof(*users));
    char *names = malloc((size_t)USERS_PER_LOAD * NAME_STRIDE);
    int rc = 0;

    if (!users || !names) {
        bench_log("out of memory building users");
        rc = -1;
    }
    for (int64_t done = 0; rc == 0 && done < count; done += USERS_PER_LOAD) {
        const int64_t n = count - done < USERS_PER_LOAD ? count - done : USERS_PER_LOAD;
        for (int64_t i = 0; i < n; i++) {
            const int64_t id = first_id + done + i;
            char *name = names + i * NAME_STRIDE;
            snprintf(name, NAME_STRIDE, "u%lld", (long long)id);
            users[i].id = id;
            users[i].name = name;
            users[i].points = points;
        }
        concert_catalog cat = { CONCERT_CATALOG_VERSION, users, (size_t)n, NULL, 0 };
        if (concert_catalog_load(db, &cat) != 0) {
            bench_log("loading users %lld..: %s", (long long)(first_id + done),
                      concert_error_last()->message);
            rc = -1;
        }
    }
    free(users);
    free(names);
    return rc;
}

int bench_load_concert(concert_db *db, int64_t concert_id, int64_t first_schedule_id,
                       int64_t schedule_count, int64_t seats_per_schedule, int64_t price)
{
    concert_catalog_schedule *schedules = calloc((size_t)schedule_count, sizeof(*schedules));
    const concert_catalog_seat_range range = { 1, seats_per_schedule, "R", price };
    const int64_t starts = concert_db_now(db) + 30 * DAY_MS;
    int rc = 0;

    if (!schedules) {
        bench_log("out of memory building schedules");
        return -1;
    }
    for (int64_t i = 0; i < schedule_count; i++) {
        schedules[i].id = first_schedule_id + i;
        schedules[i].starts_at = starts + i * 60000; /* distinct, ordered */
        schedules[i].seats = &range;
        schedules[i].seat_range_count = 1;
    }
    concert_catalog_concert concert = { concert_id, "Benchmark", CONCERT_STATUS_OPEN,
                                        0,          schedules,   (size_t)schedule_count };
    concert_catalog cat = { CONCERT_CATALOG_VERSION, NULL, 0, &concert, 1 };
    if (concert_catalog_load(db, &cat) != 0) {
        bench_log("loading concert %lld (%lld x %lld seats): %s", (long long)concert_id,
                  (long long)schedule_count, (long long)seats_per_schedule,
                  concert_error_last()->message);
        rc = -1;
    }
    free(schedules);
    return rc;
}
