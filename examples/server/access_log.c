/*
 * The access log lines (see access_log.h).
 */
#include "access_log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "timefmt.h"

/* A bounded line being built; overflow is cut, never written past. Room
 * for a 200-character path escaped in JSON and every other field. */
typedef struct line_buf {
    char text[1024];
    size_t len;
} line_buf;

static void line_add(line_buf *line, const char *bytes, size_t n)
{
    const size_t room = sizeof line->text - 1 - line->len; /* keep one for '\n' */
    if (n > room)
        n = room;
    memcpy(line->text + line->len, bytes, n);
    line->len += n;
}

static void line_add_str(line_buf *line, const char *text)
{
    line_add(line, text, strlen(text));
}

/* value as decimal digits, at least min_digits of them (zero-padded). */
static void line_add_uint(line_buf *line, uint64_t value, size_t min_digits)
{
    char digits[24];
    size_t n = 0;
    do {
        digits[sizeof digits - 1 - n++] = (char)('0' + value % 10);
        value /= 10;
    } while ((value != 0 || n < min_digits) && n < sizeof digits);
    line_add(line, digits + sizeof digits - n, n);
}

/* A JSON string of printable ASCII text: only " and \ need escaping. */
static void line_add_json_string(line_buf *line, const char *text)
{
    line_add(line, "\"", 1);
    for (const char *p = text; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            line_add(line, "\\", 1);
        line_add(line, p, 1);
    }
    line_add(line, "\"", 1);
}

static int64_t wall_clock_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* "2026-11-25T21:58:43.490Z". The part up to the second is formatted once a
 * second per thread: snprintf() for every request showed up in profiles. */
static void line_add_timestamp(line_buf *line)
{
    static _Thread_local int64_t cached_second = -1;
    static _Thread_local char cached_prefix[TIMEFMT_SIZE];
    static _Thread_local size_t cached_len;
    const int64_t now_ms = wall_clock_ms();
    const int64_t second = now_ms / 1000;
    if (second != cached_second) {
        char full[TIMEFMT_SIZE];
        timefmt_format(second * 1000, full); /* "...:SS" + "Z" */
        cached_len = strlen(full);
        if (cached_len > 0 && full[cached_len - 1] == 'Z')
            cached_len--;
        memcpy(cached_prefix, full, cached_len);
        cached_second = second;
    }
    line_add(line, cached_prefix, cached_len);
    line_add(line, ".", 1);
    line_add_uint(line, (uint64_t)(now_ms % 1000), 3);
    line_add(line, "Z", 1);
}

/* "12.345" milliseconds from microseconds. */
static void line_add_ms(line_buf *line, uint64_t micros)
{
    line_add_uint(line, micros / 1000, 1);
    line_add(line, ".", 1);
    line_add_uint(line, micros % 1000, 3);
}

static void build_text(line_buf *line, const access_log_entry *e)
{
    line_add_timestamp(line);
    line_add(line, " ", 1);
    line_add_str(line, e->method);
    line_add(line, " ", 1);
    line_add_str(line, e->path);
    line_add(line, " ", 1);
    if (e->status != 0)
        line_add_uint(line, (uint64_t)e->status, 1);
    else
        line_add(line, "-", 1);
    line_add(line, " ", 1);
    line_add_ms(line, e->duration_us);
    line_add_str(line, "ms route=");
    line_add_str(line, e->route);
    line_add_str(line, " bytes=");
    line_add_uint(line, e->bytes, 1);
    line_add_str(line, " id=");
    line_add_str(line, e->request_id);
    if (e->closed_early)
        line_add_str(line, " (connection closed early)");
    if (e->detail[0] != '\0') {
        line_add(line, " ", 1);
        line_add_str(line, e->detail);
    }
}

static void build_json(line_buf *line, const access_log_entry *e)
{
    line_add_str(line, "{\"ts\":\"");
    line_add_timestamp(line);
    line_add_str(line, "\",\"method\":");
    line_add_json_string(line, e->method);
    line_add_str(line, ",\"route\":");
    line_add_json_string(line, e->route);
    line_add_str(line, ",\"path\":");
    line_add_json_string(line, e->path);
    line_add_str(line, ",\"status\":");
    line_add_uint(line, (uint64_t)e->status, 1);
    line_add_str(line, ",\"duration_ms\":");
    line_add_ms(line, e->duration_us);
    line_add_str(line, ",\"bytes\":");
    line_add_uint(line, e->bytes, 1);
    line_add_str(line, ",\"request_id\":");
    line_add_json_string(line, e->request_id);
    if (e->closed_early)
        line_add_str(line, ",\"closed_early\":true");
    if (e->detail[0] != '\0') {
        line_add_str(line, ",\"detail\":");
        line_add_json_string(line, e->detail);
    }
    /* A cut line would not parse: end it whatever was cut (the fields are
     * bounded so that it never is). */
    if (line->len > sizeof line->text - 3)
        line->len = sizeof line->text - 3;
    line_add(line, "}", 1);
}

void access_log_write(http_log_format format, const access_log_entry *e)
{
    if (format == HTTP_LOG_OFF)
        return;
    line_buf line;
    line.len = 0;
    if (format == HTTP_LOG_JSON)
        build_json(&line, e);
    else
        build_text(&line, e);
    line.text[line.len++] = '\n';
    ssize_t ignored = write(STDERR_FILENO, line.text, line.len);
    (void)ignored; /* nowhere left to report a failing stderr */
}
