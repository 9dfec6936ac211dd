/*
 * RFC 3339 <-> milliseconds since the epoch.
 *
 * Civil dates are converted with Howard Hinnant's days-from-civil algorithm
 * (proleptic Gregorian calendar) instead of mktime()/timegm(): mktime() reads
 * TZ and the locale, timegm() is not standard C, and both work on time_t,
 * which may be 32 bits. Everything here is pure integer arithmetic.
 */
#include "timefmt.h"

#include <stdio.h>

/* Days from 1970-01-01 to the given date (negative before it). Valid for any
 * year the parser accepts (0..9999) and far beyond. */
static int64_t days_from_civil(int64_t year, int64_t month, int64_t day)
{
    year -= month <= 2;
    const int64_t era = (year >= 0 ? year : year - 399) / 400;
    const int64_t year_of_era = year - era * 400; /* [0, 399] */
    const int64_t day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    const int64_t day_of_era =
        year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + day_of_era - 719468;
}

/* Inverse of days_from_civil(). days may be any value derived from an
 * int64_t millisecond count (|days| < 1.1e11), so nothing overflows. */
static void civil_from_days(int64_t days, int64_t *year, int *month, int *day)
{
    days += 719468;
    const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    const int64_t day_of_era = days - era * 146097; /* [0, 146096] */
    const int64_t year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
    const int64_t day_of_year =
        day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    const int64_t mp = (5 * day_of_year + 2) / 153; /* March = 0 */
    *day = (int)(day_of_year - (153 * mp + 2) / 5 + 1);
    *month = (int)(mp < 10 ? mp + 3 : mp - 9);
    *year = year_of_era + era * 400 + (*month <= 2);
}

static int is_leap_year(int64_t year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static int days_in_month(int64_t year, int month)
{
    static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (month == 2 && is_leap_year(year))
        return 29;
    return days[month - 1];
}

/* Read exactly count ASCII digits at *p into *value and advance *p.
 * isdigit() is avoided on purpose: it depends on the locale. */
static int read_digits(const char **p, int count, int *value)
{
    int v = 0;
    for (int i = 0; i < count; i++) {
        const char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *p += count;
    *value = v;
    return 0;
}

static int expect_char(const char **p, char a, char b)
{
    if (**p != a && **p != b)
        return -1;
    (*p)++;
    return 0;
}

/* Most fraction digits accepted; nanoseconds are the finest anyone sends,
 * and a bound keeps a hostile input from being read forever. */
#define MAX_FRACTION_DIGITS 9

int timefmt_parse(const char *text, int64_t *ms_out)
{
    if (text == NULL || ms_out == NULL)
        return -1;
    const char *p = text;
    int year, month, day, hour, minute, second;
    if (read_digits(&p, 4, &year) || expect_char(&p, '-', '-') || read_digits(&p, 2, &month) ||
        expect_char(&p, '-', '-') || read_digits(&p, 2, &day) || expect_char(&p, 'T', 't') ||
        read_digits(&p, 2, &hour) || expect_char(&p, ':', ':') || read_digits(&p, 2, &minute) ||
        expect_char(&p, ':', ':') || read_digits(&p, 2, &second))
        return -1;
    /* Second 60 (a leap second) is refused: epoch milliseconds, like POSIX
     * time, have no way to name it. */
    if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) || hour > 23 ||
        minute > 59 || second > 59)
        return -1;

    int64_t millis = 0;
    if (*p == '.') {
        p++;
        int digits = 0;
        int64_t scale = 100;
        while (*p >= '0' && *p <= '9') {
            if (++digits > MAX_FRACTION_DIGITS)
                return -1;
            /* Digits past the third are below a millisecond: truncated. */
            millis += (*p - '0') * scale;
            scale /= 10;
            p++;
        }
        if (digits == 0)
            return -1;
    }

    int64_t offset_minutes = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        const int sign = *p == '-' ? -1 : 1;
        int offset_hour, offset_minute;
        p++;
        if (read_digits(&p, 2, &offset_hour) || expect_char(&p, ':', ':') ||
            read_digits(&p, 2, &offset_minute))
            return -1;
        if (offset_hour > 23 || offset_minute > 59)
            return -1;
        offset_minutes = sign * (offset_hour * 60 + offset_minute);
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;

    /* Year <= 9999 bounds every term well inside int64_t. */
    const int64_t days = days_from_civil(year, month, day);
    const int64_t seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    *ms_out = seconds * 1000 + millis;
    return 0;
}

char *timefmt_format(int64_t ms, char *buf)
{
    /* Floor division so that times before 1970 land on the right day. */
    int64_t seconds = ms / 1000;
    int64_t millis = ms % 1000;
    if (millis < 0) {
        millis += 1000;
        seconds -= 1;
    }
    int64_t days = seconds / 86400;
    int64_t second_of_day = seconds % 86400;
    if (second_of_day < 0) {
        second_of_day += 86400;
        days -= 1;
    }
    int64_t year;
    int month, day;
    civil_from_days(days, &year, &month, &day);
    const int hour = (int)(second_of_day / 3600);
    const int minute = (int)(second_of_day / 60 % 60);
    const int second = (int)(second_of_day % 60);

    /* Years outside 0000..9999 cannot be written in RFC 3339; they get
     * ISO 8601's expanded form with an explicit sign (which timefmt_parse()
     * refuses) rather than a silently wrong date. The widest, for INT64_MIN,
     * is 30 characters, so TIMEFMT_SIZE always suffices. */
    int used;
    if (year >= 0 && year <= 9999)
        used = snprintf(buf, TIMEFMT_SIZE, "%04lld", (long long)year);
    else
        used = snprintf(buf, TIMEFMT_SIZE, "%+05lld", (long long)year);
    if (used < 0 || used >= TIMEFMT_SIZE)
        goto unrepresentable;
    int more;
    if (millis != 0)
        more =
            snprintf(buf + used, (size_t)(TIMEFMT_SIZE - used), "-%02d-%02dT%02d:%02d:%02d.%03dZ",
                     month, day, hour, minute, second, (int)millis);
    else
        more = snprintf(buf + used, (size_t)(TIMEFMT_SIZE - used), "-%02d-%02dT%02d:%02d:%02dZ",
                        month, day, hour, minute, second);
    if (more < 0 || more >= TIMEFMT_SIZE - used)
        goto unrepresentable;
    return buf;

unrepresentable:
    /* Cannot happen for any int64_t (see above); kept so that a future
     * change to the format cannot overflow buf. */
    snprintf(buf, TIMEFMT_SIZE, "%s", "invalid-time");
    return buf;
}
