/*
 * Request framing and header syntax that libmicrohttpd 0.9.75 lets through
 * and concertd refuses (docs/http-edge.md): checked on the first call of
 * the access handler, before any body byte is read, so that a refused
 * request's body never runs as a request of its own.
 */
#ifndef CONCERTD_EDGE_CHECK_H
#define CONCERTD_EDGE_CHECK_H

#include <stddef.h>

#include <microhttpd.h>

typedef struct edge_verdict {
    int status;          /* 0: acceptable; else 400 or 501 */
    const char *message; /* static text for the error body */
} edge_verdict;

/* Judge the head of the request on connection (HTTP version as MHD gives
 * it). Rules, in order:
 *   - a Content-Length given more than once (even with equal values): 400
 *   - Transfer-Encoding together with Content-Length: 400
 *   - Transfer-Encoding given more than once or other than "chunked": 501
 *   - a header name that is not an RFC 9110 token (a space before the
 *     colon, control bytes): 400
 *   - a header value with CR, LF or NUL (RFC 9110 §5.5 MUST; other
 *     control bytes are left to each header's own rules): 400
 *   - HTTP/1.1 without exactly one Host: 400
 *   - with target_len > 0 (--strict-headers): a head longer than the
 *     request line and headers libmicrohttpd parsed from it, written out
 *     canonically ("Name: value" CRLF): 400. libmicrohttpd 0.9.75 silently
 *     cuts a value at a NUL byte and glues a folded line (obs-fold) onto
 *     the header name, so the parsed view cannot show either; the lost
 *     bytes can. target_len is the raw request target's length. The
 *     price, and why it is not the default: whitespace RFC 9110 allows
 *     (padding around a value, which the contract accepts) is refused
 *     too. */
edge_verdict edge_check_head(struct MHD_Connection *connection, const char *method,
                             const char *version, size_t target_len);

/* The rules on one header line, for tests: 1 if acceptable. */
int edge_header_name_ok(const char *name, size_t len);
int edge_header_value_ok(const char *value, size_t len);

#endif
