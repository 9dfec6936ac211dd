/*
 * Is a listen address reachable from this machine only? --auth none lets
 * anyone act for any user, so concertd serves it on loopback alone unless
 * told --insecure-demo.
 */
#ifndef CONCERTD_LOOPBACK_H
#define CONCERTD_LOOPBACK_H

struct addrinfo;

/* Resolve host the way the listener binds it (any family, stream, passive):
 * the server and loopback_only() must agree on what a name means. Returns
 * getaddrinfo()'s code; on 0, *found is set and the caller frees it with
 * freeaddrinfo(). */
int listen_resolve(const char *host, struct addrinfo **found);

/* 1 if host (a numeric address or a name) resolves only to loopback
 * addresses (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104), else 0 (also when it
 * does not resolve, or is a wildcard such as 0.0.0.0 or ::). */
int loopback_only(const char *host);

#endif
