/*
 * A cap on the connections open at once from one client address
 * (--max-conns-per-ip, docs/http-edge.md), so that one address cannot take
 * every connection slot (slowloris from one host).
 *
 * libmicrohttpd has a cap of its own (MHD_OPTION_PER_IP_CONNECTION_LIMIT),
 * but it counts loopback peers like any other; a reverse proxy on the same
 * host is one loopback peer for every client, so concertd counts itself
 * and leaves loopback out unless asked (--cap-loopback).
 */
#ifndef CONCERTD_EDGE_IPCAP_H
#define CONCERTD_EDGE_IPCAP_H

#include <sys/socket.h>

typedef struct edge_ipcap edge_ipcap;

/* A cap of max connections per address (> 0); loopback peers count only
 * if cap_loopback. NULL when out of memory. */
edge_ipcap *edge_ipcap_new(unsigned max, int cap_loopback);

/* NULL is a no-op. Entries left are freed. */
void edge_ipcap_free(edge_ipcap *cap);

/* A connection from addr opened. 1: it was counted (call edge_ipcap_leave
 * when it closes); 0: not counted (loopback, an unknown family, or out of
 * memory: let it in); -1: the address is at its cap (refuse it). */
int edge_ipcap_enter(edge_ipcap *cap, const struct sockaddr *addr);

/* A counted connection from addr closed. */
void edge_ipcap_leave(edge_ipcap *cap, const struct sockaddr *addr);

#endif
