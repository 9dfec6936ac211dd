/*
 * Catalog JSON <-> concert_catalog, shared by concertd (--import, --demo) and
 * the concert CLI (import). Format:
 *
 * {"users":    [{"id": 1, "name": "Kim", "points": 0}],
 *  "concerts": [{"id": 1, "title": "...", "status": "OPEN",
 *                "schedules": [{"id": 10, "starts_at": "2026-12-24T19:00:00Z",
 *                               "seats": [{"from": 1, "to": 50, "grade": "R",
 *                                          "price": 80000}]}]}]}
 */
#ifndef CONCERT_EXAMPLES_CATALOG_JSON_H
#define CONCERT_EXAMPLES_CATALOG_JSON_H

#include <concert/concert.h>

/*
 * What the parser checks (JSON shape and types only; every rule about the
 * values, such as ids >= 1, to >= from, overlaps, duplicate ids, text
 * lengths, is concert_catalog_load()'s and named there in the same form):
 *  - strict RFC 8259 JSON: valid UTF-8, no single quotes, no raw control
 *    characters in strings, no trailing text, nesting at most 16 deep;
 *  - the root is an object; "users" and "concerts" are arrays (absent = []);
 *    "schedules" and "seats" likewise;
 *  - required: users[].id, .name; concerts[].id, .title, .status;
 *    schedules[].id, .starts_at; seats[].from, .to, .grade, .price;
 *    optional: users[].points (default 0);
 *  - integers are JSON integers (no fraction or exponent) within
 *    +-(2^53 - 1); strings contain no NUL; status is OPEN, PENDING or CLOSED;
 *    starts_at is RFC 3339 (see timefmt_parse);
 *  - unknown keys are errors, so that a typo never drops a field silently;
 *  - a key repeated in one object is an error (json-c would keep the last).
 */

/* A parsed catalog; owns every string and array the catalog points into. */
typedef struct catalog_doc catalog_doc;

/*
 * Parse text (len bytes, need not be NUL-terminated; never reads a file).
 * On success *out is the caller's, to free with catalog_doc_free().
 * On failure *out = NULL and it returns CONCERT_EINVAL with err naming the
 * place ("concerts[0].schedules[1].starts_at: not an RFC 3339 time ..."),
 * or CONCERT_ENOMEM. err (errlen bytes, may be NULL) is always terminated.
 */
int catalog_json_parse(catalog_doc **out, const char *text, size_t len, char *err,
                       size_t errlen);

/* The catalog inside doc, valid until catalog_doc_free(doc); NULL for NULL. */
const concert_catalog *catalog_doc_catalog(const catalog_doc *doc);

/* Free doc and everything its catalog points to. NULL is a no-op. */
void catalog_doc_free(catalog_doc *doc);

/*
 * Read all of path ("-" for stdin, at most 64 MiB) into *text (malloc'ed,
 * NUL-terminated, the caller frees it) and its length into *len. Returns 0,
 * or CONCERT_EINVAL (cannot open or read, too large) / CONCERT_ENOMEM with
 * err set to e.g. "cannot open x.json: No such file or directory".
 */
int catalog_json_read_file(const char *path, char **text, size_t *len, char *err, size_t errlen);

/*
 * Read path ("-" for stdin, at most 64 MiB), parse, and concert_catalog_load()
 * it, all or nothing. Returns 0 or the libconcert code (CONCERT_EINVAL also
 * for a file that cannot be read); err gets the reader's, the parser's or
 * the library's message.
 */
int catalog_json_load_file(concert_db *db, const char *path, char *err, size_t errlen);

/*
 * Load the built-in demo catalog if the store has no users and no concerts
 * (see demo_catalog.c for its content). Schedule times are relative to db's
 * clock: concerts OPEN, PENDING and CLOSED, schedules past and future,
 * graded seats, users with and without points (user 1: 500000, user 2: 0).
 * *loaded (may be NULL) is set to 1 if it loaded, 0 if the store had data
 * (also when another process loaded it concurrently). Returns 0 or a
 * libconcert code with err (may be NULL) set.
 */
int catalog_demo_load_if_empty(concert_db *db, int *loaded, char *err, size_t errlen);

#endif
