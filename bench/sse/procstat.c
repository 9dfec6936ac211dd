/*
 * /proc readers (see procstat.h).
 */
#include "procstat.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The value of a "Name:   N kB" line of /proc/PID/status, or -1. */
static int64_t status_field(const char *text, const char *name)
{
    const char *p = strstr(text, name);
    if (p == NULL)
        return -1;
    p += strlen(name);
    char *end;
    const long long v = strtoll(p, &end, 10);
    return end == p ? -1 : (int64_t)v;
}

static int read_small(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    const size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return 0;
}

int procstat_memory(pid_t pid, int64_t *rss_kib, int64_t *hwm_kib)
{
    char path[64], text[8192];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    if (read_small(path, text, sizeof text) != 0)
        return -1;
    *rss_kib = status_field(text, "\nVmRSS:");
    *hwm_kib = status_field(text, "\nVmHWM:");
    return *rss_kib < 0 ? -1 : 0;
}

int procstat_threads(pid_t pid)
{
    char path[64], text[8192];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    if (read_small(path, text, sizeof text) != 0)
        return -1;
    return (int)status_field(text, "\nThreads:");
}

int64_t procstat_cpu_ms(pid_t pid)
{
    char path[64], text[4096];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (read_small(path, text, sizeof text) != 0)
        return -1;
    /* The command name may hold spaces and parentheses: fields are
     * counted from the last ")". utime and stime are fields 14 and 15,
     * the 12th and 13th after it. */
    const char *p = strrchr(text, ')');
    if (p == NULL)
        return -1;
    p++;
    unsigned long long utime = 0, stime = 0;
    for (int field = 1; field <= 13; field++) {
        while (*p == ' ')
            p++;
        char *end;
        const unsigned long long v = strtoull(p, &end, 10);
        if (field == 12)
            utime = v;
        if (field == 13)
            stime = v;
        while (*end != ' ' && *end != '\0')
            end++;
        p = end;
    }
    const long tck = sysconf(_SC_CLK_TCK);
    return (int64_t)((utime + stime) * 1000ULL / (unsigned long long)(tck > 0 ? tck : 100));
}

int64_t procstat_cpu_ns(pid_t pid)
{
    char path[96];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    int64_t total = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char text[128];
        snprintf(path, sizeof path, "/proc/%d/task/%.16s/schedstat", (int)pid, e->d_name);
        if (read_small(path, text, sizeof text) == 0)
            total += strtoll(text, NULL, 10); /* a thread gone meanwhile counts 0 */
    }
    closedir(d);
    return total;
}

int procstat_fds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

double procstat_load1(void)
{
    char text[128];
    if (read_small("/proc/loadavg", text, sizeof text) != 0)
        return -1;
    return strtod(text, NULL);
}
