/*
 * Finding the place of a repeated key (json_strict_find_duplicate()), run
 * only once json_strict_parse() knows there is one. The text is valid JSON,
 * so a small state machine over brackets, strings, commas and colons
 * follows its structure; each object's keys are decoded by json-c (so "a"
 * and "\u0061" are the same key, as json-c stores them) into a set.
 */
#include "json_strict.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct level {
    int is_object;
    int expect_key;    /* objects: the next string is a key */
    size_t index;      /* arrays: index of the current element */
    json_object *seen; /* objects: the keys so far (values unused) */
    json_object *key;  /* objects: the current key, a json-c string */
} level;

/* Index of the closing quote of the string opening at text[i], or len. */
static size_t string_end(const char *text, size_t len, size_t i)
{
    for (i++; i < len; i++) {
        if (text[i] == '\\')
            i++;
        else if (text[i] == '"')
            return i;
    }
    return len;
}

/* The string text[start..end] (quotes included) decoded, or NULL. */
static json_object *decode_key(const char *text, size_t start, size_t end)
{
    const size_t n = end - start + 1;
    char *copy = malloc(n + 1);
    json_tokener *tok = json_tokener_new();
    json_object *key = NULL;
    if (copy != NULL && tok != NULL) {
        memcpy(copy, text + start, n);
        copy[n] = '\0';
        key = json_tokener_parse_ex(tok, copy, (int)n + 1);
        if (key != NULL && !json_object_is_type(key, json_type_string)) {
            json_object_put(key);
            key = NULL;
        }
    }
    if (tok != NULL)
        json_tokener_free(tok);
    free(copy);
    return key;
}

/* Append n bytes of bytes to path at *used, bounded; control characters
 * become '?' so that a hostile key cannot forge a message. */
static void append(char *path, size_t pathlen, size_t *used, const char *bytes, size_t n)
{
    for (size_t i = 0; i < n && *used + 1 < pathlen; i++) {
        const unsigned char c = (unsigned char)bytes[i];
        path[(*used)++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    path[*used] = '\0';
}

/* "a.b[2].c" for the levels, with key as the last level's key. */
static void write_path(const level *levels, size_t depth, const char *key, char *path,
                       size_t pathlen)
{
    size_t used = 0;
    path[0] = '\0';
    for (size_t d = 0; d < depth; d++) {
        if (levels[d].is_object) {
            const char *name = d + 1 == depth ? key : json_object_get_string(levels[d].key);
            if (name == NULL)
                name = "?";
            if (used > 0)
                append(path, pathlen, &used, ".", 1);
            append(path, pathlen, &used, name, strlen(name));
        } else {
            char index[32];
            const int n = snprintf(index, sizeof index, "[%zu]", levels[d].index);
            if (n > 0 && (size_t)n < sizeof index)
                append(path, pathlen, &used, index, (size_t)n);
        }
    }
}

static void level_release(level *l)
{
    json_object_put(l->seen);
    json_object_put(l->key);
    l->seen = NULL;
    l->key = NULL;
}

/* A key of the object at levels[depth - 1]: 1 if it was there already
 * (path written), 0 if new, -1 when out of memory. */
static int add_key(level *levels, size_t depth, const char *text, size_t start, size_t end,
                   char *path, size_t pathlen)
{
    level *top = &levels[depth - 1];
    json_object *key = decode_key(text, start, end);
    if (key == NULL)
        return -1;
    const char *name = json_object_get_string(key);
    if (json_object_object_get_ex(top->seen, name, NULL)) {
        write_path(levels, depth, name, path, pathlen);
        json_object_put(key);
        return 1;
    }
    if (json_object_object_add(top->seen, name, NULL) != 0) {
        json_object_put(key);
        return -1;
    }
    json_object_put(top->key);
    top->key = key;
    top->expect_key = 0;
    return 0;
}

int json_strict_find_duplicate(const char *text, size_t len, char *path, size_t pathlen)
{
    level levels[JSON_STRICT_MAX_DEPTH + 1];
    size_t depth = 0;
    int result = 0;
    if (path == NULL || pathlen == 0)
        return 0;
    path[0] = '\0';
    for (size_t i = 0; i < len && result == 0; i++) {
        const char c = text[i];
        level *top = depth > 0 ? &levels[depth - 1] : NULL;
        if (c == '{' || c == '[') {
            if (depth == sizeof levels / sizeof levels[0])
                break; /* deeper than any text the reader accepts */
            level *next = &levels[depth++];
            memset(next, 0, sizeof *next);
            next->is_object = c == '{';
            next->expect_key = next->is_object;
            if (next->is_object && (next->seen = json_object_new_object()) == NULL)
                result = -1;
        } else if (c == '}' || c == ']') {
            if (top != NULL) {
                level_release(top);
                depth--;
            }
        } else if (c == ',' && top != NULL) {
            if (top->is_object)
                top->expect_key = 1;
            else
                top->index++;
        } else if (c == '"') {
            const size_t end = string_end(text, len, i);
            if (end < len && top != NULL && top->is_object && top->expect_key)
                result = add_key(levels, depth, text, i, end, path, pathlen);
            i = end;
        }
    }
    while (depth > 0)
        level_release(&levels[--depth]);
    return result;
}
