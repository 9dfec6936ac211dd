/*
 * The memory backend's token texts. The core's tokens (32 base64url
 * characters) are kept as their 24 decoded bytes; any other text is kept
 * verbatim. Lookup goes through token_ix by a hash of the text.
 */
#include <stdlib.h>
#include <string.h>

#include "memory_internal.h"

static const char BASE64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Character -> its 6-bit value, or 0x80 for characters outside the
 * alphabet. Built from BASE64URL at open (a table keeps decoding
 * branch-free). */
static unsigned char BASE64URL_VALUE[256];
static pthread_once_t base64url_once = PTHREAD_ONCE_INIT;

static void base64url_table_build(void)
{
    memset(BASE64URL_VALUE, 0x80, sizeof(BASE64URL_VALUE));
    for (int i = 0; i < 64; i++)
        BASE64URL_VALUE[(unsigned char)BASE64URL[i]] = (unsigned char)i;
}

void memory__token_codec_init(void)
{
    pthread_once(&base64url_once, base64url_table_build);
}

/* 1 and the 24 bytes if text is 32 base64url characters (a bijection: no
 * padding, so re-encoding gives the same text), else 0. Every booking step
 * decodes its token, so this is straight-line: the invalid flags are ORed
 * together and tested once. */
static int token_decode(const char *text, size_t len, uint8_t out[TOKEN_COMPACT_BYTES])
{
    const unsigned char *in = (const unsigned char *)text;
    uint32_t invalid = 0;
    if (len != TOKEN_COMPACT_CHARS)
        return 0;
    for (size_t i = 0, o = 0; i < TOKEN_COMPACT_CHARS; i += 4, o += 3) {
        uint32_t a = BASE64URL_VALUE[in[i]], b = BASE64URL_VALUE[in[i + 1]];
        uint32_t c = BASE64URL_VALUE[in[i + 2]], d = BASE64URL_VALUE[in[i + 3]];
        uint32_t v = a << 18 | b << 12 | c << 6 | d;
        invalid |= a | b | c | d;
        out[o] = (uint8_t)(v >> 16);
        out[o + 1] = (uint8_t)(v >> 8);
        out[o + 2] = (uint8_t)v;
    }
    return !(invalid & 0x80);
}

/* The token's text into out (CONCERT_TOKEN_SIZE bytes). */
void memory__token_text(const memory_store *s, const mem_token *t, char *out)
{
    if (t->verbatim) {
        const char *text = s->verbatim[memory__verbatim_slot(t)];
        size_t n = strnlen(text, CONCERT_TOKEN_SIZE - 1);
        memcpy(out, text, n);
        out[n] = '\0';
        return;
    }
    for (size_t i = 0, o = 0; i < TOKEN_COMPACT_BYTES; i += 3) {
        uint32_t v = (uint32_t)t->text[i] << 16 | (uint32_t)t->text[i + 1] << 8 | t->text[i + 2];
        out[o++] = BASE64URL[(v >> 18) & 63];
        out[o++] = BASE64URL[(v >> 12) & 63];
        out[o++] = BASE64URL[(v >> 6) & 63];
        out[o++] = BASE64URL[v & 63];
    }
    out[TOKEN_COMPACT_CHARS] = '\0';
}

/* Compact tokens hash three 64-bit words (fast on the hot path); other
 * texts go byte by byte. Either way the same text always hashes the same. */
static uint64_t token_key_hash(int compact, const uint8_t *bytes, const char *text, size_t len)
{
    uint64_t w[3];
    if (!compact)
        return mem_hash_bytes(text, len, 2);
    memcpy(w, bytes, sizeof(w));
    return mem_hash_mix(w[2] ^
                        mem_hash_mix(w[1] ^ mem_hash_mix(w[0] ^ UINT64_C(0x9e3779b97f4a7c15))));
}

uint64_t memory__token_hash(const memory_store *s, const mem_token *t)
{
    if (t->verbatim) {
        const char *text = s->verbatim[memory__verbatim_slot(t)];
        return token_key_hash(0, NULL, text, strlen(text));
    }
    return token_key_hash(1, t->text, NULL, 0);
}

/* 0, or -1 if text cannot be a token (empty or too long). */
int memory__token_key_make(const char *text, token_key *k)
{
    if (!text)
        return -1;
    k->len = strnlen(text, CONCERT_TOKEN_SIZE);
    if (k->len == 0 || k->len >= CONCERT_TOKEN_SIZE)
        return -1;
    k->compact = token_decode(text, k->len, k->bytes);
    k->hash = token_key_hash(k->compact, k->bytes, text, k->len);
    return 0;
}

/* 1 if the 24 bytes are equal, in constant time. */
static int compact_equal(const uint8_t *a, const uint8_t *b)
{
    uint64_t x[3], y[3];
    memcpy(x, a, sizeof(x));
    memcpy(y, b, sizeof(y));
    return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2])) == 0;
}

/* The ticket index of the token with this text and key, or MEM_NO_TOKEN. Candidates
 * found by hash are compared in constant time, as the contract asks: the
 * compact form by its decoded bytes (the same text exactly when the same
 * bytes, and no re-encoding on the hot path), any other by its text. A
 * compact text never equals a verbatim one (verbatim means not compact). */
uint64_t memory__token_find_key(const memory_store *s, const char *text, const token_key *k)
{
    mem_probe p;

    for (uint32_t slot = mem_index_first(&s->token_ix, k->hash, &p); slot;
         slot = mem_index_next(&s->token_ix, &p)) {
        const uint64_t i = memory__token_number(s, slot - 1);
        const mem_token *t = memory__token(s, i);
        if (t->verbatim != !k->compact)
            continue;
        if (k->compact ? compact_equal(t->text, k->bytes)
                       : concert_sys_token_equal(s->verbatim[memory__verbatim_slot(t)], text))
            return i;
    }
    return MEM_NO_TOKEN;
}

uint64_t memory__token_find(const memory_store *s, const char *text)
{
    token_key k;
    if (memory__token_key_make(text, &k) != 0)
        return MEM_NO_TOKEN;
    return memory__token_find_key(s, text, &k);
}

int memory__token_refusal(const memory_store *s, uint64_t ti, const concert_queue_params *p,
                          int64_t now)
{
    const mem_token *t = memory__token(s, ti);
    if (t->state == CONCERT_TOKEN_ACTIVE && now < t->when)
        return CONCERT_OK;
    if (t->state == CONCERT_TOKEN_WAITING && memory__token_live(t, p, now)) {
        if (memory__prequeued(s, ti))
            return concert_sys_error_set(CONCERT_ETOKEN_NOT_ACTIVE,
                                         "token not active yet: waiting for the opening");
        return concert_sys_error_set(CONCERT_ETOKEN_NOT_ACTIVE,
                                     "token not active yet: position %lld in the queue",
                                     (long long)ti + 1 - (long long)s->admitted_through);
    }
    return concert_sys_error_set(CONCERT_ETOKEN_INVALID, "token invalid: expired or ended");
}

int memory__token_require_active(const memory_store *s, const char *text,
                                 const concert_queue_params *p, int64_t now, uint64_t *index_out)
{
    uint64_t ti = memory__token_find(s, text);
    int rc;

    if (ti == MEM_NO_TOKEN)
        return concert_sys_error_set(CONCERT_ETOKEN_INVALID, "token invalid: unknown token");
    if ((rc = memory__token_refusal(s, ti, p, now)) != 0)
        return rc;
    *index_out = ti;
    return CONCERT_OK;
}
