#include "internal.h"

int concert_version_number(void)
{
    return CONCERT_VERSION_NUMBER;
}

const char *concert_version_string(void)
{
    return CONCERT_VERSION_STRING;
}

void concert_version_get(int *major, int *minor, int *patch)
{
    if (major)
        *major = CONCERT_VERSION_MAJOR;
    if (minor)
        *minor = CONCERT_VERSION_MINOR;
    if (patch)
        *patch = CONCERT_VERSION_PATCH;
}
