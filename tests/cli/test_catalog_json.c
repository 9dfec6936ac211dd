/*
 * catalog_json_parse: the issue's example is accepted and read exactly;
 * each kind of bad input is refused with the offending place named.
 * Links only json-c and the reader's sources, lib/json/ (no store needed).
 */
#include "catalog_parse.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char issue_example[] =
    "{\"users\":    [{\"id\": 1, \"name\": \"Kim\", \"points\": 0}],\n"
    " \"concerts\": [{\"id\": 1, \"title\": \"...\", \"status\": \"OPEN\",\n"
    "               \"schedules\": [{\"id\": 10, \"starts_at\": \"2026-12-24T19:00:00Z\",\n"
    "                              \"seats\": [{\"from\": 1, \"to\": 50, \"grade\": \"R\", "
    "\"price\": 80000}]}]}]}\n";

Test(catalog_json, accepts_the_issue_example)
{
    catalog_doc *doc = NULL;
    char err[256] = "unset";
    cr_assert_eq(catalog_json_parse(&doc, issue_example, strlen(issue_example), err, sizeof err), 0,
                 "%s", err);
    cr_expect_str_eq(err, "");
    const concert_catalog *c = catalog_doc_catalog(doc);
    cr_assert_not_null(c);
    cr_expect_eq(c->version, CONCERT_CATALOG_VERSION);
    cr_assert_eq(c->user_count, 1);
    cr_expect_eq(c->users[0].id, 1);
    cr_expect_str_eq(c->users[0].name, "Kim");
    cr_expect_eq(c->users[0].points, 0);
    cr_assert_eq(c->concert_count, 1);
    const concert_catalog_concert *k = &c->concerts[0];
    cr_expect_eq(k->id, 1);
    cr_expect_str_eq(k->title, "...");
    cr_expect_eq(k->status, CONCERT_STATUS_OPEN);
    cr_assert_eq(k->schedule_count, 1);
    cr_expect_eq(k->schedules[0].id, 10);
    cr_expect_eq(k->schedules[0].starts_at, INT64_C(1798138800000));
    cr_assert_eq(k->schedules[0].seat_range_count, 1);
    const concert_catalog_seat_range *r = &k->schedules[0].seats[0];
    cr_expect_eq(r->from, 1);
    cr_expect_eq(r->to, 50);
    cr_expect_str_eq(r->grade, "R");
    cr_expect_eq(r->price, 80000);
    catalog_doc_free(doc);
}

Test(catalog_json, text_need_not_be_nul_terminated)
{
    /* Parse a prefix of a longer buffer: the rest must not be read. */
    const char text[] = "{\"users\":[]}GARBAGE";
    catalog_doc *doc = NULL;
    char err[128];
    cr_expect_eq(catalog_json_parse(&doc, text, 12, err, sizeof err), 0, "%s", err);
    catalog_doc_free(doc);
}

Test(catalog_json, optional_parts_default_to_empty)
{
    const char *text =
        "{\"users\":[{\"id\":7,\"name\":\"Lee\"}],"
        "\"concerts\":[{\"id\":2,\"title\":\"T\",\"status\":\"PENDING\"},"
        "{\"id\":3,\"title\":\"U\",\"status\":\"CLOSED\","
        "\"schedules\":[{\"id\":4,\"starts_at\":\"2026-01-01T00:00:00.5+09:00\"}]}]}";
    catalog_doc *doc = NULL;
    char err[256];
    cr_assert_eq(catalog_json_parse(&doc, text, strlen(text), err, sizeof err), 0, "%s", err);
    const concert_catalog *c = catalog_doc_catalog(doc);
    cr_expect_eq(c->users[0].points, 0);
    cr_expect_eq(c->concerts[0].status, CONCERT_STATUS_PENDING);
    cr_expect_eq(c->concerts[0].schedule_count, 0);
    cr_expect_eq(c->concerts[1].status, CONCERT_STATUS_CLOSED);
    cr_expect_eq(c->concerts[1].schedules[0].seat_range_count, 0);
    cr_expect_eq(c->concerts[1].schedules[0].starts_at, INT64_C(1767193200500));
    catalog_doc_free(doc);

    cr_assert_eq(catalog_json_parse(&doc, "{}", 2, err, sizeof err), 0, "%s", err);
    cr_expect_eq(catalog_doc_catalog(doc)->user_count, 0);
    cr_expect_eq(catalog_doc_catalog(doc)->concert_count, 0);
    catalog_doc_free(doc);
}

/* Values the parser passes through for the core to judge: it must not
 * duplicate the core's rules (to < from, id 0, negative price). */
Test(catalog_json, leaves_value_rules_to_the_core)
{
    const char *text = "{\"users\":[{\"id\":0,\"name\":\"\",\"points\":-5}],"
                       "\"concerts\":[{\"id\":-1,\"title\":\"\",\"status\":\"OPEN\","
                       "\"schedules\":[{\"id\":1,\"starts_at\":\"2026-01-01T00:00:00Z\","
                       "\"seats\":[{\"from\":9,\"to\":1,\"grade\":\"\",\"price\":-1}]}]}]}";
    catalog_doc *doc = NULL;
    char err[256];
    cr_assert_eq(catalog_json_parse(&doc, text, strlen(text), err, sizeof err), 0, "%s", err);
    const concert_catalog *c = catalog_doc_catalog(doc);
    cr_expect_eq(c->concerts[0].schedules[0].seats[0].to, 1);
    cr_expect_eq(c->concerts[0].schedules[0].seats[0].price, -1);
    catalog_doc_free(doc);
}

typedef struct bad_case {
    const char *text;
    const char *message; /* the whole expected message */
} bad_case;

/* A valid concert whose one seat range is replaced by SEAT. */
#define WITH_SEAT(SEAT)                                                                            \
    "{\"concerts\":[{\"id\":1,\"title\":\"t\",\"status\":\"OPEN\",\"schedules\":["                 \
    "{\"id\":10,\"starts_at\":\"2026-12-24T19:00:00Z\",\"seats\":[]},"                             \
    "{\"id\":11,\"starts_at\":\"2026-12-24T19:00:00Z\",\"seats\":[" SEAT "]}]}]}"

static const bad_case bad_cases[] = {
    /* syntax */
    { "", "catalog: not valid JSON at line 1, column 1: unexpected end of data" },
    { "{\"users\":[]", "catalog: not valid JSON at line 1, column 12: unexpected end of data" },
    { "{}\n{}", "catalog: not valid JSON at line 2, column 1: unexpected character" },
    { "{\"users\":[],}", "catalog: not valid JSON at line 1, column 13: unexpected character" },
    { "{'users':[]}", "catalog: not valid JSON at line 1, column 2: single quotes are not JSON" },
    { "{\"users\":[{\"id\":1,\"name\":\"a\tb\"}]}",
      "catalog: not valid JSON at line 1, column 28: control character in a string (escape it)" },
    { "{\"users\":[{\"id\":1,\"name\":\"\xff\"}]}",
      "catalog: not valid JSON at line 1, column 27: invalid utf-8 string" },
    { "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
      "catalog: not valid JSON at line 1, column 17: nesting too deep" },
    /* shape */
    { "[]", "catalog: must be a JSON object with \"users\" and \"concerts\"" },
    { "{\"venue\":1}", "venue: unknown key" },
    { "{\"users\":{}}", "users: must be an array" },
    { "{\"concerts\":null}", "concerts: must be an array" },
    { "{\"users\":[1]}", "users[0]: must be an object" },
    { "{\"users\":[{\"id\":1,\"name\":\"a\"},{\"id\":2,\"name\":\"b\",\"email\":\"x\"}]}",
      "users[1].email: unknown key" },
    /* required fields and types */
    { "{\"users\":[{\"name\":\"a\"}]}", "users[0].id: is required" },
    { "{\"users\":[{\"id\":1}]}", "users[0].name: is required" },
    { "{\"users\":[{\"id\":\"1\",\"name\":\"a\"}]}", "users[0].id: must be an integer" },
    { "{\"users\":[{\"id\":1.0,\"name\":\"a\"}]}", "users[0].id: must be an integer" },
    { "{\"users\":[{\"id\":1e3,\"name\":\"a\"}]}", "users[0].id: must be an integer" },
    { "{\"users\":[{\"id\":true,\"name\":\"a\"}]}", "users[0].id: must be an integer" },
    { "{\"users\":[{\"id\":1,\"name\":7}]}", "users[0].name: must be a string" },
    { "{\"users\":[{\"id\":1,\"name\":null}]}", "users[0].name: must be a string" },
    { "{\"users\":[{\"id\":1,\"name\":\"a\\u0000b\"}]}",
      "users[0].name: must not contain NUL characters" },
    { "{\"users\":[{\"id\":1,\"name\":\"a\",\"points\":null}]}",
      "users[0].points: must be an integer" },
    /* out of range integers, including ones json-c would clamp */
    { "{\"users\":[{\"id\":1,\"name\":\"a\",\"points\":9007199254740992}]}",
      "users[0].points: must be an integer from -9007199254740991 to 9007199254740991" },
    { "{\"users\":[{\"id\":99999999999999999999,\"name\":\"a\"}]}",
      "users[0].id: must be an integer from -9007199254740991 to 9007199254740991" },
    { "{\"users\":[{\"id\":-99999999999999999999,\"name\":\"a\"}]}",
      "users[0].id: must be an integer from -9007199254740991 to 9007199254740991" },
    { "{\"users\":[{\"id\":18446744073709551615,\"name\":\"a\"}]}",
      "users[0].id: must be an integer from -9007199254740991 to 9007199254740991" },
    /* concerts */
    { "{\"concerts\":[{\"id\":1,\"title\":\"t\"}]}", "concerts[0].status: is required" },
    { "{\"concerts\":[{\"id\":1,\"title\":\"t\",\"status\":\"open\"}]}",
      "concerts[0].status: must be one of OPEN, PENDING, CLOSED" },
    { "{\"concerts\":[{\"id\":1,\"title\":\"t\",\"status\":\"SOLD_OUT\"}]}",
      "concerts[0].status: must be one of OPEN, PENDING, CLOSED" },
    { "{\"concerts\":[{\"id\":1,\"title\":\"t\",\"status\":\"OPEN\",\"schedules\":{}}]}",
      "concerts[0].schedules: must be an array" },
    /* schedules */
    { "{\"concerts\":[{\"id\":1,\"title\":\"t\",\"status\":\"OPEN\",\"schedules\":[{\"id\":1}]}]}",
      "concerts[0].schedules[0].starts_at: is required" },
    { "{\"concerts\":[{\"id\":1,\"title\":\"t\",\"status\":\"OPEN\",\"schedules\":[{\"id\":1,"
      "\"start_at\":\"2026-12-24T19:00:00Z\"}]}]}",
      "concerts[0].schedules[0].start_at: unknown key" },
    { "{\"concerts\":[{\"id\":1,\"title\":\"t\",\"status\":\"OPEN\",\"schedules\":[{\"id\":1,"
      "\"starts_at\":\"2026-02-30T19:00:00Z\"}]}]}",
      "concerts[0].schedules[0].starts_at: not an RFC 3339 time (e.g. 2026-12-24T19:00:00Z)" },
    { "{\"concerts\":[{\"id\":1,\"title\":\"t\",\"status\":\"OPEN\",\"schedules\":[{\"id\":1,"
      "\"starts_at\":1798138800000}]}]}",
      "concerts[0].schedules[0].starts_at: must be a string" },
    /* seat ranges, at schedules[1].seats[0] as in the issue */
    { WITH_SEAT("{\"from\":1,\"grade\":\"R\",\"price\":1}"),
      "concerts[0].schedules[1].seats[0].to: is required" },
    { WITH_SEAT("{\"from\":1,\"to\":\"50\",\"grade\":\"R\",\"price\":1}"),
      "concerts[0].schedules[1].seats[0].to: must be an integer" },
    { WITH_SEAT("{\"from\":1,\"to\":2,\"grade\":\"R\",\"price\":1.5}"),
      "concerts[0].schedules[1].seats[0].price: must be an integer" },
    { WITH_SEAT("{\"from\":1,\"to\":2,\"grade\":[\"R\"],\"price\":1}"),
      "concerts[0].schedules[1].seats[0].grade: must be a string" },
    { WITH_SEAT("{\"from\":1,\"to\":2,\"grade\":\"R\",\"price\":1,\"\\u0001x\":2}"),
      "concerts[0].schedules[1].seats[0].?x: unknown key" },
    { WITH_SEAT("[1,2]"), "concerts[0].schedules[1].seats[0]: must be an object" },
    /* repeated keys, which json-c alone would resolve silently (last wins) */
    { "{\"users\":[],\"users\":[]}", "users: duplicate key" },
    { "{\"users\":[{\"id\":1,\"name\":\"a\",\"id\":2}]}", "users[0].id: duplicate key" },
    { WITH_SEAT("{\"from\":1,\"to\":2,\"grade\":\"R\",\"price\":100,\"price\":1}"),
      "concerts[0].schedules[1].seats[0].price: duplicate key" },
    { "{\"users\":[{\"id\":1,\"name\":\"a\"},{\"id\":2,\"name\":\"b\",\"name\":\"c\"}]}",
      "users[1].name: duplicate key" },
};

Test(catalog_json, rejects_bad_input_naming_the_place)
{
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const bad_case *c = &bad_cases[i];
        catalog_doc *doc = (catalog_doc *)&bad_cases; /* must be reset to NULL */
        char err[256] = "";
        const int rc = catalog_json_parse(&doc, c->text, strlen(c->text), err, sizeof err);
        cr_expect_eq(rc, CONCERT_EINVAL, "case %zu accepted: %s", i, c->text);
        cr_expect_null(doc, "case %zu: *out not NULL", i);
        cr_expect_str_eq(err, c->message, "case %zu: %s", i, c->text);
    }
}

Test(catalog_json, first_error_wins_in_document_order)
{
    const char *text = "{\"users\":[{\"id\":1,\"name\":\"a\"},{\"id\":\"x\",\"name\":\"b\"}],"
                       "\"concerts\":[{\"id\":1}]}";
    catalog_doc *doc;
    char err[256];
    cr_expect_eq(catalog_json_parse(&doc, text, strlen(text), err, sizeof err), CONCERT_EINVAL);
    cr_expect_str_eq(err, "users[1].id: must be an integer");
}

Test(catalog_json, rejects_embedded_nul_and_handles_small_buffers)
{
    const char text[] = "{\"users\":[]}\0{}";
    catalog_doc *doc;
    char err[256];
    cr_expect_eq(catalog_json_parse(&doc, text, sizeof text - 1, err, sizeof err), CONCERT_EINVAL);
    cr_expect_str_eq(err, "catalog: not valid JSON (contains a NUL byte)");

    /* A short message buffer truncates, terminated; NULL is allowed. */
    char tiny[8];
    cr_expect_eq(catalog_json_parse(&doc, "[]", 2, tiny, sizeof tiny), CONCERT_EINVAL);
    cr_expect_str_eq(tiny, "catalog");
    cr_expect_eq(catalog_json_parse(&doc, "[]", 2, NULL, 0), CONCERT_EINVAL);
    cr_expect_eq(catalog_json_parse(NULL, "{}", 2, NULL, 0), CONCERT_EINVAL);
    catalog_doc_free(NULL);
    cr_expect_null(catalog_doc_catalog(NULL));
}

Test(catalog_json, hostile_keys_are_quoted_briefly)
{
    char text[1024];
    char key[600];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    const int n = snprintf(text, sizeof text, "{\"%s\":1}", key);
    cr_assert(n > 0 && (size_t)n < sizeof text);
    catalog_doc *doc;
    char err[256];
    cr_expect_eq(catalog_json_parse(&doc, text, (size_t)n, err, sizeof err), CONCERT_EINVAL);
    cr_expect_eq(strlen(err), 64 + strlen(": unknown key"), "%s", err);
}

Test(catalog_json, equal_keys_in_different_objects_are_fine)
{
    /* Same key names at several levels and in sibling objects; brackets,
     * commas and escaped quotes inside strings must not confuse the scan. */
    const char *text =
        "{\"users\":[{\"id\":1,\"name\":\"a,\\\"}{[\"},{\"id\":2,\"name\":\"id\"}],"
        "\"concerts\":[{\"id\":1,\"title\":\"[id]\",\"status\":\"OPEN\","
        "\"schedules\":[{\"id\":1,\"starts_at\":\"2026-01-01T00:00:00Z\",\"seats\":[]},"
        "{\"id\":2,\"starts_at\":\"2026-01-01T00:00:00Z\"}]}]}";
    catalog_doc *doc;
    char err[256];
    cr_assert_eq(catalog_json_parse(&doc, text, strlen(text), err, sizeof err), 0, "%s", err);
    cr_expect_str_eq(catalog_doc_catalog(doc)->users[0].name, "a,\"}{[");
    catalog_doc_free(doc);
}

Test(catalog_json, many_items)
{
    /* 2000 users: arrays grow past any initial size. */
    size_t cap = 2000 * 64 + 64, len = 0;
    char *text = malloc(cap);
    cr_assert_not_null(text);
    len += (size_t)snprintf(text + len, cap - len, "{\"users\":[");
    for (int i = 1; i <= 2000; i++)
        len +=
            (size_t)snprintf(text + len, cap - len, "%s{\"id\":%d,\"name\":\"u%d\",\"points\":%d}",
                             i > 1 ? "," : "", i, i, i * 10);
    len += (size_t)snprintf(text + len, cap - len, "]}");
    cr_assert_lt(len, cap);
    catalog_doc *doc;
    char err[256];
    cr_assert_eq(catalog_json_parse(&doc, text, len, err, sizeof err), 0, "%s", err);
    const concert_catalog *c = catalog_doc_catalog(doc);
    cr_expect_eq(c->user_count, 2000);
    cr_expect_eq(c->users[1999].id, 2000);
    cr_expect_eq(c->users[1999].points, 20000);
    cr_expect_str_eq(c->users[1999].name, "u2000");
    catalog_doc_free(doc);
    free(text);
}
