/*
 * timefmt: RFC 3339 round trips, known epoch values, and refusals.
 * Expected values were computed independently (Python's datetime).
 */
#include "timefmt.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

static int64_t parse_ok(const char *text)
{
    int64_t ms = 0;
    cr_assert_eq(timefmt_parse(text, &ms), 0, "should parse: %s", text);
    return ms;
}

Test(timefmt, known_values)
{
    cr_expect_eq(parse_ok("1970-01-01T00:00:00Z"), 0);
    cr_expect_eq(parse_ok("2026-12-24T19:00:00Z"), INT64_C(1798138800000));
    cr_expect_eq(parse_ok("2000-02-29T12:34:56.789Z"), INT64_C(951827696789));
    cr_expect_eq(parse_ok("1969-12-31T23:59:59.999Z"), -1);
    cr_expect_eq(parse_ok("0000-01-01T00:00:00Z"), INT64_C(-62167219200000));
    cr_expect_eq(parse_ok("9999-12-31T23:59:59.999Z"), INT64_C(253402300799999));
    cr_expect_eq(parse_ok("2024-02-29T00:00:00Z"), INT64_C(1709164800000));
}

Test(timefmt, offsets_and_lowercase)
{
    const int64_t utc = parse_ok("2026-12-24T19:00:00Z");
    cr_expect_eq(parse_ok("2026-12-25T04:00:00+09:00"), utc);
    cr_expect_eq(parse_ok("2026-12-24T14:30:00-04:30"), utc);
    cr_expect_eq(parse_ok("2026-12-24T19:00:00+00:00"), utc);
    cr_expect_eq(parse_ok("2026-12-24t19:00:00z"), utc);
}

Test(timefmt, fractions_truncate_to_milliseconds)
{
    const int64_t base = parse_ok("2026-01-01T00:00:00Z");
    cr_expect_eq(parse_ok("2026-01-01T00:00:00.5Z"), base + 500);
    cr_expect_eq(parse_ok("2026-01-01T00:00:00.12Z"), base + 120);
    cr_expect_eq(parse_ok("2026-01-01T00:00:00.123999999Z"), base + 123);
}

Test(timefmt, format_known_values)
{
    char buf[TIMEFMT_SIZE];
    cr_expect_str_eq(timefmt_format(0, buf), "1970-01-01T00:00:00Z");
    cr_expect_str_eq(timefmt_format(INT64_C(1798138800000), buf), "2026-12-24T19:00:00Z");
    cr_expect_str_eq(timefmt_format(INT64_C(951827696789), buf), "2000-02-29T12:34:56.789Z");
    cr_expect_str_eq(timefmt_format(-1, buf), "1969-12-31T23:59:59.999Z");
    cr_expect_str_eq(timefmt_format(INT64_C(-62167219200000), buf), "0000-01-01T00:00:00Z");
    cr_expect_str_eq(timefmt_format(INT64_C(1), buf), "1970-01-01T00:00:00.001Z");
}

Test(timefmt, round_trip_over_a_wide_range)
{
    /* Steps that are not multiples of a day or second, so every field and
     * every month (leap years included) gets exercised from year 0 to 9999. */
    char buf[TIMEFMT_SIZE];
    const int64_t first = INT64_C(-62167219200000);
    const int64_t last = INT64_C(253402300799999);
    const int64_t step = INT64_C(3989123457); /* ~46 days, odd milliseconds */
    int count = 0;
    for (int64_t ms = first; ms <= last; ms += step, count++) {
        int64_t back = 0;
        timefmt_format(ms, buf);
        cr_assert_eq(timefmt_parse(buf, &back), 0, "format gave unparsable %s", buf);
        cr_assert_eq(back, ms, "%s parsed back to %lld, not %lld", buf, (long long)back,
                     (long long)ms);
    }
    cr_expect_gt(count, 70000);
}

Test(timefmt, every_day_of_2024_and_2100)
{
    /* Day-by-day through a leap year and a century non-leap year. */
    const char *starts[] = { "2024-01-01T00:00:00Z", "2100-01-01T00:00:00Z" };
    const int lengths[] = { 366, 365 };
    for (int y = 0; y < 2; y++) {
        int64_t ms = parse_ok(starts[y]);
        for (int d = 0; d < lengths[y]; d++, ms += 86400000) {
            char buf[TIMEFMT_SIZE];
            int64_t back;
            cr_assert_eq(timefmt_parse(timefmt_format(ms, buf), &back), 0);
            cr_assert_eq(back, ms);
        }
        char buf[TIMEFMT_SIZE];
        cr_expect_eq(strncmp(timefmt_format(ms, buf) + 4, "-01-01", 6), 0, "ended at %s", buf);
    }
}

Test(timefmt, rejects)
{
    const char *bad[] = {
        "",
        "2026-12-24",
        "2026-12-24T19:00:00",  /* no zone */
        "2026-12-24 19:00:00Z", /* space instead of T */
        "2026-12-24T19:00Z",    /* no seconds */
        "2026-13-01T00:00:00Z",
        "2026-00-01T00:00:00Z",
        "2026-02-29T00:00:00Z", /* not a leap year */
        "2100-02-29T00:00:00Z", /* century, not leap */
        "2026-04-31T00:00:00Z",
        "2026-01-00T00:00:00Z",
        "2026-01-01T24:00:00Z",
        "2026-01-01T00:60:00Z",
        "2026-12-31T23:59:60Z",            /* leap second */
        "2026-01-01T00:00:00.Z",           /* empty fraction */
        "2026-01-01T00:00:00.1234567890Z", /* more than 9 digits */
        "2026-01-01T00:00:00+09",
        "2026-01-01T00:00:00+0900",
        "2026-01-01T00:00:00+24:00",
        "2026-01-01T00:00:00+09:60",
        "2026-01-01T00:00:00Z ", /* trailing text */
        "2026-01-01T00:00:00ZZ",
        " 2026-01-01T00:00:00Z",
        "+2026-01-01T00:00:00Z",
        "12026-01-01T00:00:00Z",
        "２026-01-01T00:00:00Z", /* non-ASCII digit */
        "2026-1-01T00:00:00Z",
        "2026/01/01T00:00:00Z",
        "-001-01-01T00:00:00Z",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms = 42;
        cr_expect_eq(timefmt_parse(bad[i], &ms), -1, "accepted: \"%s\"", bad[i]);
        cr_expect_eq(ms, 42, "wrote the output for \"%s\"", bad[i]);
    }
    int64_t ms;
    cr_expect_eq(timefmt_parse(NULL, &ms), -1);
    cr_expect_eq(timefmt_parse("2026-01-01T00:00:00Z", NULL), -1);
}

Test(timefmt, extremes_do_not_overflow)
{
    /* Outside 0000..9999 the output is ISO 8601's expanded form, which the
     * parser refuses; what matters is no overflow and a bounded string. */
    char buf[TIMEFMT_SIZE];
    timefmt_format(INT64_MAX, buf);
    cr_expect_str_eq(buf, "+292278994-08-17T07:12:55.807Z");
    timefmt_format(INT64_MIN, buf);
    cr_expect_str_eq(buf, "-292275055-05-16T16:47:04.192Z");
    int64_t ms;
    cr_expect_eq(timefmt_parse(buf, &ms), -1);
    timefmt_format(INT64_C(253402300800000), buf);
    cr_expect_str_eq(buf, "+10000-01-01T00:00:00Z");
}
