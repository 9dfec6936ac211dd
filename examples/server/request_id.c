/*
 * Request ids (see request_id.h). Generated ids need to be unique, not
 * secret: a per-thread splitmix64 stream seeded once from the OS makes two
 * 64-bit halves without a system call per request.
 */
#include "request_id.h"

#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static int id_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

int request_id_acceptable(const char *given)
{
    if (given == NULL)
        return 0;
    size_t n = 0;
    for (; given[n] != '\0'; n++) {
        if (n >= REQUEST_ID_MAX || !id_char(given[n]))
            return 0;
    }
    return n > 0;
}

static uint64_t next_random(void)
{
    static _Thread_local uint64_t state;
    static _Thread_local int seeded;
    if (!seeded) {
        if (getrandom(&state, sizeof state, 0) != (ssize_t)sizeof state) {
            struct timespec now; /* no entropy source: still distinct per thread */
            clock_gettime(CLOCK_REALTIME, &now);
            state =
                (uint64_t)now.tv_nsec ^ ((uint64_t)now.tv_sec << 32) ^ (uint64_t)(uintptr_t)&state;
        }
        seeded = 1;
    }
    uint64_t z = (state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

void request_id_choose(char out[REQUEST_ID_SIZE], const char *given)
{
    if (request_id_acceptable(given)) {
        memcpy(out, given, strlen(given) + 1);
        return;
    }
    static const char hex[] = "0123456789abcdef";
    for (int half = 0; half < 2; half++) {
        uint64_t v = next_random();
        for (int i = 0; i < 16; i++) {
            out[half * 16 + i] = hex[v & 15];
            v >>= 4;
        }
    }
    out[32] = '\0';
}
