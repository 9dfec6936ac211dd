/*
 * Queue tokens: CSPRNG bytes, URL-safe text, constant-time comparison.
 */
#define _DEFAULT_SOURCE /* getrandom() */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "internal.h"

/* 192 bits: comfortably above the 128 the rules ask for. */
#define TOKEN_RANDOM_BYTES 24

static int os_random(unsigned char *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = getrandom(buf + done, len - done, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        done += (size_t)n;
    }
    return 0;
}

static const char BASE64URL[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int concert__token_generate(const concert_db *db, char *out)
{
    unsigned char raw[TOKEN_RANDOM_BYTES];
    int failed;
    size_t o = 0;

    if (db->opts.random)
        failed = db->opts.random(db->opts.random_ctx, raw, sizeof(raw));
    else
        failed = os_random(raw, sizeof(raw));
    if (failed)
        return concert__error_set(CONCERT_EINTERNAL, "random source failed");
    /* 24 bytes = 8 groups of 3 -> 32 characters, no padding. */
    for (size_t i = 0; i < sizeof(raw); i += 3) {
        uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];
        out[o++] = BASE64URL[(v >> 18) & 63];
        out[o++] = BASE64URL[(v >> 12) & 63];
        out[o++] = BASE64URL[(v >> 6) & 63];
        out[o++] = BASE64URL[v & 63];
    }
    out[o] = '\0';
    memset(raw, 0, sizeof(raw));
    return CONCERT_OK;
}

int concert__token_well_formed(const char *text)
{
    size_t n = 0;
    for (; text[n]; n++) {
        char c = text[n];
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_';
        if (!ok || n >= CONCERT_TOKEN_SIZE - 1)
            return 0;
    }
    return n > 0;
}

int concert_sys_token_equal(const char *a, const char *b)
{
    /* Length may differ; compare over the full buffer size so the time
     * depends on neither the contents nor where they first differ. */
    unsigned char diff = 0;
    int a_end = 0, b_end = 0;
    if (!a || !b)
        return 0;
    for (size_t i = 0; i < CONCERT_TOKEN_SIZE; i++) {
        unsigned char ca = a_end ? 0 : (unsigned char)a[i];
        unsigned char cb = b_end ? 0 : (unsigned char)b[i];
        diff |= (unsigned char)(ca ^ cb);
        a_end |= ca == 0;
        b_end |= cb == 0;
    }
    return diff == 0;
}
