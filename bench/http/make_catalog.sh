#!/bin/sh
# Write a catalog JSON for the benchmarks (the format of
# include/concert/catalog_json.h, read by lib/json/catalog_parse.c) to stdout.
#   make_catalog.sh queue USERS
#       USERS users with no points, no concerts (the queue runs).
#   make_catalog.sh booking USERS FLOW_SCHEDULES
#       USERS users with 10^9 points; concert 1 OPEN with schedule 1 of
#       1,000 seats (the seat listing) and schedules 2..FLOW_SCHEDULES+1 of
#       100,000 seats each (the reserve+pay flow).
#   make_catalog.sh pgbench USERS SCHEDULES
#       USERS users; concert 1 with SCHEDULES schedules of 1,000,000 seats.
# Schedules start 30 days from now, so they are bookable.
set -eu
kind=$1
starts=$(date -u -d '+30 days' +%Y-%m-%dT%H:%M:%SZ)
case "$kind" in
queue)
    awk -v n="$2" 'BEGIN {
        printf "{\"users\":[";
        for (i = 1; i <= n; i++) printf "%s{\"id\":%d,\"name\":\"u%d\"}", (i > 1 ? "," : ""), i, i;
        printf "],\"concerts\":[]}\n" }'
    ;;
booking)
    awk -v n="$2" -v f="$3" -v starts="$starts" 'BEGIN {
        printf "{\"users\":[";
        for (i = 1; i <= n; i++)
            printf "%s{\"id\":%d,\"name\":\"u%d\",\"points\":1000000000}", (i > 1 ? "," : ""), i, i;
        printf "],\"concerts\":[{\"id\":1,\"title\":\"Benchmark\",\"status\":\"OPEN\",\"schedules\":[";
        printf "{\"id\":1,\"starts_at\":\"%s\",\"seats\":[{\"from\":1,\"to\":1000,\"grade\":\"R\",\"price\":100}]}", starts;
        for (s = 2; s <= f + 1; s++)
            printf ",{\"id\":%d,\"starts_at\":\"%s\",\"seats\":[{\"from\":1,\"to\":100000,\"grade\":\"R\",\"price\":100}]}", s, starts;
        printf "]}]}\n" }'
    ;;
pgbench)
    awk -v n="$2" -v f="$3" -v starts="$starts" 'BEGIN {
        printf "{\"users\":[";
        for (i = 1; i <= n; i++) printf "%s{\"id\":%d,\"name\":\"u%d\"}", (i > 1 ? "," : ""), i, i;
        printf "],";
        printf "\"concerts\":[{\"id\":1,\"title\":\"Benchmark\",\"status\":\"OPEN\",\"schedules\":[";
        for (s = 1; s <= f; s++)
            printf "%s{\"id\":%d,\"starts_at\":\"%s\",\"seats\":[{\"from\":1,\"to\":1000000,\"grade\":\"R\",\"price\":100}]}", (s > 1 ? "," : ""), s, starts;
        printf "]}]}\n" }'
    ;;
*)
    echo "usage: $0 queue USERS | booking USERS FLOW_SCHEDULES | pgbench USERS SCHEDULES" >&2
    exit 2
    ;;
esac
