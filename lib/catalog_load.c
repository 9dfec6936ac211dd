/*
 * Catalog loading: every rule about what a catalog may contain is checked
 * here, once, before the backend stores it all or nothing. Messages name the
 * offending place in the catalog ("concerts[0].schedules[1].seats[0].to").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct id_ref {
    int64_t id;
    size_t index; /* position in a flattened walk, for "also at" */
} id_ref;

static int utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        size_t len;
        uint32_t cp;
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f)
                return 0; /* control characters have no place in a name */
            i++;
            continue;
        }
        if ((c & 0xE0) == 0xC0) {
            len = 2;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (i + len > n)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += len;
    }
    return 1;
}

static int text_check(const char *text, size_t max_size, const char *path)
{
    size_t n;
    if (!text)
        return concert__error_set(CONCERT_EINVAL, "%s: missing", path);
    n = strnlen(text, max_size);
    if (n == 0)
        return concert__error_set(CONCERT_EINVAL, "%s: must not be empty", path);
    if (n >= max_size)
        return concert__error_set(CONCERT_EINVAL, "%s: longer than %zu bytes", path, max_size - 1);
    if (!utf8_valid(text, n))
        return concert__error_set(CONCERT_EINVAL, "%s: not valid UTF-8 text", path);
    return CONCERT_OK;
}

static int compare_ids(const void *a, const void *b)
{
    const id_ref *x = a, *y = b;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return x->index < y->index ? -1 : (x->index > y->index);
}

/* The first duplicate's position in walk order, or SIZE_MAX. */
static size_t find_duplicate(id_ref *ids, size_t n, int64_t *dup_id)
{
    size_t worst = SIZE_MAX;
    qsort(ids, n, sizeof(*ids), compare_ids);
    for (size_t i = 1; i < n; i++) {
        if (ids[i].id == ids[i - 1].id && ids[i].index < worst) {
            worst = ids[i].index;
            *dup_id = ids[i].id;
        }
    }
    return worst;
}

typedef struct range_ref {
    int64_t from, to;
    size_t index;
} range_ref;

static int compare_ranges(const void *a, const void *b)
{
    const range_ref *x = a, *y = b;
    if (x->from != y->from)
        return x->from < y->from ? -1 : 1;
    return x->index < y->index ? -1 : (x->index > y->index);
}

static int schedule_check(const concert_catalog_schedule *s, size_t ci, size_t si)
{
    char path[160];
    range_ref *ranges;
    int64_t seats = 0;
    int rc = CONCERT_OK;

    snprintf(path, sizeof(path), "concerts[%zu].schedules[%zu]", ci, si);
    if (s->id <= 0)
        return concert__error_set(CONCERT_EINVAL, "%s.id: must be >= 1", path);
    if (s->starts_at < 0)
        return concert__error_set(CONCERT_EINVAL, "%s.starts_at: before 1970", path);
    if (s->seat_range_count > 0 && !s->seats)
        return concert__error_set(CONCERT_EINVAL, "%s.seats: NULL with a count of %zu", path,
                                  s->seat_range_count);
    for (size_t r = 0; r < s->seat_range_count; r++) {
        const concert_catalog_seat_range *sr = &s->seats[r];
        char place[200];
        snprintf(place, sizeof(place), "%s.seats[%zu]", path, r);
        if (sr->from < 1)
            return concert__error_set(CONCERT_EINVAL, "%s.from: must be >= 1", place);
        if (sr->to < sr->from)
            return concert__error_set(CONCERT_EINVAL, "%s.to: must be >= from", place);
        if (sr->to - sr->from >= CONCERT_MAX_SEATS_PER_SCHEDULE ||
            (seats += sr->to - sr->from + 1) > CONCERT_MAX_SEATS_PER_SCHEDULE)
            return concert__error_set(CONCERT_EINVAL, "%s: more than %d seats in one schedule",
                                      place, CONCERT_MAX_SEATS_PER_SCHEDULE);
        if (sr->price < 0 || sr->price > CONCERT_MAX_BALANCE)
            return concert__error_set(CONCERT_EINVAL, "%s.price: must be 0 to %lld", place,
                                      (long long)CONCERT_MAX_BALANCE);
        snprintf(place + strlen(place), sizeof(place) - strlen(place), ".grade");
        if ((rc = text_check(sr->grade, CONCERT_GRADE_SIZE, place)) != 0)
            return rc;
    }
    if (s->seat_range_count < 2)
        return CONCERT_OK;
    ranges = malloc(s->seat_range_count * sizeof(*ranges));
    if (!ranges)
        return concert__error_set(CONCERT_ENOMEM, "out of memory checking %s", path);
    for (size_t r = 0; r < s->seat_range_count; r++) {
        ranges[r].from = s->seats[r].from;
        ranges[r].to = s->seats[r].to;
        ranges[r].index = r;
    }
    qsort(ranges, s->seat_range_count, sizeof(*ranges), compare_ranges);
    for (size_t r = 1; r < s->seat_range_count; r++) {
        if (ranges[r].from <= ranges[r - 1].to) {
            size_t later =
                ranges[r].index > ranges[r - 1].index ? ranges[r].index : ranges[r - 1].index;
            size_t earlier = ranges[r].index + ranges[r - 1].index - later;
            rc = concert__error_set(CONCERT_EINVAL, "%s.seats[%zu]: overlaps %s.seats[%zu]", path,
                                    later, path, earlier);
            break;
        }
    }
    free(ranges);
    return rc;
}

static int users_check(const concert_catalog *c)
{
    id_ref *ids;
    int64_t dup = 0;
    size_t at;
    int rc;

    if (c->user_count > 0 && !c->users)
        return concert__error_set(CONCERT_EINVAL, "users: NULL with a count of %zu", c->user_count);
    for (size_t i = 0; i < c->user_count; i++) {
        const concert_catalog_user *u = &c->users[i];
        char path[64];
        if (u->id <= 0)
            return concert__error_set(CONCERT_EINVAL, "users[%zu].id: must be >= 1", i);
        if (u->points < 0 || u->points > CONCERT_MAX_BALANCE)
            return concert__error_set(CONCERT_EINVAL, "users[%zu].points: must be 0 to %lld", i,
                                      (long long)CONCERT_MAX_BALANCE);
        snprintf(path, sizeof(path), "users[%zu].name", i);
        if ((rc = text_check(u->name, CONCERT_NAME_SIZE, path)) != 0)
            return rc;
    }
    if (c->user_count < 2)
        return CONCERT_OK;
    ids = malloc(c->user_count * sizeof(*ids));
    if (!ids)
        return concert__error_set(CONCERT_ENOMEM, "out of memory checking users");
    for (size_t i = 0; i < c->user_count; i++) {
        ids[i].id = c->users[i].id;
        ids[i].index = i;
    }
    at = find_duplicate(ids, c->user_count, &dup);
    free(ids);
    if (at != SIZE_MAX)
        return concert__error_set(CONCERT_EINVAL, "users[%zu].id: user %lld appears twice", at,
                                  (long long)dup);
    return CONCERT_OK;
}

static int concerts_check(const concert_catalog *c)
{
    size_t schedule_total = 0, k = 0, at;
    id_ref *ids;
    int64_t dup = 0;
    int rc;

    if (c->concert_count > 0 && !c->concerts)
        return concert__error_set(CONCERT_EINVAL, "concerts: NULL with a count of %zu",
                                  c->concert_count);
    for (size_t i = 0; i < c->concert_count; i++) {
        const concert_catalog_concert *cc = &c->concerts[i];
        char path[64];
        if (cc->id <= 0)
            return concert__error_set(CONCERT_EINVAL, "concerts[%zu].id: must be >= 1", i);
        snprintf(path, sizeof(path), "concerts[%zu].title", i);
        if ((rc = text_check(cc->title, CONCERT_TITLE_SIZE, path)) != 0)
            return rc;
        if (strcmp(concert_concert_status_name(cc->status), "UNKNOWN") == 0)
            return concert__error_set(CONCERT_EINVAL,
                                      "concerts[%zu].status: must be OPEN, PENDING or CLOSED", i);
        /* Version 1 named the field reserved: it had to be 0 there. */
        if (c->version < 2 && cc->max_per_user != 0)
            return concert__error_set(CONCERT_EINVAL, "concerts[%zu].reserved: must be 0", i);
        if (cc->max_per_user < 0 || cc->max_per_user > CONCERT_ORDER_MAX)
            return concert__error_set(CONCERT_EINVAL,
                                      "concerts[%zu].max_per_user: must be 0 (none) to %d", i,
                                      CONCERT_ORDER_MAX);
        if (cc->schedule_count > 0 && !cc->schedules)
            return concert__error_set(CONCERT_EINVAL,
                                      "concerts[%zu].schedules: NULL with a count of %zu", i,
                                      cc->schedule_count);
        for (size_t s = 0; s < cc->schedule_count; s++) {
            if ((rc = schedule_check(&cc->schedules[s], i, s)) != 0)
                return rc;
        }
        schedule_total += cc->schedule_count;
    }

    /* Concert ids, then schedule ids (unique across the whole catalog). */
    if (c->concert_count > 1) {
        ids = malloc(c->concert_count * sizeof(*ids));
        if (!ids)
            return concert__error_set(CONCERT_ENOMEM, "out of memory checking concerts");
        for (size_t i = 0; i < c->concert_count; i++) {
            ids[i].id = c->concerts[i].id;
            ids[i].index = i;
        }
        at = find_duplicate(ids, c->concert_count, &dup);
        free(ids);
        if (at != SIZE_MAX)
            return concert__error_set(
                CONCERT_EINVAL, "concerts[%zu].id: concert %lld appears twice", at, (long long)dup);
    }
    if (schedule_total < 2)
        return CONCERT_OK;
    ids = malloc(schedule_total * sizeof(*ids));
    if (!ids)
        return concert__error_set(CONCERT_ENOMEM, "out of memory checking schedules");
    for (size_t i = 0; i < c->concert_count; i++) {
        for (size_t s = 0; s < c->concerts[i].schedule_count; s++, k++) {
            ids[k].id = c->concerts[i].schedules[s].id;
            ids[k].index = k;
        }
    }
    at = find_duplicate(ids, schedule_total, &dup);
    free(ids);
    if (at != SIZE_MAX) {
        /* Translate the flat position back to its place. */
        for (size_t i = 0; i < c->concert_count; i++) {
            if (at < c->concerts[i].schedule_count)
                return concert__error_set(CONCERT_EINVAL,
                                          "concerts[%zu].schedules[%zu].id: schedule %lld "
                                          "appears twice",
                                          i, at, (long long)dup);
            at -= c->concerts[i].schedule_count;
        }
    }
    return CONCERT_OK;
}

/* Bytes of the caller's concert_catalog that version covers: the offset of
 * the first field the next version appended (fields are only appended), the
 * whole struct for the current one; 0 for a version this library does not
 * know. Version 2 changed a nested struct's field (reserved became
 * concert_catalog_concert.max_per_user), not this struct's size. */
static size_t catalog_size(unsigned int version)
{
    switch (version) {
    case 1:
    case 2:
        return sizeof(concert_catalog);
    default:
        return 0;
    }
}

int concert_catalog_load(concert_db *db, const concert_catalog *catalog)
{
    concert_catalog current;
    size_t size;
    int rc;
    if (!db || !catalog)
        return concert__error_set(CONCERT_EINVAL, "concert_catalog_load: NULL argument");
    size = catalog_size(catalog->version);
    if (size == 0)
        return concert__error_set(CONCERT_EINVAL,
                                  "catalog.version: %u is unknown (expected 1 to %u)",
                                  catalog->version, CONCERT_CATALOG_VERSION);
    /* Never read past an older caller's struct; fields it lacks stay zero.
     * The caller's version is kept: the checks read nested fields by it. */
    memset(&current, 0, sizeof(current));
    memcpy(&current, catalog, size);
    if ((rc = users_check(&current)) != 0 || (rc = concerts_check(&current)) != 0)
        return rc;
    return concert__st_catalog_load(db, &current, concert__now(db));
}
