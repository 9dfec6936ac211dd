#!/bin/sh
# Run a PostgreSQL test program (its command line follows), or skip it
# visibly with exit 77 when CONCERT_SKIP_POSTGRES=1.
if [ "${CONCERT_SKIP_POSTGRES:-0}" = "1" ]; then
    echo "SKIP: PostgreSQL tests skipped because CONCERT_SKIP_POSTGRES=1"
    exit 77
fi
if [ -n "${CONCERT_TEST_PG_CONNINFO_FILE:-}" ] && [ ! -f "$CONCERT_TEST_PG_CONNINFO_FILE" ]; then
    echo "error: $CONCERT_TEST_PG_CONNINFO_FILE is missing: the test PostgreSQL server is not" \
         "running (its start.sh fixture failed?)" >&2
    exit 1
fi
exec "$@"
