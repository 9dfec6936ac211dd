/*
 * concert_catalog_load_json(): the catalog reader (catalog_parse.c) in front
 * of concert_catalog_load(), so that every front end (concertd, the CLI, the
 * bindings) reads catalogs with the same strict rules and messages.
 */
#include <concert/catalog_json.h>

#include "catalog_parse.h"
#include "internal.h"

/* Room for the longest message the reader writes (a path of up to 192
 * bytes, a quoted key and a sentence); concert__error_set keeps 512. */
#define READER_MESSAGE_SIZE 512

int concert_catalog_load_json(concert_db *db, const char *text, size_t len)
{
    if (db == NULL)
        return concert__error_set(CONCERT_EINVAL, "concert_catalog_load_json: NULL db");
    if (text == NULL && len > 0)
        return concert__error_set(CONCERT_EINVAL, "concert_catalog_load_json: NULL text");

    char message[READER_MESSAGE_SIZE];
    catalog_doc *doc = NULL;
    const int parsed = catalog_json_parse(&doc, text, len, message, sizeof message);
    if (parsed != 0)
        return concert__error_set(parsed, "%s", message[0] ? message : "catalog: not readable");
    /* concert_catalog_load() sets its own detail on failure. */
    const int rc = concert_catalog_load(db, catalog_doc_catalog(doc));
    catalog_doc_free(doc);
    return rc;
}
