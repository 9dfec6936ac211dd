/*
 * libFuzzer target: the catalog JSON parser, and whatever it accepts is
 * loaded into a fresh memory store (the core's validation and the backend).
 */
#include <stdint.h>
#include <stdlib.h>

#include "catalog_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    catalog_doc *doc = NULL;
    concert_db *db = NULL;
    char err[256];
    int rc = catalog_json_parse(&doc, (const char *)data, size, err, sizeof(err));
    if (rc != 0) {
        if (doc || rc != CONCERT_EINVAL || !err[0])
            abort(); /* a failure must say where, and leave nothing behind */
        return 0;
    }
    if (concert_open(&db, "memory:", NULL) == 0) {
        rc = concert_catalog_load(db, catalog_doc_catalog(doc));
        if (rc != 0 && rc != CONCERT_EINVAL && rc != CONCERT_ECONFLICT && rc != CONCERT_ENOMEM)
            abort();
        concert_close(db);
    }
    catalog_doc_free(doc);
    return 0;
}
