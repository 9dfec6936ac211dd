/*
 * Queue tokens: CSPRNG bytes, URL-safe text, constant-time comparison.
 */
#define _DEFAULT_SOURCE /* getrandom() */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>

#include "internal.h"

/* 192 bits: comfortably above the 128 the rules ask for. */
#define TOKEN_RANDOM_BYTES 24

static int getrandom_all(unsigned char *buf, size_t len)
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

/*
 * A getrandom() call per token was a sixth of a whole booking flow, so each
 * thread draws kernel CSPRNG bytes a block at a time. A forked child must
 * never hand out the bytes its parent will also use: the atfork handler
 * empties the buffer of the forking thread, the only thread in the child.
 */
#define RANDOM_BLOCK 768
static _Thread_local unsigned char tl_random[RANDOM_BLOCK];
static _Thread_local size_t tl_random_left;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void random_forget(void)
{
    memset(tl_random, 0, sizeof(tl_random));
    tl_random_left = 0;
}

static void atfork_register(void)
{
    pthread_atfork(NULL, NULL, random_forget);
}

static int os_random(unsigned char *buf, size_t len)
{
    pthread_once(&atfork_once, atfork_register);
    if (len > RANDOM_BLOCK)
        return getrandom_all(buf, len);
    if (tl_random_left < len) {
        if (getrandom_all(tl_random, sizeof(tl_random)) != 0)
            return -1;
        tl_random_left = sizeof(tl_random);
    }
    /* Hand out from the end and wipe what was handed out. */
    tl_random_left -= len;
    memcpy(buf, tl_random + tl_random_left, len);
    memset(tl_random + tl_random_left, 0, len);
    return 0;
}

static const char BASE64URL[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int concert__random_bytes(const concert_db *db, unsigned char *buf, size_t len)
{
    if (db->opts.random)
        return db->opts.random(db->opts.random_ctx, buf, len) != 0 ? -1 : 0;
    return os_random(buf, len);
}

int concert__token_generate(const concert_db *db, char *out)
{
    unsigned char raw[TOKEN_RANDOM_BYTES];
    size_t o = 0;

    if (concert__random_bytes(db, raw, sizeof(raw)) != 0)
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
    /* Every token has the same length, so the length is no secret; the
     * contents are compared without an early exit, so the time does not
     * depend on where two tokens first differ. */
    unsigned char diff = 0;
    size_t n;
    if (!a || !b)
        return 0;
    n = strnlen(a, CONCERT_TOKEN_SIZE);
    if (n != strnlen(b, CONCERT_TOKEN_SIZE))
        return 0;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}
