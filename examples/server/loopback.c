/*
 * Loopback test for listen addresses (see loopback.h).
 */
#include "loopback.h"

#include <netdb.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

static int is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        const unsigned char *b = (const unsigned char *)&in->sin_addr;
        return b[0] == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        static const unsigned char v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
        const unsigned char *b = in6->sin6_addr.s6_addr;
        if (memcmp(b, v4_mapped, sizeof v4_mapped) == 0)
            return b[12] == 127;
        static const unsigned char one[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
        return memcmp(b, one, sizeof one) == 0;
    }
    return 0;
}

int listen_resolve(const char *host, struct addrinfo **found)
{
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    *found = NULL;
    return getaddrinfo(host, NULL, &hints, found);
}

int loopback_only(const char *host)
{
    struct addrinfo *found = NULL;
    if (listen_resolve(host, &found) != 0 || found == NULL)
        return 0;
    int only = 1;
    for (const struct addrinfo *a = found; a != NULL && only; a = a->ai_next)
        only = a->ai_addr != NULL && is_loopback(a->ai_addr);
    freeaddrinfo(found);
    return only;
}
