/*
 * Finding duplicate keys in JSON text. json-c silently keeps the last of
 * two equal keys in an object, so {"price": 100, "price": 1} would load a
 * price nobody meant; the catalog parser refuses such input instead.
 */
#ifndef CONCERT_EXAMPLES_JSON_DUPKEYS_H
#define CONCERT_EXAMPLES_JSON_DUPKEYS_H

#include <stddef.h>

/*
 * Scan text (len bytes, already known to be valid JSON) for an object with
 * a key repeated among its first JSON_DUPKEYS_TRACKED keys; objects nested
 * deeper than JSON_DUPKEYS_MAX_DEPTH are not looked into. Keys compare as
 * written (escapes not decoded). Returns 1 and writes the key's place, e.g.
 * "concerts[0].schedules[1].seats[0].price" (truncated to pathlen, control
 * characters replaced by '?'), or 0 if there is none.
 */
int json_find_duplicate_key(const char *text, size_t len, char *path, size_t pathlen);

/* Enough for any object of the catalog format, whose objects have at most
 * four known keys: a fifth key is either unknown or a repeat among the first
 * five, so a duplicate-or-unknown error is never missed. */
#define JSON_DUPKEYS_TRACKED 8
#define JSON_DUPKEYS_MAX_DEPTH 32

#endif
