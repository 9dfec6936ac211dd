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
#include <string.h>

/* Deepest nesting the server's responses need, with margin. */
#define JSON_OUT_MAX_DEPTH 8

typedef struct json_out {
    char *buf;
    size_t len;
    size_t cap;
    int failed;    /* out of memory or misuse */
    int after_key; /* the next value follows a "key": */
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

/* The same for a name known to need no escaping (plain printable ASCII, no
 * '"' or '\\'), len bytes: skips the scan. Use it through JSON_OUT_KEY. */
void json_out_key_plain(json_out *w, const char *key, size_t len);

/* Member name from a string literal, its length known at compile time, so
 * that the copy below compiles to a few moves: long lists write thousands of
 * names per response. */
#define JSON_OUT_KEY(w, literal) json_out_key_inline((w), "" literal, sizeof(literal) - 1)

static inline void json_out_key_inline(json_out *w, const char *key, size_t len)
{
    /* Fast path: inside an object, not after a name, and room for
     * ,"key": plus the NUL kept by the writer. */
    if (w->depth != 0 && !w->after_key && w->len + len + 5 <= w->cap) {
        char *p = w->buf + w->len;
        if (w->has_items[w->depth])
            *p++ = ',';
        w->has_items[w->depth] = 1;
        w->after_key = 1;
        *p++ = '"';
        memcpy(p, key, len);
        p += len;
        *p++ = '"';
        *p++ = ':';
        w->len = (size_t)(p - w->buf);
        return;
    }
    json_out_key_plain(w, key, len);
}

/* Allocate room for about bytes up front (a long list knows its size), so
 * that the buffer is not regrown and copied on the way. */
void json_out_reserve(json_out *w, size_t bytes);

void json_out_int(json_out *w, int64_t value);
/* text must be NUL-terminated; NULL writes null. */
void json_out_string(json_out *w, const char *text);
void json_out_null(json_out *w);
/* true for any non-zero value, else false. */
void json_out_bool(json_out *w, int value);
/* ms since the epoch as an RFC 3339 UTC string. */
void json_out_time(json_out *w, int64_t ms);

/* End a complete document with a newline, so that a terminal (curl) shows
 * each response on its own line. JSON allows the trailing whitespace. */
void json_out_end_line(json_out *w);

/*
 * Hand the finished document to the caller: *out is malloc()ed and
 * NUL-terminated, *len excludes the NUL. Returns 0, or -1 (nothing to free)
 * if anything failed on the way. w is empty afterwards either way.
 */
int json_out_finish(json_out *w, char **out, size_t *len);

/* Drop a document that will not be used. */
void json_out_discard(json_out *w);

#endif
