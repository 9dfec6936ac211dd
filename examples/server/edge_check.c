/*
 * Head checks (see edge_check.h).
 */
#include "edge_check.h"

#include <string.h>
#include <strings.h>

/* RFC 9110 §5.6.2 tchar. */
static int is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 1;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

int edge_header_name_ok(const char *name, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (!is_tchar((unsigned char)name[i]))
            return 0;
    }
    return 1;
}

int edge_header_value_ok(const char *value, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        const unsigned char c = (unsigned char)value[i];
        /* RFC 9110 §5.5: a recipient MUST reject (or replace) CR, LF and
         * NUL in a field value; other control bytes it MAY keep, and
         * concertd leaves them to the header's own rules (a control byte
         * in an Idempotency-Key is a 422 of the contract). */
        if (c == '\r' || c == '\n' || c == '\0')
            return 0;
    }
    return 1;
}

typedef struct head_scan {
    unsigned content_length;
    unsigned transfer_encoding;
    unsigned host;
    int chunked; /* the one Transfer-Encoding is "chunked" */
    int bad_name;
    int bad_value;
    size_t canonical; /* the header lines written as "Name: value" CRLF */
} head_scan;

static enum MHD_Result scan_one(void *cls, enum MHD_ValueKind kind, const char *key,
                                size_t key_size, const char *value, size_t value_size)
{
    head_scan *scan = cls;
    (void)kind;
    scan->canonical += key_size + 2 + value_size + 2;
    if (key == NULL || !edge_header_name_ok(key, key_size)) {
        scan->bad_name = 1;
        return MHD_YES;
    }
    if (value != NULL && !edge_header_value_ok(value, value_size))
        scan->bad_value = 1;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
        scan->content_length++;
    } else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
        scan->transfer_encoding++;
        /* Exactly one coding, chunked: "chunked, identity" or "gzip"
         * would need a decoder concertd does not have. */
        scan->chunked = value != NULL && value_size == 7 && strcasecmp(value, "chunked") == 0;
    } else if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0) {
        scan->host++;
    }
    return MHD_YES;
}

edge_verdict edge_check_head(struct MHD_Connection *connection, const char *method,
                             const char *version, size_t target_len)
{
    head_scan scan;
    memset(&scan, 0, sizeof scan);
    MHD_get_connection_values_n(connection, MHD_HEADER_KIND, scan_one, &scan);
    edge_verdict v = { 0, NULL };
    if (scan.content_length > 1) {
        v = (edge_verdict){ 400, "Content-Length is given more than once" };
    } else if (scan.transfer_encoding > 0 && scan.content_length > 0) {
        v = (edge_verdict){ 400, "Transfer-Encoding and Content-Length are both given" };
    } else if (scan.transfer_encoding > 1 || (scan.transfer_encoding == 1 && !scan.chunked)) {
        v = (edge_verdict){ 501, "the only Transfer-Encoding accepted is chunked" };
    } else if (scan.bad_name) {
        v = (edge_verdict){ 400, "a header name is not a token (a space before the colon?)" };
    } else if (scan.bad_value) {
        v = (edge_verdict){ 400, "a header value holds a control character or a folded line" };
    } else if (version != NULL && strcmp(version, MHD_HTTP_VERSION_1_1) == 0 && scan.host != 1) {
        v = (edge_verdict){ 400, "an HTTP/1.1 request needs exactly one Host header" };
    } else if (target_len > 0 && method != NULL && version != NULL) {
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(connection, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
        /* request line, header lines, empty line */
        const size_t canonical =
            strlen(method) + 1 + target_len + 1 + strlen(version) + 2 + scan.canonical + 2;
        if (info != NULL && info->header_size > canonical)
            v = (edge_verdict){ 400, "the header holds a NUL byte, a folded line (obs-fold) or "
                                     "extra whitespace" };
    }
    return v;
}
