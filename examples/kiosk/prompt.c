/* The clerk's yes/no question: anything but an explicit yes is a no, so a
 * stray Enter never takes money. */
#include "kiosk.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

int kiosk_confirm(const char *question)
{
    printf("%s [y/N] ", question);
    fflush(stdout);
    char line[32];
    if (fgets(line, sizeof line, stdin) == NULL)
        return 0;
    line[strcspn(line, " \t\r\n")] = '\0';
    return strcasecmp(line, "y") == 0 || strcasecmp(line, "yes") == 0;
}
