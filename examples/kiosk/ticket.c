/*
 * The printed ticket and its verification code: a keyed hash of the
 * reservation, so a door checker who knows the venue key can tell a
 * ticket this kiosk printed from a made-up one. The hash is SipHash-2-4
 * truncated to 32 bits; short enough to read out, and a guess is right
 * once in four billion.
 */
#include "kiosk.h"

#include <stdio.h>
#include <string.h>

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static void sip_round(uint64_t v[4])
{
    v[0] += v[1];
    v[1] = ROTL(v[1], 13);
    v[1] ^= v[0];
    v[0] = ROTL(v[0], 32);
    v[2] += v[3];
    v[3] = ROTL(v[3], 16);
    v[3] ^= v[2];
    v[0] += v[3];
    v[3] = ROTL(v[3], 21);
    v[3] ^= v[0];
    v[2] += v[1];
    v[1] = ROTL(v[1], 17);
    v[1] ^= v[2];
    v[2] = ROTL(v[2], 32);
}

static uint64_t load64(const unsigned char *p)
{
    uint64_t x = 0;
    for (int i = 7; i >= 0; i--)
        x = (x << 8) | p[i];
    return x;
}

/* SipHash-2-4 of msg under a 16-byte key. */
static uint64_t siphash(const unsigned char key[16], const unsigned char *msg, size_t len)
{
    const uint64_t k0 = load64(key), k1 = load64(key + 8);
    uint64_t v[4] = { k0 ^ 0x736f6d6570736575ULL, k1 ^ 0x646f72616e646f6dULL,
                      k0 ^ 0x6c7967656e657261ULL, k1 ^ 0x7465646279746573ULL };
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        const uint64_t m = load64(msg + i);
        v[3] ^= m;
        sip_round(v);
        sip_round(v);
        v[0] ^= m;
    }
    uint64_t last = (uint64_t)len << 56;
    for (size_t j = 0; i + j < len; j++)
        last |= (uint64_t)msg[i + j] << (8 * j);
    v[3] ^= last;
    sip_round(v);
    sip_round(v);
    v[0] ^= last;
    v[2] ^= 0xff;
    for (int r = 0; r < 4; r++)
        sip_round(v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}

uint32_t kiosk_ticket_code(const char *key, const concert_reservation *r)
{
    unsigned char k[16] = { 0 };
    const size_t n = strlen(key);
    /* Longer keys fold in by XOR so every byte counts. */
    for (size_t i = 0; i < n; i++)
        k[i % 16] ^= (unsigned char)key[i];
    char msg[96];
    const int len =
        snprintf(msg, sizeof msg, "%lld/%lld/%lld/%lld", (long long)r->id,
                 (long long)r->schedule_id, (long long)r->seat_number, (long long)r->price);
    const uint64_t h = siphash(k, (const unsigned char *)msg, (size_t)len);
    return (uint32_t)(h ^ (h >> 32));
}

void kiosk_ticket_print(const kiosk *k, const concert_reservation *r, const char *grade)
{
    const uint32_t code = kiosk_ticket_code(k->ticket_key, r);
    printf("+------------------------------+\n"
           "| TICKET  reservation %-9lld|\n"
           "| schedule %-8lld seat %-6lld|\n"
           "| grade %-6s price %-10lld|\n"
           "| code %04X-%04X               |\n"
           "+------------------------------+\n",
           (long long)r->id, (long long)r->schedule_id, (long long)r->seat_number, grade,
           (long long)r->price, (unsigned)(code >> 16), (unsigned)(code & 0xffff));
}
