/* Read-only screens: concerts, schedules and the text seat map. */
#include "kiosk.h"

#include <stdio.h>
#include <time.h>

/* Seats per printed row of the map: 16 characters each fit an 80-column counter screen. */
#define MAP_COLUMNS 4

int kiosk_show_concerts(kiosk *k)
{
    if (kiosk_token(k) < 0)
        return -1;
    concert_concert_list *list = NULL;
    if (concert_concert_list_get(&list, k->db, k->token) < 0)
        return kiosk_fail("concerts");
    if (list->count == 0)
        printf("no concerts on sale\n");
    for (size_t i = 0; i < list->count; i++)
        printf("concert %lld  %s\n", (long long)list->items[i].id, list->items[i].title);
    concert_concert_list_free(list);
    return 0;
}

static void format_time(char *buf, size_t size, int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(buf, size, "%Y-%m-%d %H:%M UTC", &tm) == 0)
        snprintf(buf, size, "%lld ms", (long long)ms);
}

int kiosk_show_schedules(kiosk *k, int64_t concert_id)
{
    if (kiosk_token(k) < 0)
        return -1;
    concert_schedule_list *list = NULL;
    if (concert_schedule_list_get(&list, k->db, k->token, concert_id) < 0)
        return kiosk_fail("schedules");
    if (list->count == 0)
        printf("no schedules\n");
    for (size_t i = 0; i < list->count; i++) {
        char when[64];
        format_time(when, sizeof when, list->items[i].starts_at);
        printf("schedule %lld  %s  %lld seats free\n", (long long)list->items[i].id, when,
               (long long)list->items[i].available_seats);
    }
    concert_schedule_list_free(list);
    return 0;
}

static char seat_mark(int32_t status)
{
    switch (status) {
    case CONCERT_SEAT_FREE:
        return '.';
    case CONCERT_SEAT_HELD:
        return 'h';
    case CONCERT_SEAT_SOLD:
        return 'X';
    default:
        return '?';
    }
}

int kiosk_show_map(kiosk *k, int64_t schedule_id)
{
    if (kiosk_token(k) < 0)
        return -1;
    concert_seat_map *map = NULL;
    if (concert_seat_map_get(&map, k->db, k->token, schedule_id) < 0)
        return kiosk_fail("map");
    printf("seat map of schedule %lld  (. free  h held  X sold)\n", (long long)schedule_id);
    for (size_t i = 0; i < map->count; i++) {
        const concert_seat_state *s = &map->items[i];
        printf(" %4lld%c%-4s%6lld", (long long)s->seat.number, seat_mark(s->status), s->seat.grade,
               (long long)s->seat.price);
        if ((i + 1) % MAP_COLUMNS == 0 || i + 1 == map->count)
            printf("\n");
    }
    concert_seat_map_free(map);
    return 0;
}
