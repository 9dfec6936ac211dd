/*
 * A growable array that the core fills from backend callbacks, and the
 * single-block lists handed to applications (one free() releases them).
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void concert__vec_init(concert__vec *v, size_t item_size)
{
    v->items = NULL;
    v->count = 0;
    v->capacity = 0;
    v->item_size = item_size;
}

int concert__vec_push(concert__vec *v, const void *item)
{
    if (v->count == v->capacity) {
        size_t cap = v->capacity ? v->capacity * 2 : 16;
        void *grown;
        if (cap > SIZE_MAX / v->item_size)
            return CONCERT_ENOMEM;
        grown = realloc(v->items, cap * v->item_size);
        if (!grown)
            return CONCERT_ENOMEM;
        v->items = grown;
        v->capacity = cap;
    }
    memcpy((char *)v->items + v->count * v->item_size, item, v->item_size);
    v->count++;
    return CONCERT_OK;
}

void concert__vec_free(concert__vec *v)
{
    free(v->items);
    concert__vec_init(v, v->item_size);
}

void *concert__list_from_vec(size_t header_size, const concert__vec *v, void **items_out)
{
    /* Round the header up so the items that follow are aligned for int64_t. */
    size_t offset = (header_size + 15) & ~(size_t)15;
    size_t bytes = v->count * v->item_size;
    char *block;

    if (bytes / (v->item_size ? v->item_size : 1) != v->count || offset + bytes < offset)
        return NULL;
    block = calloc(1, offset + bytes);
    if (!block)
        return NULL;
    if (bytes)
        memcpy(block + offset, v->items, bytes);
    *items_out = v->count ? block + offset : NULL;
    return block;
}
