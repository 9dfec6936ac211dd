/* libFuzzer target: the store URI parser (no I/O: concert__uri_parse). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *uri = malloc(size + 1);
    const char *location = NULL;
    int kind = 0;
    if (!uri)
        return 0;
    memcpy(uri, data, size);
    uri[size] = '\0';
    if (concert__uri_parse(uri, &kind, &location) == 0) {
        /* What it hands a backend lies inside the string (or is ""). */
        if (!location || kind < CONCERT__STORE_MEMORY || kind > CONCERT__STORE_POSTGRES)
            abort();
        if (*location && (location < uri || location > uri + strlen(uri)))
            abort();
    } else if (concert_error_last()->code != CONCERT_EINVAL) {
        abort();
    }
    free(uri);
    return 0;
}
