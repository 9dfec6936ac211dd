/*
 * Strict JSON reading (see json_strict.h): one lexical pass for what json-c
 * lets through, json-c for the tree, then a cheap duplicate-key test.
 *
 * Duplicate keys without a per-key cost: every member of every object has
 * exactly one ':' outside strings in the text, while json-c keeps one member
 * per distinct key (a repeat replaces the earlier value and its subtree).
 * So the text has more colons than the tree has members exactly when some
 * object repeats a key. Only then is the slower search for its place run.
 */
#include "json_strict.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_letter(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int fail(json_strict_error *err, json_strict_status status, size_t offset, const char *what)
{
    err->status = status;
    err->offset = offset;
    err->what = what;
    return -1;
}

/* Value of the 4 hex digits at text[i], or -1. */
static long hex4(const char *text, size_t len, size_t i)
{
    long v = 0;
    if (len < 4 || i > len - 4)
        return -1;
    for (size_t k = 0; k < 4; k++) {
        const char c = text[i + k];
        const int d = is_digit(c)              ? c - '0'
                      : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                      : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                               : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* The string whose opening quote is at text[*i]: refuse raw control
 * characters and unpaired surrogate escapes (json-c turns those into U+FFFD
 * silently); leave *i on the closing quote. Other escapes and UTF-8 are
 * json-c's to check. */
static int scan_string(const char *text, size_t len, size_t *i, json_strict_error *err)
{
    for (size_t k = *i + 1; k < len; k++) {
        const unsigned char c = (unsigned char)text[k];
        if (c == '"') {
            *i = k;
            return 0;
        }
        if (c < 0x20)
            return fail(err, JSON_STRICT_SYNTAX, k, "control character in a string (escape it)");
        if (c != '\\')
            continue;
        if (k + 1 < len && text[k + 1] == 'u') {
            const long unit = hex4(text, len, k + 2);
            if (unit >= 0xDC00 && unit <= 0xDFFF)
                return fail(err, JSON_STRICT_SYNTAX, k, "unpaired surrogate escape");
            if (unit >= 0xD800 && unit <= 0xDBFF) {
                const long low = k + 7 < len && text[k + 6] == '\\' && text[k + 7] == 'u'
                                     ? hex4(text, len, k + 8)
                                     : -1;
                if (low < 0xDC00 || low > 0xDFFF)
                    return fail(err, JSON_STRICT_SYNTAX, k, "unpaired surrogate escape");
                k += 6; /* the low half is checked here, not again */
            }
        }
        k++; /* the escaped character cannot end the string */
    }
    *i = len;
    return 0; /* unterminated: json-c says so, with its offset */
}

/* A number at text[*i] as RFC 8259 writes it:
 * -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?  ("1.", "01", "-" are not). */
static int scan_number(const char *text, size_t len, size_t *i, json_strict_error *err)
{
    const size_t start = *i;
    size_t k = start;
    if (k < len && text[k] == '-')
        k++;
    if (k >= len || !is_digit(text[k]))
        return fail(err, JSON_STRICT_SYNTAX, start, "invalid number");
    if (text[k] == '0')
        k++;
    else
        while (k < len && is_digit(text[k]))
            k++;
    if (k < len && text[k] == '.') {
        k++;
        if (k >= len || !is_digit(text[k]))
            return fail(err, JSON_STRICT_SYNTAX, start, "invalid number");
        while (k < len && is_digit(text[k]))
            k++;
    }
    if (k < len && (text[k] == 'e' || text[k] == 'E')) {
        k++;
        if (k < len && (text[k] == '+' || text[k] == '-'))
            k++;
        if (k >= len || !is_digit(text[k]))
            return fail(err, JSON_STRICT_SYNTAX, start, "invalid number");
        while (k < len && is_digit(text[k]))
            k++;
    }
    if (k < len && (is_digit(text[k]) || is_letter(text[k]) || text[k] == '.'))
        return fail(err, JSON_STRICT_SYNTAX, start, "invalid number");
    *i = k - 1;
    return 0;
}

/* A run of letters at text[*i]: only true, false and null are JSON
 * (json-c also takes NaN and Infinity). */
static int scan_literal(const char *text, size_t len, size_t *i, json_strict_error *err)
{
    size_t k = *i;
    while (k < len && is_letter(text[k]))
        k++;
    const size_t n = k - *i;
    const char *word = text + *i;
    if (!((n == 4 && memcmp(word, "true", 4) == 0) || (n == 5 && memcmp(word, "false", 5) == 0) ||
          (n == 4 && memcmp(word, "null", 4) == 0)))
        return fail(err, JSON_STRICT_SYNTAX, *i, "invalid literal");
    *i = k - 1;
    return 0;
}

/* What json-c would accept but RFC 8259 does not; counts the members of
 * all objects (colons outside strings) into *colons. */
static int check_lexical(const char *text, size_t len, size_t *colons, json_strict_error *err)
{
    *colons = 0;
    for (size_t i = 0; i < len; i++) {
        const char c = text[i];
        int rc = 0;
        if (c == '"')
            rc = scan_string(text, len, &i, err);
        else if (c == ':')
            (*colons)++;
        else if (c == '\'')
            rc = fail(err, JSON_STRICT_SYNTAX, i, "single quotes are not JSON");
        else if (c == '-' || is_digit(c))
            rc = scan_number(text, len, &i, err);
        else if (is_letter(c))
            rc = scan_literal(text, len, &i, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Members of every object in the tree. */
static size_t tree_members(json_object *value)
{
    size_t n = 0;
    if (json_object_is_type(value, json_type_object)) {
        json_object_object_foreach(value, key, member)
        {
            (void)key;
            n += 1 + tree_members(member);
        }
    } else if (json_object_is_type(value, json_type_array)) {
        const size_t count = json_object_array_length(value);
        for (size_t i = 0; i < count; i++)
            n += tree_members(json_object_array_get_idx(value, i));
    }
    return n;
}

static json_object *tokenize(const char *text, size_t len, int max_depth, json_strict_error *err)
{
    /* A NUL-terminated copy tells json-c where the input ends, so that a
     * bare number or a cut document is an error and not "need more". */
    char *copy = malloc(len + 1);
    json_tokener *tok = json_tokener_new_ex(max_depth);
    if (copy == NULL || tok == NULL) {
        free(copy);
        if (tok != NULL)
            json_tokener_free(tok);
        fail(err, JSON_STRICT_NOMEM, 0, "out of memory");
        return NULL;
    }
    memcpy(copy, text, len);
    copy[len] = '\0';
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    json_object *root = json_tokener_parse_ex(tok, copy, (int)len + 1);
    const enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    if (end > len)
        end = len;
    if (root == NULL || jerr != json_tokener_success) {
        json_object_put(root);
        root = NULL;
        if (jerr == json_tokener_error_depth)
            fail(err, JSON_STRICT_DEPTH, end, json_tokener_error_desc(jerr));
        else
            fail(err, JSON_STRICT_SYNTAX, end,
                 jerr == json_tokener_continue ? "unexpected end of input"
                                               : json_tokener_error_desc(jerr));
    } else {
        while (end < len && is_space(copy[end]))
            end++;
        if (end < len) {
            json_object_put(root);
            root = NULL;
            fail(err, JSON_STRICT_TRAILING, end, "text after the value");
        }
    }
    json_tokener_free(tok);
    free(copy);
    return root;
}

int json_strict_parse(json_object **out, const char *text, size_t len, json_type expected,
                      int max_depth, json_strict_error *err)
{
    memset(err, 0, sizeof *err);
    *out = NULL;
    if (text == NULL)
        len = 0;
    if (max_depth < 1 || max_depth > JSON_STRICT_MAX_DEPTH)
        max_depth = JSON_STRICT_MAX_DEPTH;
    if (len >= (size_t)INT_MAX) /* json-c takes an int length, plus the NUL */
        return fail(err, JSON_STRICT_TOO_LARGE, 0, "too large");
    if (len > 0 && memchr(text, '\0', len) != NULL)
        return fail(err, JSON_STRICT_NUL_BYTE, 0, "contains a NUL byte");
    size_t first = 0;
    while (first < len && is_space(text[first]))
        first++;
    if (first == len)
        return fail(err, JSON_STRICT_EMPTY, len, "unexpected end of data");

    size_t colons = 0;
    if (check_lexical(text, len, &colons, err) != 0)
        return -1;
    json_object *root = tokenize(text, len, max_depth, err);
    if (root == NULL)
        return -1;
    if (tree_members(root) != colons) {
        json_object_put(root);
        const int found = json_strict_find_duplicate(text, len, err->path, sizeof err->path);
        if (found < 0)
            return fail(err, JSON_STRICT_NOMEM, 0, "out of memory");
        /* Not found cannot happen for text json-c accepted; refuse anyway. */
        return fail(err, JSON_STRICT_DUPLICATE, 0, "duplicate key");
    }
    if (!json_object_is_type(root, expected)) {
        json_object_put(root);
        return fail(err, JSON_STRICT_TYPE, 0, "not the expected type");
    }
    *out = root;
    return 0;
}

const char *json_strict_describe(const json_strict_error *err)
{
    switch (err->status) {
    case JSON_STRICT_OK:
        return "valid";
    case JSON_STRICT_EMPTY:
        return "no JSON value";
    case JSON_STRICT_DEPTH:
        return "nested too deeply";
    case JSON_STRICT_TRAILING:
        return "data after the JSON value";
    case JSON_STRICT_TYPE:
        return "not the expected JSON type";
    case JSON_STRICT_DUPLICATE:
        return "a key is given twice in one object";
    case JSON_STRICT_TOO_LARGE:
        return "too large";
    case JSON_STRICT_NOMEM:
        return "out of memory";
    case JSON_STRICT_NUL_BYTE:
    case JSON_STRICT_SYNTAX:
        break;
    }
    return "not valid JSON";
}

json_int_status json_strict_int(const json_object *value, int64_t min, int64_t max, int64_t *out)
{
    /* A JSON null is a NULL value in json-c; json_object_is_type() says no. */
    if (value == NULL || !json_object_is_type(value, json_type_int))
        return JSON_INT_NOT_INTEGER;
    const int64_t v = json_object_get_int64(value);
    /* json-c clamps integers past either end of int64 to that end. */
    if (v == INT64_MAX || v == INT64_MIN || v < min || v > max)
        return JSON_INT_OUT_OF_RANGE;
    *out = v;
    return 0;
}
