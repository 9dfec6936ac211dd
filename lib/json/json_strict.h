/*
 * The one strict JSON reader: catalogs (concert_catalog_load_json()), and
 * concertd's request bodies and JWT headers and payloads, all come through
 * here. Internal to libconcert, exported for concertd and the CLI only: see
 * tools_export.h.
 *
 * json-c builds the tree; on its own it also accepts things RFC 8259 does
 * not (single quotes, raw control characters in strings, NaN, Infinity, "1.")
 * and silently keeps the last of two equal keys, so that
 * {"reservation_id": 1, "reservation_id": 2} pays for reservation 2. This
 * reader refuses all of those: exactly one JSON value of the expected type,
 * valid UTF-8 (no unpaired surrogate escapes), nesting bounded, nothing but
 * whitespace after it, no key twice in one object (keys compared decoded, as
 * json-c stores them).
 */
#ifndef CONCERT_LIB_JSON_STRICT_H
#define CONCERT_LIB_JSON_STRICT_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "tools_export.h"

#define json_strict_parse concert__json_strict_parse
#define json_strict_find_duplicate concert__json_strict_find_duplicate
#define json_strict_describe concert__json_strict_describe
#define json_strict_int concert__json_strict_int

/* The largest integer a JSON number carries exactly everywhere (2^53 - 1):
 * the bound for data other programs write (catalogs, JWT claims). */
#define JSON_STRICT_SAFE_INTEGER INT64_C(9007199254740991)

/* Deepest nesting any caller may ask for. */
#define JSON_STRICT_MAX_DEPTH 64

typedef enum json_strict_status {
    JSON_STRICT_OK = 0,
    JSON_STRICT_EMPTY,     /* no value at all (empty or only whitespace) */
    JSON_STRICT_NUL_BYTE,  /* a raw NUL byte, which JSON never contains */
    JSON_STRICT_SYNTAX,    /* not RFC 8259 JSON; offset and what say where and why */
    JSON_STRICT_DEPTH,     /* nested deeper than allowed; offset says where */
    JSON_STRICT_TRAILING,  /* data after the value; offset is its first byte */
    JSON_STRICT_TYPE,      /* valid JSON, but not the expected type */
    JSON_STRICT_DUPLICATE, /* a key repeated in one object; path names it */
    JSON_STRICT_TOO_LARGE, /* longer than json-c can take */
    JSON_STRICT_NOMEM
} json_strict_status;

/* Why a text was refused. */
typedef struct json_strict_error {
    json_strict_status status;
    size_t offset;    /* EMPTY (the length), SYNTAX, DEPTH, TRAILING: byte
                                offset in the text */
    const char *what; /* SYNTAX, DEPTH: static description, e.g. "unexpected character" */
    char path[192];   /* DUPLICATE: "users[1].name" (the repeated key last; control
                                characters as '?', cut to fit); else "" */
} json_strict_error;

/*
 * Parse text (len bytes, need not be NUL-terminated) as one JSON value of
 * type expected, nested at most max_depth (1 to JSON_STRICT_MAX_DEPTH) deep.
 * Returns 0 and *out (release it with json_object_put()), or -1 with
 * *out = NULL and err filled in.
 */
CONCERT__TOOLS_EXTERN int json_strict_parse(json_object **out, const char *text, size_t len,
                                            json_type expected, int max_depth,
                                            json_strict_error *err);

/*
 * Where text (already accepted by json-c) repeats a key in one object: the
 * first repeat in document order, written to path (see json_strict_error).
 * Returns 1 if found, 0 if none, -1 when out of memory.
 */
CONCERT__TOOLS_EXTERN int json_strict_find_duplicate(const char *text, size_t len, char *path,
                                                     size_t pathlen);

/* A short English sentence for err, e.g. "nested too deeply", for callers
 * that do not format their own (request bodies). Static text. */
CONCERT__TOOLS_EXTERN const char *json_strict_describe(const json_strict_error *err);

typedef enum json_int_status {
    JSON_INT_OK = 0,
    JSON_INT_NOT_INTEGER, /* absent value, null, a string, a fraction or exponent... */
    JSON_INT_OUT_OF_RANGE /* an integer outside [min, max] (json-c clamps huge ones:
                                they are out of range too) */
} json_int_status;

/*
 * value as an integer from min to max (within int64, where INT64_MIN and
 * INT64_MAX themselves count as out of range: json-c clamps larger numbers
 * to them). value may be NULL (then JSON_INT_NOT_INTEGER).
 */
CONCERT__TOOLS_EXTERN json_int_status json_strict_int(const json_object *value, int64_t min,
                                                      int64_t max, int64_t *out);

#endif
