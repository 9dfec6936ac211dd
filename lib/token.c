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
#define TOKEN_RANDOM_BYTES CONCERT__TOKEN_BYTES

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

static const char BASE64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Each character's value + 1; 0: not in the alphabet. A table, not a chain
 * of range tests: token characters are random, so each test's branch was
 * mispredicted about once a character, which made checking a token cost
 * 4 % of a whole booking flow (perf, issue 12). */
static const unsigned char BASE64URL_VALUE[256] = {
    ['A'] = 1,  ['B'] = 2,  ['C'] = 3,  ['D'] = 4,  ['E'] = 5,  ['F'] = 6,  ['G'] = 7,  ['H'] = 8,
    ['I'] = 9,  ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16,
    ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
    ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32,
    ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40,
    ['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
    ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
    ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['-'] = 63, ['_'] = 64
};

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
        if (!BASE64URL_VALUE[(unsigned char)text[n]] || n >= CONCERT_TOKEN_SIZE - 1)
            return 0;
    }
    return n > 0;
}

int concert__token_decode(const char *text, unsigned char out[CONCERT__TOKEN_BYTES])
{
    unsigned missing = 0;
    if (strnlen(text, CONCERT__TOKEN_CHARS + 1) != CONCERT__TOKEN_CHARS)
        return 0;
    for (size_t i = 0, o = 0; i < CONCERT__TOKEN_CHARS; i += 4, o += 3) {
        uint32_t v = 0;
        for (size_t j = 0; j < 4; j++) {
            const unsigned d = BASE64URL_VALUE[(unsigned char)text[i + j]];
            missing |= d == 0;
            v = v << 6 | ((d - 1) & 63);
        }
        out[o] = (unsigned char)(v >> 16);
        out[o + 1] = (unsigned char)(v >> 8);
        out[o + 2] = (unsigned char)v;
    }
    return !missing;
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
