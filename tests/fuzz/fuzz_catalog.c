/*
 * libFuzzer target: the library's catalog reader. Whatever it accepts is
 * loaded into a fresh memory store (the core's validation and the backend),
 * and concert_catalog_load_json() on another fresh store must give the same
 * answer: it is that reader in front of concert_catalog_load().
 */
#include <stdint.h>
#include <stdlib.h>

#include "catalog_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int load_json_fresh(const uint8_t *data, size_t size)
{
    concert_db *db = NULL;
    if (concert_db_open(&db, "memory:", NULL) != 0)
        return 1; /* not this input's fault */
    const int rc = concert_catalog_load_json(db, (const char *)data, size);
    if (rc != 0 && !concert_error_last()->message[0])
        abort(); /* a refusal must say why */
    concert_db_close(db);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    catalog_doc *doc = NULL;
    concert_db *db = NULL;
    char err[256];
    int rc = catalog_json_parse(&doc, (const char *)data, size, err, sizeof(err));
    if (rc != 0) {
        if (doc || rc != CONCERT_EINVAL || !err[0])
            abort(); /* a failure must say where, and leave nothing behind */
        if (load_json_fresh(data, size) != rc)
            abort();
        return 0;
    }
    if (concert_db_open(&db, "memory:", NULL) == 0) {
        rc = concert_catalog_load(db, catalog_doc_catalog(doc));
        if (rc != 0 && rc != CONCERT_EINVAL && rc != CONCERT_ECONFLICT && rc != CONCERT_ENOMEM)
            abort();
        concert_db_close(db);
        const int via_json = load_json_fresh(data, size);
        if (via_json != 1 && via_json != rc)
            abort();
    }
    catalog_doc_free(doc);
    return 0;
}
