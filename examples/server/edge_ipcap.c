/*
 * Connections per client address (see edge_ipcap.h): a hash table of
 * addresses with an open connection, under one mutex; an address leaves
 * the table when its last connection closes.
 */
#include "edge_ipcap.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 4096u

typedef struct ip_entry {
    unsigned char addr[16]; /* IPv4 as a v4-mapped IPv6 address */
    unsigned count;
    struct ip_entry *next;
} ip_entry;

struct edge_ipcap {
    pthread_mutex_t lock;
    unsigned max;
    int cap_loopback;
    ip_entry *buckets[BUCKETS];
};

edge_ipcap *edge_ipcap_new(unsigned max, int cap_loopback)
{
    if (max == 0)
        return NULL;
    edge_ipcap *cap = calloc(1, sizeof *cap);
    if (cap == NULL)
        return NULL;
    if (pthread_mutex_init(&cap->lock, NULL) != 0) {
        free(cap);
        return NULL;
    }
    cap->max = max;
    cap->cap_loopback = cap_loopback;
    return cap;
}

void edge_ipcap_free(edge_ipcap *cap)
{
    if (cap == NULL)
        return;
    for (unsigned i = 0; i < BUCKETS; i++) {
        for (ip_entry *e = cap->buckets[i]; e != NULL;) {
            ip_entry *next = e->next;
            free(e);
            e = next;
        }
    }
    pthread_mutex_destroy(&cap->lock);
    free(cap);
}

/* The address as 16 bytes; 0, or -1 for a family that is not IP. */
static int address_key(const struct sockaddr *addr, unsigned char key[16], int *loopback)
{
    if (addr == NULL)
        return -1;
    if (addr->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)addr;
        memset(key, 0, 10);
        key[10] = key[11] = 0xFF;
        memcpy(key + 12, &in->sin_addr, 4);
    } else if (addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)addr;
        memcpy(key, &in6->sin6_addr, 16);
    } else {
        return -1;
    }
    static const unsigned char v6_loopback[16] = { [15] = 1 };
    static const unsigned char v4_mapped[12] = { [10] = 0xFF, [11] = 0xFF };
    /* 127.0.0.0/8 (IPv4 or v4-mapped) and ::1 */
    *loopback =
        (memcmp(key, v4_mapped, 12) == 0 && key[12] == 127) || memcmp(key, v6_loopback, 16) == 0;
    return 0;
}

static unsigned bucket_of(const unsigned char key[16])
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (int i = 0; i < 16; i++)
        h = (h ^ key[i]) * 16777619u;
    return h % BUCKETS;
}

int edge_ipcap_enter(edge_ipcap *cap, const struct sockaddr *addr)
{
    unsigned char key[16];
    int loopback = 0;
    if (address_key(addr, key, &loopback) != 0 || (loopback && !cap->cap_loopback))
        return 0;
    const unsigned b = bucket_of(key);
    int verdict = 1;
    pthread_mutex_lock(&cap->lock);
    ip_entry *e = cap->buckets[b];
    while (e != NULL && memcmp(e->addr, key, 16) != 0)
        e = e->next;
    if (e == NULL) {
        e = calloc(1, sizeof *e);
        if (e == NULL) {
            verdict = 0;
        } else {
            memcpy(e->addr, key, 16);
            e->next = cap->buckets[b];
            cap->buckets[b] = e;
        }
    }
    if (e != NULL) {
        if (e->count >= cap->max)
            verdict = -1;
        else
            e->count++;
    }
    pthread_mutex_unlock(&cap->lock);
    return verdict;
}

void edge_ipcap_leave(edge_ipcap *cap, const struct sockaddr *addr)
{
    unsigned char key[16];
    int loopback = 0;
    if (address_key(addr, key, &loopback) != 0)
        return;
    const unsigned b = bucket_of(key);
    pthread_mutex_lock(&cap->lock);
    ip_entry **link = &cap->buckets[b];
    while (*link != NULL && memcmp((*link)->addr, key, 16) != 0)
        link = &(*link)->next;
    ip_entry *e = *link;
    if (e != NULL && e->count > 0 && --e->count == 0) {
        *link = e->next;
        free(e);
    }
    pthread_mutex_unlock(&cap->lock);
}
