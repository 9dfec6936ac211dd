/*
 * Duplicate-key scan over JSON text that json-c has already accepted: since
 * the syntax is known to be valid, a small state machine over brackets,
 * strings, commas and colons is enough; no values are decoded.
 */
#include "json_dupkeys.h"

#include <stdio.h>
#include <string.h>

typedef struct span {
    const char *start; /* inside the quotes */
    size_t len;
} span;

typedef struct level {
    int is_object;
    int expect_key;    /* objects: the next string is a key */
    size_t index;      /* arrays: index of the current element */
    span key;          /* objects: the current key */
    size_t key_count;
    span keys[JSON_DUPKEYS_TRACKED];
} level;

/* End of the string whose opening quote is at text[i]: index of the
 * closing quote, or len if unterminated (cannot happen for valid JSON). */
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

/* Append to path at *used, bounded; control characters become '?'. */
static void append(char *path, size_t pathlen, size_t *used, const char *text, size_t n)
{
    for (size_t i = 0; i < n && *used + 1 < pathlen; i++) {
        const unsigned char c = (unsigned char)text[i];
        path[(*used)++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    path[*used] = '\0';
}

/* The place of key in the object at levels[depth - 1]. */
static void write_path(const level *levels, size_t depth, span key, char *path, size_t pathlen)
{
    size_t used = 0;
    path[0] = '\0';
    for (size_t d = 0; d < depth; d++) {
        const int last = d + 1 == depth;
        const span name = last ? key : levels[d].key;
        if (levels[d].is_object) {
            if (used > 0)
                append(path, pathlen, &used, ".", 1);
            append(path, pathlen, &used, name.start, name.len);
        } else {
            char index[32];
            const int n = snprintf(index, sizeof index, "[%zu]", levels[d].index);
            if (n > 0 && (size_t)n < sizeof index)
                append(path, pathlen, &used, index, (size_t)n);
        }
    }
}

int json_find_duplicate_key(const char *text, size_t len, char *path, size_t pathlen)
{
    level levels[JSON_DUPKEYS_MAX_DEPTH];
    size_t depth = 0;     /* levels in use */
    size_t skipped = 0;   /* containers open below the tracked depth */
    if (path == NULL || pathlen == 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        const char c = text[i];
        level *top = depth > 0 ? &levels[depth - 1] : NULL;
        if (c == '{' || c == '[') {
            if (skipped > 0 || depth == JSON_DUPKEYS_MAX_DEPTH) {
                skipped++;
                continue;
            }
            level *next = &levels[depth++];
            memset(next, 0, sizeof *next);
            next->is_object = c == '{';
            next->expect_key = next->is_object;
        } else if (c == '}' || c == ']') {
            if (skipped > 0)
                skipped--;
            else if (depth > 0)
                depth--;
        } else if (c == ',') {
            if (skipped > 0 || top == NULL)
                continue;
            if (top->is_object)
                top->expect_key = 1;
            else
                top->index++;
        } else if (c == '"') {
            const size_t end = string_end(text, len, i);
            if (skipped == 0 && top != NULL && top->is_object && top->expect_key) {
                const span key = {text + i + 1, end - i - 1};
                for (size_t k = 0; k < top->key_count; k++) {
                    if (top->keys[k].len == key.len &&
                        memcmp(top->keys[k].start, key.start, key.len) == 0) {
                        write_path(levels, depth, key, path, pathlen);
                        return 1;
                    }
                }
                if (top->key_count < JSON_DUPKEYS_TRACKED)
                    top->keys[top->key_count++] = key;
                top->key = key;
                top->expect_key = 0;
            }
            i = end;
        }
    }
    return 0;
}
