/*
 * The catalog JSON format -> concert_catalog.
 *
 * This file checks only what is about JSON: shape, types, known keys, that
 * numbers are integers a JSON number can carry exactly, that times are RFC
 * 3339 and statuses are names. Every rule about the values themselves (ids
 * >= 1, to >= from, overlapping ranges, duplicate ids, text lengths, price
 * limits) belongs to concert_catalog_load(), which names the place in the
 * same "concerts[0].schedules[1].seats[0].to" form. Nothing here touches a
 * file or a store, so the parser can be fuzzed on a buffer.
 */
#include "catalog_parse.h"

#include "json_strict.h"
#include "timefmt.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Deep enough for the format (root, concerts, concert, schedules, schedule,
 * seats, range = 7 levels); anything nested deeper is refused by the
 * tokenizer before it can use stack or memory. */
#define CATALOG_MAX_DEPTH 16

/* Integers must be exact in a JSON number (2^53 - 1), whoever reads the
 * catalog next. */
#define CATALOG_MAX_INTEGER JSON_STRICT_SAFE_INTEGER

/* Longest stretch of a path or key quoted in a message. */
#define PATH_SIZE 192
#define KEY_QUOTE_MAX 64

struct catalog_doc {
    json_object *root; /* keeps every string the catalog points to alive */
    concert_catalog catalog;
    void **blocks; /* every array allocated for the catalog */
    size_t block_count;
    size_t block_capacity;
};

typedef struct parser {
    catalog_doc *doc;
    char *err;
    size_t errlen;
    int code; /* CONCERT_EINVAL or CONCERT_ENOMEM once failed */
} parser;

#if defined(__GNUC__) || defined(__clang__)
#define PRINTF_LIKE(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define PRINTF_LIKE(fmt, args)
#endif

static int fail(parser *ps, const char *fmt, ...) PRINTF_LIKE(2, 3);

/* Record the first failure; later ones are consequences of it. */
static int fail(parser *ps, const char *fmt, ...)
{
    if (ps->code == 0) {
        ps->code = CONCERT_EINVAL;
        if (ps->err != NULL && ps->errlen > 0) {
            va_list ap;
            va_start(ap, fmt);
            /* A truncated message is still a useful message. */
            (void)vsnprintf(ps->err, ps->errlen, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

static int fail_nomem(parser *ps)
{
    if (ps->code == 0) {
        ps->code = CONCERT_ENOMEM;
        if (ps->err != NULL && ps->errlen > 0)
            (void)snprintf(ps->err, ps->errlen, "catalog: out of memory");
    }
    return -1;
}

/* Zeroed array of count items owned by the doc; NULL (and no failure) when
 * count is 0. */
static void *doc_alloc(parser *ps, size_t count, size_t size)
{
    catalog_doc *doc = ps->doc;
    if (count == 0)
        return NULL;
    if (doc->block_count == doc->block_capacity) {
        const size_t capacity = doc->block_capacity ? doc->block_capacity * 2 : 16;
        void **blocks = realloc(doc->blocks, capacity * sizeof *blocks);
        if (blocks == NULL)
            return NULL;
        doc->blocks = blocks;
        doc->block_capacity = capacity;
    }
    void *block = calloc(count, size);
    if (block == NULL)
        return NULL;
    doc->blocks[doc->block_count++] = block;
    return block;
}

/* "prefix.name", or "name" at the root. */
static int join_path(parser *ps, char *out, const char *prefix, const char *name)
{
    const int n = prefix[0] ? snprintf(out, PATH_SIZE, "%s.%s", prefix, name)
                            : snprintf(out, PATH_SIZE, "%s", name);
    if (n < 0 || n >= PATH_SIZE)
        return fail(ps, "%s: nested too deeply", prefix);
    return 0;
}

/* "prefix[index]". */
static int index_path(parser *ps, char *out, const char *prefix, size_t index)
{
    const int n = snprintf(out, PATH_SIZE, "%s[%zu]", prefix, index);
    if (n < 0 || n >= PATH_SIZE)
        return fail(ps, "%s: nested too deeply", prefix);
    return 0;
}

/* A key as it may appear in a message: at most KEY_QUOTE_MAX bytes, control
 * characters replaced, so a hostile key cannot forge or flood the output. */
static void quote_key(char *out, size_t outlen, const char *key)
{
    size_t n = 0;
    for (; key[n] != '\0' && n < KEY_QUOTE_MAX && n + 1 < outlen; n++) {
        const unsigned char c = (unsigned char)key[n];
        out[n] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    out[n] = '\0';
}

/* Refuse any key of obj not in allowed (a NULL-terminated list): a typo
 * such as "start_at" must not silently drop a field. */
static int check_keys(parser *ps, json_object *obj, const char *path, const char *const *allowed)
{
    struct json_object_iterator it = json_object_iter_begin(obj);
    const struct json_object_iterator end = json_object_iter_end(obj);
    for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
        const char *key = json_object_iter_peek_name(&it);
        int known = 0;
        for (size_t i = 0; allowed[i] != NULL && !known; i++)
            known = strcmp(key, allowed[i]) == 0;
        if (!known) {
            char quoted[KEY_QUOTE_MAX + 1];
            quote_key(quoted, sizeof quoted, key);
            return path[0] ? fail(ps, "%s.%s: unknown key", path, quoted)
                           : fail(ps, "%s: unknown key", quoted);
        }
    }
    return 0;
}

/* The member name of obj, or NULL when absent. A JSON null counts as
 * present, so that it is reported as the wrong type rather than missing. */
static json_object *member(json_object *obj, const char *name, int *present)
{
    json_object *value = NULL;
    *present = json_object_object_get_ex(obj, name, &value);
    return value;
}

static int get_integer(parser *ps, json_object *obj, const char *path, const char *name,
                       int required, int64_t fallback, int64_t *out)
{
    char where[PATH_SIZE];
    if (join_path(ps, where, path, name))
        return -1;
    int present;
    json_object *value = member(obj, name, &present);
    if (!present) {
        if (required)
            return fail(ps, "%s: is required", where);
        *out = fallback;
        return 0;
    }
    switch (json_strict_int(value, -CATALOG_MAX_INTEGER, CATALOG_MAX_INTEGER, out)) {
    case JSON_INT_OK:
        return 0;
    case JSON_INT_NOT_INTEGER:
        return fail(ps, "%s: must be an integer", where);
    case JSON_INT_OUT_OF_RANGE:
        break;
    }
    return fail(ps, "%s: must be an integer from -9007199254740991 to 9007199254740991", where);
}

static int get_string(parser *ps, json_object *obj, const char *path, const char *name,
                      const char **out)
{
    char where[PATH_SIZE];
    if (join_path(ps, where, path, name))
        return -1;
    int present;
    json_object *value = member(obj, name, &present);
    if (!present)
        return fail(ps, "%s: is required", where);
    if (!json_object_is_type(value, json_type_string))
        return fail(ps, "%s: must be a string", where);
    const char *text = json_object_get_string(value);
    const int len = json_object_get_string_len(value);
    /* "\u0000" would silently cut the text short in C. */
    if (len < 0 || strlen(text) != (size_t)len)
        return fail(ps, "%s: must not contain NUL characters", where);
    *out = text;
    return 0;
}

/* The array member name (absent: an empty array), its length in *count. */
static int get_array(parser *ps, json_object *obj, const char *path, const char *name,
                     json_object **out, size_t *count)
{
    char where[PATH_SIZE];
    if (join_path(ps, where, path, name))
        return -1;
    int present;
    json_object *value = member(obj, name, &present);
    *out = NULL;
    *count = 0;
    if (!present)
        return 0;
    if (!json_object_is_type(value, json_type_array))
        return fail(ps, "%s: must be an array", where);
    *out = value;
    *count = json_object_array_length(value);
    return 0;
}

/* Element i of array, which must be an object; its path in where. */
static json_object *get_element(parser *ps, json_object *array, const char *path, const char *name,
                                size_t i, char *where)
{
    char array_path[PATH_SIZE];
    if (join_path(ps, array_path, path, name) || index_path(ps, where, array_path, i))
        return NULL;
    json_object *element = json_object_array_get_idx(array, i);
    if (!json_object_is_type(element, json_type_object)) {
        fail(ps, "%s: must be an object", where);
        return NULL;
    }
    return element;
}

/* The wire names of concert_concert_status. Kept here, not looked up in the
 * library, so that the parser links with json-c alone (fuzzing, tests). */
static int status_from_name(const char *name)
{
    if (strcmp(name, "OPEN") == 0)
        return CONCERT_STATUS_OPEN;
    if (strcmp(name, "PENDING") == 0)
        return CONCERT_STATUS_PENDING;
    if (strcmp(name, "CLOSED") == 0)
        return CONCERT_STATUS_CLOSED;
    return 0;
}

static int parse_seat_range(parser *ps, json_object *obj, const char *path,
                            concert_catalog_seat_range *out)
{
    static const char *const keys[] = { "from", "to", "grade", "price", NULL };
    if (check_keys(ps, obj, path, keys) || get_integer(ps, obj, path, "from", 1, 0, &out->from) ||
        get_integer(ps, obj, path, "to", 1, 0, &out->to) ||
        get_string(ps, obj, path, "grade", &out->grade) ||
        get_integer(ps, obj, path, "price", 1, 0, &out->price))
        return -1;
    return 0;
}

static int parse_schedule(parser *ps, json_object *obj, const char *path,
                          concert_catalog_schedule *out)
{
    static const char *const keys[] = { "id", "starts_at", "seats", NULL };
    const char *starts_at;
    if (check_keys(ps, obj, path, keys) || get_integer(ps, obj, path, "id", 1, 0, &out->id) ||
        get_string(ps, obj, path, "starts_at", &starts_at))
        return -1;
    if (timefmt_parse(starts_at, &out->starts_at) != 0)
        return fail(ps, "%s.starts_at: not an RFC 3339 time (e.g. 2026-12-24T19:00:00Z)", path);

    json_object *seats;
    size_t count;
    if (get_array(ps, obj, path, "seats", &seats, &count))
        return -1;
    concert_catalog_seat_range *ranges = doc_alloc(ps, count, sizeof *ranges);
    if (count > 0 && ranges == NULL)
        return fail_nomem(ps);
    for (size_t i = 0; i < count; i++) {
        char where[PATH_SIZE];
        json_object *element = get_element(ps, seats, path, "seats", i, where);
        if (element == NULL || parse_seat_range(ps, element, where, &ranges[i]))
            return -1;
    }
    out->seats = ranges;
    out->seat_range_count = count;
    return 0;
}

static int parse_concert(parser *ps, json_object *obj, const char *path,
                         concert_catalog_concert *out)
{
    static const char *const keys[] = {
        "id", "title", "status", "max_per_user", "schedules", NULL
    };
    const char *status;
    int64_t max_per_user;
    if (check_keys(ps, obj, path, keys) || get_integer(ps, obj, path, "id", 1, 0, &out->id) ||
        get_string(ps, obj, path, "title", &out->title) ||
        get_string(ps, obj, path, "status", &status) ||
        get_integer(ps, obj, path, "max_per_user", 0, 0, &max_per_user))
        return -1;
    out->status = status_from_name(status);
    if (out->status == 0)
        return fail(ps, "%s.status: must be one of OPEN, PENDING, CLOSED", path);
    /* The library checks the range and names the place; only what cannot
     * even be carried to it is refused here. */
    if (max_per_user < 0 || max_per_user > CONCERT_ORDER_MAX)
        return fail(ps, "%s.max_per_user: must be 0 (no limit of its own) to %d", path,
                    CONCERT_ORDER_MAX);
    out->max_per_user = (int32_t)max_per_user;

    json_object *schedules;
    size_t count;
    if (get_array(ps, obj, path, "schedules", &schedules, &count))
        return -1;
    concert_catalog_schedule *items = doc_alloc(ps, count, sizeof *items);
    if (count > 0 && items == NULL)
        return fail_nomem(ps);
    for (size_t i = 0; i < count; i++) {
        char where[PATH_SIZE];
        json_object *element = get_element(ps, schedules, path, "schedules", i, where);
        if (element == NULL || parse_schedule(ps, element, where, &items[i]))
            return -1;
    }
    out->schedules = items;
    out->schedule_count = count;
    return 0;
}

static int parse_user(parser *ps, json_object *obj, const char *path, concert_catalog_user *out)
{
    static const char *const keys[] = { "id", "name", "points", NULL };
    if (check_keys(ps, obj, path, keys) || get_integer(ps, obj, path, "id", 1, 0, &out->id) ||
        get_string(ps, obj, path, "name", &out->name) ||
        get_integer(ps, obj, path, "points", 0, 0, &out->points))
        return -1;
    return 0;
}

static int parse_root(parser *ps, json_object *root)
{
    static const char *const keys[] = { "users", "concerts", NULL };
    concert_catalog *catalog = &ps->doc->catalog;
    if (!json_object_is_type(root, json_type_object))
        return fail(ps, "catalog: must be a JSON object with \"users\" and \"concerts\"");
    if (check_keys(ps, root, "", keys))
        return -1;

    json_object *users, *concerts;
    size_t user_count, concert_count;
    if (get_array(ps, root, "", "users", &users, &user_count))
        return -1;
    concert_catalog_user *user_items = doc_alloc(ps, user_count, sizeof *user_items);
    if (user_count > 0 && user_items == NULL)
        return fail_nomem(ps);
    for (size_t i = 0; i < user_count; i++) {
        char where[PATH_SIZE];
        json_object *element = get_element(ps, users, "", "users", i, where);
        if (element == NULL || parse_user(ps, element, where, &user_items[i]))
            return -1;
    }
    if (get_array(ps, root, "", "concerts", &concerts, &concert_count))
        return -1;
    concert_catalog_concert *concert_items = doc_alloc(ps, concert_count, sizeof *concert_items);
    if (concert_count > 0 && concert_items == NULL)
        return fail_nomem(ps);
    for (size_t i = 0; i < concert_count; i++) {
        char where[PATH_SIZE];
        json_object *element = get_element(ps, concerts, "", "concerts", i, where);
        if (element == NULL || parse_concert(ps, element, where, &concert_items[i]))
            return -1;
    }

    catalog->version = CONCERT_CATALOG_VERSION;
    catalog->users = user_items;
    catalog->user_count = user_count;
    catalog->concerts = concert_items;
    catalog->concert_count = concert_count;
    return 0;
}

/* 1-based line and column of byte offset in text, for syntax errors. */
static void line_and_column(const char *text, size_t offset, size_t *line, size_t *column)
{
    *line = 1;
    *column = 1;
    for (size_t i = 0; i < offset; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *column = 1;
        } else {
            (*column)++;
        }
    }
}

/* Read text with the strict reader (json_strict.h); its refusals become
 * this parser's messages, with a line and column where there is a place. */
static json_object *tokenize(parser *ps, const char *text, size_t len)
{
    json_object *root = NULL;
    json_strict_error e;
    if (json_strict_parse(&root, text, len, json_type_object, CATALOG_MAX_DEPTH, &e) == 0)
        return root;
    size_t line, column;
    switch (e.status) {
    case JSON_STRICT_NOMEM:
        fail_nomem(ps);
        break;
    case JSON_STRICT_TOO_LARGE:
        fail(ps, "catalog: too large");
        break;
    case JSON_STRICT_NUL_BYTE:
        fail(ps, "catalog: not valid JSON (contains a NUL byte)");
        break;
    case JSON_STRICT_DUPLICATE:
        fail(ps, "%s: duplicate key", e.path);
        break;
    case JSON_STRICT_TYPE:
        fail(ps, "catalog: must be a JSON object with \"users\" and \"concerts\"");
        break;
    case JSON_STRICT_TRAILING:
        line_and_column(text, e.offset, &line, &column);
        fail(ps, "catalog: not valid JSON at line %zu, column %zu: text after the document", line,
             column);
        break;
    case JSON_STRICT_OK:
    case JSON_STRICT_EMPTY:
    case JSON_STRICT_SYNTAX:
    case JSON_STRICT_DEPTH:
        line_and_column(text, e.offset, &line, &column);
        fail(ps, "catalog: not valid JSON at line %zu, column %zu: %s", line, column,
             e.what != NULL ? e.what : "invalid");
        break;
    }
    return NULL;
}

int catalog_json_parse(catalog_doc **out, const char *text, size_t len, char *err, size_t errlen)
{
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (out == NULL)
        return CONCERT_EINVAL;
    *out = NULL;
    catalog_doc *doc = calloc(1, sizeof *doc);
    parser ps = { doc, err, errlen, 0 };
    if (doc == NULL) {
        fail_nomem(&ps);
        return ps.code;
    }
    if (text == NULL && len > 0) {
        fail(&ps, "catalog: no text");
        catalog_doc_free(doc);
        return ps.code;
    }
    doc->root = tokenize(&ps, text != NULL ? text : "", len);
    if (doc->root == NULL || parse_root(&ps, doc->root) != 0) {
        catalog_doc_free(doc);
        return ps.code != 0 ? ps.code : CONCERT_EINTERNAL;
    }
    *out = doc;
    return 0;
}

const concert_catalog *catalog_doc_catalog(const catalog_doc *doc)
{
    return doc != NULL ? &doc->catalog : NULL;
}

void catalog_doc_free(catalog_doc *doc)
{
    if (doc == NULL)
        return;
    for (size_t i = 0; i < doc->block_count; i++)
        free(doc->blocks[i]);
    free(doc->blocks);
    json_object_put(doc->root);
    free(doc);
}
