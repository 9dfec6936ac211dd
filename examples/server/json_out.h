/*
 * A small streaming JSON writer for response bodies.
 *
 * Faster than building a json-c tree for every response (seat lists can be
 * long) and it always emits valid JSON: strings are escaped and invalid UTF-8
 * is replaced by U+FFFD. Commas are placed automatically. Any allocation
 * failure is remembered and reported once by json_out_finish().
 */
#ifndef CONCERTD_JSON_OUT_H
#define CONCERTD_JSON_OUT_H

#include <stddef.h>
#include <stdint.h>

/* Deepest nesting the server's responses need, with margin. */
#define JSON_OUT_MAX_DEPTH 8

typedef struct json_out {
    char *buf;
    size_t len;
    size_t cap;
    int failed;                 /* out of memory or misuse */
    int after_key;              /* the next value follows a "key": */
    unsigned depth;
    unsigned char has_items[JSON_OUT_MAX_DEPTH + 1];
} json_out;

/* Start an empty document; allocates lazily. */
void json_out_init(json_out *w);

void json_out_object_begin(json_out *w);
void json_out_object_end(json_out *w);
void json_out_array_begin(json_out *w);
void json_out_array_end(json_out *w);

/* Write a member name inside an object; the next call writes its value. */
void json_out_key(json_out *w, const char *key);

void json_out_int(json_out *w, int64_t value);
/* text must be NUL-terminated; NULL writes null. */
void json_out_string(json_out *w, const char *text);
void json_out_null(json_out *w);
/* ms since the epoch as an RFC 3339 UTC string. */
void json_out_time(json_out *w, int64_t ms);

/*
 * Hand the finished document to the caller: *out is malloc()ed and
 * NUL-terminated, *len excludes the NUL. Returns 0, or -1 (nothing to free)
 * if anything failed on the way. w is empty afterwards either way.
 */
int json_out_finish(json_out *w, char **out, size_t *len);

/* Drop a document that will not be used. */
void json_out_discard(json_out *w);

#endif
