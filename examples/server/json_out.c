/*
 * Streaming JSON writer (see json_out.h).
 */
#include "json_out.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timefmt.h"

/* First allocation: enough for every small response in one go. */
#define JSON_OUT_INITIAL_CAP 256

void json_out_init(json_out *w)
{
    memset(w, 0, sizeof *w);
}

/* Make room for extra more bytes plus a NUL; 0 or -1 (and w->failed). */
static int reserve(json_out *w, size_t extra)
{
    if (w->failed)
        return -1;
    if (extra > SIZE_MAX / 2 - w->len) {
        w->failed = 1;
        return -1;
    }
    const size_t need = w->len + extra + 1;
    if (need <= w->cap)
        return 0;
    size_t cap = w->cap ? w->cap : JSON_OUT_INITIAL_CAP;
    while (cap < need)
        cap *= 2;
    char *grown = realloc(w->buf, cap);
    if (grown == NULL) {
        w->failed = 1;
        return -1;
    }
    w->buf = grown;
    w->cap = cap;
    return 0;
}

/* The NUL terminator is only written by json_out_finish(); reserve() keeps
 * room for it. These two run for every byte of every response, so the
 * common case (room left, nothing failed) is kept small enough to inline. */
static inline void put_bytes(json_out *w, const char *bytes, size_t n)
{
    if (w->len + n >= w->cap && reserve(w, n) != 0)
        return;
    memcpy(w->buf + w->len, bytes, n);
    w->len += n;
}

static inline void put_char(json_out *w, char c)
{
    if (w->len + 1 >= w->cap && reserve(w, 1) != 0)
        return;
    w->buf[w->len++] = c;
}

/* Every value goes through here: a comma between array items, none after a
 * member name. */
static void before_value(json_out *w)
{
    if (w->after_key) {
        w->after_key = 0;
        return;
    }
    if (w->depth > 0) {
        if (w->has_items[w->depth])
            put_char(w, ',');
        w->has_items[w->depth] = 1;
    }
}

static void open_container(json_out *w, char opener)
{
    before_value(w);
    if (w->depth >= JSON_OUT_MAX_DEPTH) {
        w->failed = 1;
        return;
    }
    w->depth++;
    w->has_items[w->depth] = 0;
    put_char(w, opener);
}

static void close_container(json_out *w, char closer)
{
    if (w->depth == 0 || w->after_key) {
        w->failed = 1;
        return;
    }
    w->depth--;
    put_char(w, closer);
}

void json_out_object_begin(json_out *w)
{
    open_container(w, '{');
}

void json_out_object_end(json_out *w)
{
    close_container(w, '}');
}

void json_out_array_begin(json_out *w)
{
    open_container(w, '[');
}

void json_out_array_end(json_out *w)
{
    close_container(w, ']');
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if it is invalid.
 * Rejects overlong forms, surrogates and code points above U+10FFFF, as
 * RFC 3629 requires. */
static size_t utf8_sequence_length(const unsigned char *s)
{
    const unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        return (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        const unsigned char lo = c == 0xE0 ? 0xA0 : 0x80;
        const unsigned char hi = c == 0xED ? 0x9F : 0xBF;
        if (s[1] < lo || s[1] > hi || (s[2] & 0xC0) != 0x80)
            return 0;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        const unsigned char lo = c == 0xF0 ? 0x90 : 0x80;
        const unsigned char hi = c == 0xF4 ? 0x8F : 0xBF;
        if (s[1] < lo || s[1] > hi || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return 0;
        return 4;
    }
    return 0;
}

/* Length of text if it needs no escaping at all (plain printable ASCII
 * without '"' or '\\'), else SIZE_MAX. */
static size_t plain_length(const char *text)
{
    const unsigned char *s = (const unsigned char *)text;
    while (*s >= 0x20 && *s < 0x80 && *s != '"' && *s != '\\')
        s++;
    return *s == '\0' ? (size_t)(s - (const unsigned char *)text) : SIZE_MAX;
}

/* Write prefix (0 or 1 byte), "text" and suffix (0 or 1 byte) with one
 * reservation, for text of plain_length() n: every key and nearly every
 * value the server writes takes this path. */
static void put_plain(json_out *w, char prefix, const char *text, size_t n, char suffix)
{
    const size_t total = n + 2 + (prefix != '\0') + (suffix != '\0');
    if (w->len + total >= w->cap && reserve(w, total) != 0)
        return;
    char *p = w->buf + w->len;
    if (prefix != '\0')
        *p++ = prefix;
    *p++ = '"';
    memcpy(p, text, n);
    p += n;
    *p++ = '"';
    if (suffix != '\0')
        *p++ = suffix;
    w->len = (size_t)(p - w->buf);
}

/* The NUL terminator stops every check above before it reads past the end:
 * a NUL is never a continuation byte. */
static void put_escaped(json_out *w, const char *text)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)text;
    const size_t plain = plain_length(text);
    if (plain != SIZE_MAX) {
        put_plain(w, '\0', text, plain, '\0');
        return;
    }
    put_char(w, '"');
    while (*s != '\0') {
        /* Copy the longest run of plain ASCII in one go: nearly every string
         * the server writes (keys, grades, titles) is all of it. */
        const unsigned char *run = s;
        while (*run >= 0x20 && *run < 0x80 && *run != '"' && *run != '\\')
            run++;
        if (run != s) {
            put_bytes(w, (const char *)s, (size_t)(run - s));
            s = run;
            continue;
        }
        const unsigned char c = *s;
        if (c == '"' || c == '\\') {
            const char pair[2] = { '\\', (char)c };
            put_bytes(w, pair, 2);
            s++;
        } else if (c < 0x20) {
            const char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xF] };
            put_bytes(w, esc, sizeof esc);
            s++;
        } else {
            const size_t n = utf8_sequence_length(s);
            if (n == 0) {
                put_bytes(w, "\\ufffd", 6);
                s++;
            } else {
                put_bytes(w, (const char *)s, n);
                s += n;
            }
        }
    }
    put_char(w, '"');
}

/* The state change every key makes: a key only inside an object and not
 * right after another key. Returns 0 and the separator to write first
 * ('\0' for the first member), or -1 with the writer marked failed. */
static int begin_key(json_out *w, char *comma)
{
    if (w->depth == 0 || w->after_key) {
        w->failed = 1;
        return -1;
    }
    *comma = w->has_items[w->depth] ? ',' : '\0';
    w->has_items[w->depth] = 1;
    w->after_key = 1;
    return 0;
}

void json_out_key(json_out *w, const char *key)
{
    char comma;
    if (begin_key(w, &comma) != 0)
        return;
    const size_t plain = plain_length(key);
    if (plain != SIZE_MAX) {
        put_plain(w, comma, key, plain, ':');
        return;
    }
    if (comma != '\0')
        put_char(w, comma);
    put_escaped(w, key);
    put_char(w, ':');
}

void json_out_key_plain(json_out *w, const char *key, size_t len)
{
    char comma;
    if (begin_key(w, &comma) != 0)
        return;
    put_plain(w, comma, key, len, ':');
}

void json_out_reserve(json_out *w, size_t bytes)
{
    if (bytes > w->len)
        (void)reserve(w, bytes - w->len);
}

/* Decimal digits of v (1..20). */
static unsigned digit_count(uint64_t v)
{
    unsigned n = 1;
    while (v >= 10000) {
        v /= 10000;
        n += 4;
    }
    return n + (v >= 10) + (v >= 100) + (v >= 1000);
}

void json_out_int(json_out *w, int64_t value)
{
    /* By hand, two digits per division, straight into the buffer: snprintf()
     * was a tenth of the time of a long seat list. */
    static const char pairs[] = "00010203040506070809101112131415161718192021222324"
                                "25262728293031323334353637383940414243444546474849"
                                "50515253545556575859606162636465666768697071727374"
                                "75767778798081828384858687888990919293949596979899";
    before_value(w);
    /* Negate in unsigned arithmetic so that INT64_MIN works too. */
    uint64_t magnitude = value < 0 ? 0 - (uint64_t)value : (uint64_t)value;
    const size_t total = digit_count(magnitude) + (value < 0);
    if (w->len + total >= w->cap && reserve(w, total) != 0)
        return;
    char *start = w->buf + w->len;
    char *p = start + total;
    while (magnitude >= 100) {
        const unsigned pair = (unsigned)(magnitude % 100) * 2;
        magnitude /= 100;
        *--p = pairs[pair + 1];
        *--p = pairs[pair];
    }
    if (magnitude >= 10) {
        *--p = pairs[magnitude * 2 + 1];
        *--p = pairs[magnitude * 2];
    } else {
        *--p = (char)('0' + magnitude);
    }
    if (value < 0)
        *--p = '-';
    w->len += total;
}

void json_out_string(json_out *w, const char *text)
{
    if (text == NULL) {
        json_out_null(w);
        return;
    }
    before_value(w);
    put_escaped(w, text);
}

void json_out_null(json_out *w)
{
    before_value(w);
    put_bytes(w, "null", 4);
}

void json_out_bool(json_out *w, int value)
{
    before_value(w);
    if (value)
        put_bytes(w, "true", 4);
    else
        put_bytes(w, "false", 5);
}

void json_out_time(json_out *w, int64_t ms)
{
    char text[TIMEFMT_SIZE];
    json_out_string(w, timefmt_format(ms, text));
}

void json_out_end_line(json_out *w)
{
    if (w->depth != 0 || w->after_key || w->len == 0) {
        w->failed = 1;
        return;
    }
    put_char(w, '\n');
}

int json_out_finish(json_out *w, char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (w->failed || w->depth != 0 || w->after_key || w->buf == NULL) {
        json_out_discard(w);
        return -1;
    }
    w->buf[w->len] = '\0'; /* reserve() always leaves room for it */
    *out = w->buf;
    *len = w->len;
    json_out_init(w);
    return 0;
}

void json_out_discard(json_out *w)
{
    free(w->buf);
    json_out_init(w);
}
