/**
 * @file
 * @brief libconcert: common definitions shared by every public header.
 *
 * Nothing here allocates or has state. Include <concert/concert.h> instead of
 * this file directly.
 */
#ifndef CONCERT_COMMON_H
#define CONCERT_COMMON_H

#include <stddef.h>
#include <stdint.h>

/** @def CONCERT_BEGIN_DECLS
 *  Opens an `extern "C"` block when a header is read by a C++ compiler. */
/** @def CONCERT_END_DECLS
 *  Closes the block CONCERT_BEGIN_DECLS opened. */
#ifdef __cplusplus
#define CONCERT_BEGIN_DECLS extern "C" {
#define CONCERT_END_DECLS }
#else
#define CONCERT_BEGIN_DECLS
#define CONCERT_END_DECLS
#endif

/** @def CONCERT_EXTERN
 *  Every exported symbol carries this; everything else is hidden. */
#if defined(_WIN32) && defined(CONCERT_BUILDING_SHARED)
#define CONCERT_EXTERN __declspec(dllexport)
#elif defined(__GNUC__) || defined(__clang__)
#define CONCERT_EXTERN __attribute__((visibility("default")))
#else
#define CONCERT_EXTERN
#endif

/** Major version of these headers. */
#define CONCERT_VERSION_MAJOR 0
/** Minor version of these headers. */
#define CONCERT_VERSION_MINOR 4
/** Patch version of these headers. */
#define CONCERT_VERSION_PATCH 0
/** Version of these headers as "MAJOR.MINOR.PATCH". */
#define CONCERT_VERSION_STRING "0.4.0"
/** MAJOR * 10000 + MINOR * 100 + PATCH, comparable with concert_version_number(). */
#define CONCERT_VERSION_NUMBER                                                                     \
    (CONCERT_VERSION_MAJOR * 10000 + CONCERT_VERSION_MINOR * 100 + CONCERT_VERSION_PATCH)

/** Size of a buffer that holds any queue token plus its terminating NUL. */
#define CONCERT_TOKEN_SIZE 64
/** Longest concert title, in bytes, including the terminating NUL. */
#define CONCERT_TITLE_SIZE 256
/** Longest user name, in bytes, including the terminating NUL. */
#define CONCERT_NAME_SIZE 128
/** Longest seat grade ("VIP", "R"), in bytes, including the terminating NUL. */
#define CONCERT_GRADE_SIZE 16
/** Longest idempotency key accepted, in bytes (no NUL counted). */
#define CONCERT_IDEMPOTENCY_KEY_MAX 255

CONCERT_BEGIN_DECLS

/**
 * A handle on one store. Opaque; safe to share between threads (see the
 * README's Threading section). Opened with concert_db_open(), closed with
 * concert_db_close().
 */
typedef struct concert_db concert_db;

/**
 * Runtime version of the library, to compare with the macros above.
 * @return MAJOR * 10000 + MINOR * 100 + PATCH of the library actually loaded,
 *         comparable with CONCERT_VERSION_NUMBER.
 */
CONCERT_EXTERN int concert_version_number(void);
/**
 * Runtime version of the library as text.
 * @return Static string such as "0.1.0"; never NULL, never to be freed.
 */
CONCERT_EXTERN const char *concert_version_string(void);
/**
 * Runtime version of the library in three parts.
 * Any of the out-params may be NULL.
 * @param[out] major receives the major version, or NULL
 * @param[out] minor receives the minor version, or NULL
 * @param[out] patch receives the patch version, or NULL
 */
CONCERT_EXTERN void concert_version_get(int *major, int *minor, int *patch);

CONCERT_END_DECLS

#endif
