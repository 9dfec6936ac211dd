/*
 * concert_catalog_load_json(): the library's one catalog reader, on every
 * store. A good catalog lands as written (times with offsets and fractions
 * included); a bad one is refused with the place named and changes nothing.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "harness.h"

TestSuite(catalog_json, .init = setup_store_with_catalog, .fini = teardown_store);

static int load_text(const char *text)
{
    return concert_catalog_load_json(db, text, strlen(text));
}

static int user_balance(int64_t id, int64_t *balance)
{
    concert_user_list *list = NULL;
    int found = 0;
    expect_ok(concert_admin_user_list_get(&list, db));
    for (size_t i = 0; i < list->count; i++)
        if (list->items[i].id == id) {
            *balance = list->items[i].balance;
            found = 1;
        }
    concert_user_list_free(list);
    return found;
}

static size_t user_count(void)
{
    concert_user_list *list = NULL;
    expect_ok(concert_admin_user_list_get(&list, db));
    const size_t n = list->count;
    concert_user_list_free(list);
    return n;
}

static size_t concert_count(void)
{
    concert_concert_list *list = NULL;
    expect_ok(concert_admin_concert_list_get(&list, db));
    const size_t n = list->count;
    concert_concert_list_free(list);
    return n;
}

Test(catalog_json, a_catalog_lands_as_written)
{
    static const char text[] =
        "{\"users\": [{\"id\": 200, \"name\": \"Yuna\", \"points\": 7000},\n"
        "            {\"id\": 201, \"name\": \"Min\"}],\n"
        " \"concerts\": [{\"id\": 200, \"title\": \"Jazz Night\", \"status\": \"OPEN\",\n"
        "                \"max_per_user\": 3,\n"
        "                \"schedules\": [\n"
        "                  {\"id\": 2000, \"starts_at\": \"2027-01-16T09:30:00+01:00\",\n"
        "                   \"seats\": [{\"from\": 1, \"to\": 4, \"grade\": \"R\", \"price\": "
        "5000},\n"
        "                             {\"from\": 5, \"to\": 6, \"grade\": \"VIP\", \"price\": "
        "9000}]},\n"
        "                  {\"id\": 2001, \"starts_at\": \"2027-01-17T08:00:00.250Z\"}]}]}";
    /* Garbage after len must never be read: the text need not end in NUL. */
    char buffer[sizeof text + 8];
    memcpy(buffer, text, sizeof text - 1);
    memcpy(buffer + sizeof text - 1, "}}}\"xx\0", 8);
    expect_ok(concert_catalog_load_json(db, buffer, sizeof text - 1));

    int64_t balance = -1;
    cr_assert(user_balance(200, &balance), "user 200 was not loaded");
    cr_assert_eq(balance, 7000);
    cr_assert(user_balance(201, &balance), "user 201 was not loaded");
    cr_assert_eq(balance, 0, "points default to 0");

    concert_concert_list *concerts = NULL;
    expect_ok(concert_admin_concert_list_get(&concerts, db));
    const concert_concert *jazz = NULL;
    for (size_t i = 0; i < concerts->count; i++)
        if (concerts->items[i].id == 200)
            jazz = &concerts->items[i];
    cr_assert_not_null(jazz, "concert 200 was not loaded");
    cr_assert_str_eq(jazz->title, "Jazz Night");
    cr_assert_eq(jazz->status, CONCERT_STATUS_OPEN);
    cr_assert_eq(jazz->max_per_user, 3);
    concert_concert_list_free(concerts);

    concert_token_info t;
    concert_schedule_list *schedules = NULL;
    issue_active(1, &t);
    expect_ok(concert_schedule_list_get(&schedules, db, t.token, 200));
    cr_assert_eq(schedules->count, 2);
    cr_assert_eq(schedules->items[0].id, 2000);
    cr_assert_eq(schedules->items[0].starts_at, T0 + DAY + 30 * MINUTE,
                 "09:30 at +01:00 is 08:30 UTC");
    cr_assert_eq(schedules->items[0].available_seats, 6);
    cr_assert_eq(schedules->items[1].id, 2001);
    cr_assert_eq(schedules->items[1].starts_at, T0 + 2 * DAY + 250);
    cr_assert_eq(schedules->items[1].available_seats, 0);
    concert_schedule_list_free(schedules);

    concert_seat_list *seats = NULL;
    expect_ok(concert_seats_available(&seats, db, t.token, 2000));
    cr_assert_eq(seats->count, 6);
    cr_assert_eq(seats->items[0].number, 1);
    cr_assert_str_eq(seats->items[0].grade, "R");
    cr_assert_eq(seats->items[0].price, 5000);
    cr_assert_eq(seats->items[5].number, 6);
    cr_assert_str_eq(seats->items[5].grade, "VIP");
    cr_assert_eq(seats->items[5].price, 9000);
    concert_seat_list_free(seats);
}

Test(catalog_json, an_empty_object_loads_nothing)
{
    const size_t users = user_count(), concerts = concert_count();
    expect_ok(load_text("{}"));
    expect_ok(load_text(" {\"users\": [], \"concerts\": []} \n"));
    cr_assert_eq(user_count(), users);
    cr_assert_eq(concert_count(), concerts);
}

typedef struct bad_catalog {
    const char *why;
    const char *text;
    int code;
    const char *message; /* must appear in concert_error_last() */
} bad_catalog;

/* Each starts with a good user 300 and concert 300, which must not land. */
#define GOOD_USER "{\"id\": 300, \"name\": \"New\", \"points\": 5}"
#define GOOD_SCHEDULE                                                                              \
    "{\"id\": 3000, \"starts_at\": \"2027-02-01T19:00:00Z\","                                      \
    " \"seats\": [{\"from\": 1, \"to\": 9, \"grade\": \"R\", \"price\": 100}]}"

static const bad_catalog bad_catalogs[] = {
    { "not JSON", "{\"users\": [" GOOD_USER ",]}", CONCERT_EINVAL,
      "catalog: not valid JSON at line 1" },
    { "single quotes", "{'users': []}", CONCERT_EINVAL, "catalog: not valid JSON" },
    { "a second document", "{} {}", CONCERT_EINVAL, "catalog: not valid JSON at line 1, column 4" },
    { "not an object", "[]", CONCERT_EINVAL, "catalog: must be a JSON object" },
    { "empty", "", CONCERT_EINVAL, "catalog: not valid JSON" },
    { "unknown key", "{\"users\": [" GOOD_USER ", {\"id\": 301, \"name\": \"B\", \"pionts\": 5}]}",
      CONCERT_EINVAL, "users[1].pionts: unknown key" },
    { "unknown key at the root", "{\"users\": [" GOOD_USER "], \"concert\": []}", CONCERT_EINVAL,
      "concert: unknown key" },
    { "duplicate key",
      "{\"users\": [" GOOD_USER ", {\"id\": 301, \"name\": \"B\", \"name\": \"C\"}]}",
      CONCERT_EINVAL, "users[1].name: duplicate key" },
    { "bad time",
      "{\"users\": [" GOOD_USER "], \"concerts\": [{\"id\": 300, \"title\": \"T\", \"status\": "
      "\"OPEN\", \"schedules\": [" GOOD_SCHEDULE ", {\"id\": 3001, \"starts_at\": "
      "\"2027-02-01 19:00:00Z\"}]}]}",
      CONCERT_EINVAL, "concerts[0].schedules[1].starts_at: not an RFC 3339 time" },
    { "time without a zone",
      "{\"concerts\": [{\"id\": 300, \"title\": \"T\", \"status\": \"OPEN\", \"schedules\": "
      "[{\"id\": 3001, \"starts_at\": \"2027-02-01T19:00:00\"}]}]}",
      CONCERT_EINVAL, "concerts[0].schedules[0].starts_at: not an RFC 3339 time" },
    { "fractional id", "{\"users\": [{\"id\": 300.5, \"name\": \"A\"}]}", CONCERT_EINVAL,
      "users[0].id: must be an integer" },
    { "unknown status", "{\"concerts\": [{\"id\": 300, \"title\": \"T\", \"status\": \"open\"}]}",
      CONCERT_EINVAL, "concerts[0].status: must be one of OPEN, PENDING, CLOSED" },
    { "seat range backwards (the library's rule)",
      "{\"users\": [" GOOD_USER "], \"concerts\": [{\"id\": 300, \"title\": \"T\", \"status\": "
      "\"OPEN\", \"schedules\": [{\"id\": 3000, \"starts_at\": \"2027-02-01T19:00:00Z\", "
      "\"seats\": [{\"from\": 9, \"to\": 1, \"grade\": \"R\", \"price\": 100}]}]}]}",
      CONCERT_EINVAL, "concerts[0].schedules[0].seats[0].to: must be >= from" },
    { "id 0 (the library's rule)", "{\"users\": [" GOOD_USER ", {\"id\": 0, \"name\": \"Z\"}]}",
      CONCERT_EINVAL, "users[1].id: must be >= 1" },
    { "an id already in the store", "{\"users\": [" GOOD_USER ", {\"id\": 2, \"name\": \"Lee\"}]}",
      CONCERT_ECONFLICT, "users[1].id" },
};

Test(catalog_json, a_bad_catalog_names_the_place_and_changes_nothing)
{
    const size_t users = user_count(), concerts = concert_count();
    for (size_t i = 0; i < sizeof bad_catalogs / sizeof bad_catalogs[0]; i++) {
        const bad_catalog *bad = &bad_catalogs[i];
        const int rc = load_text(bad->text);
        cr_assert_eq(rc, bad->code, "%s: expected %s, got %s: %s", bad->why,
                     concert_error_name(bad->code), concert_error_name(rc),
                     concert_error_last()->message);
        cr_assert(strstr(concert_error_last()->message, bad->message) != NULL,
                  "%s: message \"%s\" should contain \"%s\"", bad->why,
                  concert_error_last()->message, bad->message);
        int64_t balance;
        cr_assert(!user_balance(300, &balance), "%s: user 300 landed", bad->why);
        cr_assert_eq(user_count(), users, "%s: a refused catalog changed the users", bad->why);
        cr_assert_eq(concert_count(), concerts, "%s: a refused catalog changed the concerts",
                     bad->why);
    }
}

Test(catalog_json, null_arguments_are_errors)
{
    expect_rc(concert_catalog_load_json(NULL, "{}", 2), CONCERT_EINVAL);
    expect_rc(concert_catalog_load_json(db, NULL, 5), CONCERT_EINVAL);
    /* NULL with length 0 is the empty text: not a catalog. */
    expect_rc(concert_catalog_load_json(db, NULL, 0), CONCERT_EINVAL);
    cr_assert(strstr(concert_error_last()->message, "catalog:") != NULL, "%s",
              concert_error_last()->message);
}
