/*
 * The OpenAPI document (openapi.json in this directory), embedded at build
 * time by embed_file.cmake so that the binary serves exactly the file kept in
 * the repository.
 */
#ifndef CONCERTD_OPENAPI_H
#define CONCERTD_OPENAPI_H

#include <stddef.h>

extern const unsigned char openapi_json[];
extern const size_t openapi_json_len;
/* Its content hash as an entity tag, quotes included. */
extern const char openapi_json_etag[];

#endif
