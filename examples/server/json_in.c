/*
 * Request body parsing with json-c (see json_in.h).
 */
#include "json_in.h"

#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

static int is_json_whitespace(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int json_in_parse_object(struct json_object **out, const char *text, size_t len, char *err,
                         size_t errlen)
{
    *out = NULL;
    if (len == 0) {
        snprintf(err, errlen, "a JSON object body is required");
        return -1;
    }
    /* JSON never contains a raw NUL, and json-c would stop reading at one. */
    if (memchr(text, '\0', len) != NULL || len > (size_t)INT32_MAX) {
        snprintf(err, errlen, "body is not valid JSON");
        return -1;
    }
    struct json_tokener *tok = json_tokener_new_ex(JSON_IN_MAX_DEPTH);
    if (tok == NULL) {
        snprintf(err, errlen, "body could not be read");
        return -1;
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    struct json_object *obj = json_tokener_parse_ex(tok, text, (int)len);
    const enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);

    if (obj == NULL || jerr != json_tokener_success) {
        json_object_put(obj);
        if (jerr == json_tokener_error_depth)
            snprintf(err, errlen, "body is nested too deeply");
        else
            snprintf(err, errlen, "body is not valid JSON");
        return -1;
    }
    while (end < len && is_json_whitespace(text[end]))
        end++;
    if (end != len) {
        json_object_put(obj);
        snprintf(err, errlen, "body has data after the JSON value");
        return -1;
    }
    if (!json_object_is_type(obj, json_type_object)) {
        json_object_put(obj);
        snprintf(err, errlen, "body must be a JSON object");
        return -1;
    }
    *out = obj;
    return 0;
}

int json_in_get_int64(const struct json_object *obj, const char *key, int64_t *out, char *err,
                      size_t errlen)
{
    struct json_object *value = NULL;
    if (!json_object_object_get_ex(obj, key, &value)) {
        snprintf(err, errlen, "%s: required", key);
        return -1;
    }
    /* A JSON null is a NULL value here; json_object_is_type() says no. */
    if (!json_object_is_type(value, json_type_int)) {
        snprintf(err, errlen, "%s: must be an integer", key);
        return -1;
    }
    const int64_t v = json_object_get_int64(value);
    /* json-c keeps integers above INT64_MAX as uint64 and clamps them here,
     * and clamps ones below INT64_MIN to it without a trace: refuse both. */
    if ((v == INT64_MAX && json_object_get_uint64(value) != (uint64_t)INT64_MAX) ||
        v == INT64_MIN) {
        snprintf(err, errlen, "%s: integer out of range", key);
        return -1;
    }
    *out = v;
    return 0;
}
