/*
 * Entity tags (see etag.h).
 */
#include "etag.h"

#include <string.h>

/* The body format's generation: bump it whenever the JSON of a cached list
 * changes shape, so that a client's tag from an older concertd never matches
 * a body of the new one. */
#define ETAG_GENERATION '1'

/* value as lowercase hex (no leading zeros) at *p; returns the new end. */
static char *put_hex(char *p, uint64_t value)
{
    static const char digits[] = "0123456789abcdef";
    char tmp[16];
    size_t n = 0;
    do {
        tmp[n++] = digits[value & 0xf];
        value >>= 4;
    } while (value != 0);
    while (n > 0)
        *p++ = tmp[--n];
    return p;
}

void etag_format(char *out, etag_kind kind, int64_t id, const concert_list_version *version)
{
    /* At most 2 + 2 + 5 * (16 + 1) + 1 + 1 = 91 bytes: within ETAG_SIZE.
     * Written by hand: it runs on every request of the hottest route. */
    char *p = out;
    *p++ = '"';
    *p++ = (char)kind;
    *p++ = ETAG_GENERATION;
    const uint64_t fields[] = { (uint64_t)id, (uint64_t)version->epoch, (uint64_t)version->changes,
                                (uint64_t)version->expired_through, (uint64_t)version->past };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        *p++ = '-';
        p = put_hex(p, fields[i]);
    }
    *p++ = '"';
    *p = '\0';
}

static const char *skip_ows(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* etagc = %x21 / %x23-7E / obs-text (RFC 9110 8.8.3) */
static int is_etagc(unsigned char c)
{
    return c == 0x21 || (c >= 0x23 && c <= 0x7E) || c >= 0x80;
}

int etag_none_match(const char *value, const char *etag)
{
    if (value == NULL)
        return 0;
    const char *p = skip_ows(value);
    if (*p == '*')
        return *skip_ows(p + 1) == '\0';
    const size_t etag_len = strlen(etag);
    int matched = 0;
    for (;;) {
        /* #rule: empty elements (",,") and surrounding blanks are allowed */
        while (*p == ',' || *p == ' ' || *p == '\t')
            p++;
        if (*p == '\0')
            return matched;
        if (p[0] == 'W' && p[1] == '/')
            p += 2; /* weak comparison: the opaque tags alone decide */
        if (*p != '"')
            return 0;
        const char *start = p++;
        while (is_etagc((unsigned char)*p))
            p++;
        if (*p != '"')
            return 0;
        p++;
        if ((size_t)(p - start) == etag_len && memcmp(start, etag, etag_len) == 0)
            matched = 1;
        p = skip_ows(p);
        if (*p != ',' && *p != '\0')
            return 0;
    }
}
