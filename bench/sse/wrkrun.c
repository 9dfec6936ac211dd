/*
 * Run wrk beside the subscribers (see wrkrun.h).
 */
#include "wrkrun.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static double field(const char *line, const char *key)
{
    char pat[48];
    snprintf(pat, sizeof pat, " %s=", key);
    const char *p = strstr(line, pat);
    return p ? strtod(p + strlen(pat), NULL) : 0;
}

int wrk_run(char *const argv[], const char *log_path, subs_pool *pool, wrk_result *out)
{
    const int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        perror(log_path);
        return -1;
    }
    const pid_t pid = fork();
    if (pid < 0) {
        close(fd);
        return -1;
    }
    if (pid == 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        execvp(argv[0], argv);
        perror(argv[0]);
        _exit(127);
    }
    close(fd);
    int status = 0;
    for (;;) {
        const pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid || r < 0)
            break;
        if (pool != NULL)
            subs_pump(pool, 50);
        else
            usleep(50000);
    }
    FILE *f = fopen(log_path, "r");
    if (f == NULL)
        return -1;
    char line[1024];
    int found = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "WRK_RESULT ", 11) != 0)
            continue;
        out->rps = field(line, "rps");
        out->p50_us = field(line, "p50_us");
        out->p99_us = field(line, "p99_us");
        out->requests = (long long)field(line, "requests");
        out->errors = (long long)(field(line, "err_connect") + field(line, "err_read") +
                                  field(line, "err_write") + field(line, "err_timeout") +
                                  field(line, "err_status"));
        found = 0;
        break;
    }
    fclose(f);
    return found;
}
