/*
 * Why some of lib/json/ is exported although it is not public API.
 *
 * The strict JSON reader (json_strict.h), RFC 3339 times (timefmt.h) and the
 * catalog parser (catalog_parse.h) are the library's own: they are how
 * concert_catalog_load_json() reads a catalog. concertd and the concert CLI
 * need the same code for request bodies, JWTs, times and `concert import`.
 * A second compiled copy in those programs would be a second parser to keep
 * in step, and its symbols would clash with libconcert.a's in a static link;
 * so libconcert exports these few functions instead.
 *
 * They are NOT public API: no header under include/ declares them, they make
 * no API or ABI promise, and only programs built from this source tree at the
 * same version (concertd, concert, the tests) may call them. Their symbols
 * carry the library's internal prefix, concert__, so that an application's
 * own timefmt_parse() or json_strict_parse() can neither clash with nor
 * interpose on them; the headers map the short names the callers use.
 */
#ifndef CONCERT_LIB_JSON_TOOLS_EXPORT_H
#define CONCERT_LIB_JSON_TOOLS_EXPORT_H

#include <concert/common.h>

#define CONCERT__TOOLS_EXTERN CONCERT_EXTERN

#endif
