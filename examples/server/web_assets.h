/*
 * The web app's files (web/ in this directory), embedded at build time by
 * embed_file.cmake (see CMakeLists.txt), so that concertd serves them with
 * no files beside the binary. For each file, its bytes (NUL-terminated,
 * len without the NUL) and its content hash as an entity tag.
 */
#ifndef CONCERTD_WEB_ASSETS_H
#define CONCERTD_WEB_ASSETS_H

#include <stddef.h>

#define WEB_ASSET(sym)                                                                             \
    extern const unsigned char sym[];                                                              \
    extern const size_t sym##_len;                                                                 \
    extern const char sym##_etag[]

WEB_ASSET(web_index_html);
WEB_ASSET(web_app_css);
WEB_ASSET(web_app_js);
WEB_ASSET(web_i18n_js);
WEB_ASSET(web_favicon_svg);

#undef WEB_ASSET

#endif
