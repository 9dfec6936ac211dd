/*
 * Print concertd's route table, one "METHOD PATTERN ACCESS" per line, so
 * that the OpenAPI test compares the document with what the server really
 * routes, and the access test tries every route that acts for a user.
 */
#include <stdio.h>

#include "access.h"
#include "router.h"

int main(void)
{
    size_t count = 0;
    const route *routes = router_routes(&count);
    for (size_t i = 0; i < count; i++) {
        if (printf("%s %s %s\n", routes[i].method, routes[i].pattern,
                   access_name(routes[i].access)) < 0)
            return 1;
    }
    return fflush(stdout) == 0 ? 0 : 1;
}
