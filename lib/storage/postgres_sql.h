/*
 * The PostgreSQL backend's prepared statements (the schema and its
 * server-side functions are in postgres_schema_sql.h); documented in
 * docs/storage-postgres.md. Every value from a caller reaches these texts
 * as a bound parameter ($1, $2, ...), never spliced in.
 */
#ifndef CONCERT_POSTGRES_SQL_H
#define CONCERT_POSTGRES_SQL_H

/* Advisory lock classes (first key of pg_advisory_xact_lock(int, int)):
 * 1668246884 schema, 1668246885 one issuer per user, 1668246886 an
 * idempotency key, 1668246887 the queue lock K (shared by joins, exclusive
 * for admission, the lottery and settings changes; postgres_schema_sql.h). */
#define PG_LOCK_SCHEMA_SQL "SELECT pg_advisory_xact_lock(1668246884, 0)"
#define PG_LOCK_QUEUE_SQL "SELECT pg_advisory_xact_lock(1668246887, 0)"

/* Change counter rows per schedule (list versions, postgres_schema5_sql.h):
 * seat n counts on stripe n mod PG_LIST_STRIPES; as text for SQL. */
#define PG_LIST_STRIPES 16
#define PG_LIST_STRIPES_TEXT "16"

/* The queue as the core sees it, read without locks (one row of
 * queue_state): the columns of PG_QUEUE_VIEW_* below, in that order, with
 * `prequeued` the count to report and `now` the parameter holding now. */
#define PG_QUEUE_VIEW_COLUMNS(prequeued, now)                                                      \
    "q.active, q.admitted_through, (SELECT last_value FROM concert.tickets), q.rate_mps, "         \
    "q.window_start, q.window_count, q.max_active, q.admit_per_minute, q.state, q.opens_at, "      \
    "q.pace_us, " prequeued ", EXISTS (SELECT 1 FROM concert.tokens e WHERE e.state = 2 "          \
    "AND e.expires_at <= " now ")"
enum {
    PG_QV_ACTIVE,
    PG_QV_THROUGH,
    PG_QV_LAST,
    PG_QV_RATE,
    PG_QV_WINDOW_START,
    PG_QV_WINDOW_COUNT,
    PG_QV_MAX_ACTIVE,
    PG_QV_PER_MINUTE,
    PG_QV_STATE,
    PG_QV_OPENS_AT,
    PG_QV_PACE,
    PG_QV_PREQUEUED,
    PG_QV_EXPIRED,
    PG_QV_COLUMNS
};

/* A hold, the whole step in one round trip (concert_fn.seat_hold): token,
 * schedule, seat, now, hold_until, wait_ttl, concert, max_per_concert,
 * max_holds. scripts/bench.sh's pgbench runs this very text
 * (bench/pg_holds.c). */
#define PG_SEAT_HOLD_SQL                                                                           \
    "SELECT * FROM concert_fn.seat_hold($1::text, $2::bigint, $3::bigint, $4::bigint, "            \
    "$5::bigint, $6::bigint, $7::bigint, $8::bigint, $9::bigint)"

/* End a WAITING token that idled past wait_ttl at now (schema 6): a status
 * check that reports it ENDED makes it so, so that a step at an earlier
 * `now` never finds it WAITING again. Its end is when it idled out. The
 * condition is checked again here: a poll may have moved last_seen. */
#define PG_SCHEMA6_DROP_IDLE(id, now, wait_ttl)                                                    \
    "UPDATE concert.tokens SET state = 3, ended_at = last_seen + " wait_ttl " "                    \
    "WHERE id = " id " AND state = 1 AND last_seen + " wait_ttl " <= " now

/* The prepared statements, by index (pg_stmt in postgres_internal.h). */
#define PG_STATEMENTS(X)                                                                           \
    X(PG_Q_ISSUE, "SELECT * FROM concert_fn.queue_issue($1::bigint, $2::text, $3::bigint, "        \
                  "$4::bigint, $5::bigint, $6::bigint)")                                           \
    X(PG_Q_STATUS, "SELECT * FROM concert_fn.queue_status($1::text, $2::bigint, $3::bigint, "      \
                   "$4::bigint)")                                                                  \
    X(PG_Q_PEEK,                                                                                   \
      "SELECT " PG_QUEUE_VIEW_COLUMNS(                                                             \
          "0::bigint",                                                                             \
          "$2::bigint") ", t.id, "                                                                 \
                        "t.ticket, t.token, t.user_id, t.state, t.last_seen, t.expires_at "        \
                        "FROM concert.queue_state q "                                              \
                        "LEFT JOIN concert.tokens t ON t.lookup = hashtextextended($1::text, 0) "  \
                        "AND t.token = $1::text WHERE q.id = 1")                                   \
    X(PG_Q_TOUCH, "UPDATE concert.tokens SET last_seen = greatest(last_seen, $2::bigint) "         \
                  "WHERE id = $1::bigint AND state = 1")                                           \
    X(PG_Q_DROP_IDLE, PG_SCHEMA6_DROP_IDLE("$1::bigint", "$2::bigint", "$3::bigint"))              \
    X(PG_Q_LEAVE, "SELECT * FROM concert_fn.queue_leave($1::text, $2::bigint, $3::bigint, "        \
                  "$4::bigint)")                                                                   \
    X(PG_Q_STATS, "SELECT * FROM concert_fn.queue_stats($1::bigint, $2::bigint, $3::bigint)")      \
    X(PG_Q_STATS_PEEK,                                                                             \
      "SELECT " PG_QUEUE_VIEW_COLUMNS("CASE WHEN q.state = 4 THEN (SELECT count(*) FROM "          \
                                      "concert.tokens WHERE ticket IS NULL AND state = 1) "        \
                                      "ELSE 0 END",                                                \
                                      "$1::bigint") " FROM concert.queue_state q WHERE q.id = 1")  \
    X(PG_Q_LOCK, PG_LOCK_QUEUE_SQL)                                                                \
    X(PG_Q_ROW_LOCK, "SELECT state, opens_at, max_active, admit_per_minute, rate_mps, "            \
                     "window_start, window_count FROM concert.queue_state WHERE id = 1 "           \
                     "FOR UPDATE")                                                                 \
    X(PG_Q_PREQUEUED, "SELECT id FROM concert.tokens WHERE ticket IS NULL ORDER BY id")            \
    X(PG_Q_LOTTERY_ASSIGN,                                                                         \
      "WITH base AS (SELECT last_value AS b FROM concert.tickets), "                               \
      "a AS (UPDATE concert.tokens t SET ticket = base.b + u.ord FROM base, "                      \
      "unnest($1::bigint[]) WITH ORDINALITY AS u(id, ord) WHERE t.id = u.id RETURNING 1) "         \
      "SELECT (SELECT count(*) FROM a), "                                                          \
      "setval('concert.tickets', (SELECT b FROM base) + $2::bigint, true)")                        \
    X(PG_Q_SETTINGS_SET, "UPDATE concert.queue_state SET max_active = $1::bigint, "                \
                         "admit_per_minute = $2::bigint, state = $3::smallint, "                   \
                         "opens_at = $4::bigint WHERE id = 1")                                     \
    X(PG_Q_ADMIT, "SELECT concert_fn.admit($1::bigint, $2::bigint, $3::bigint)")                   \
    X(PG_RATE_GET, "SELECT rate_mps, window_start, window_count FROM concert.queue_state "         \
                   "WHERE id = 1")                                                                 \
    X(PG_RATE_CAS, "UPDATE concert.queue_state SET rate_mps = $1::bigint, "                        \
                   "window_start = $2::bigint, window_count = $3::bigint WHERE id = 1 "            \
                   "AND rate_mps = $4::bigint AND window_start = $5::bigint "                      \
                   "AND window_count = $6::bigint")                                                \
    X(PG_CONCERTS_LIST, "SELECT id, status, title, max_per_user FROM concert.concerts "            \
                        "WHERE $1::int = 0 OR status = $1::int ORDER BY id")                       \
    X(PG_CONCERT_GET, "SELECT id, status, title, max_per_user FROM concert.concerts "              \
                      "WHERE id = $1::bigint")                                                     \
    X(PG_SCHEDULES_LIST,                                                                           \
      "SELECT s.id, s.starts_at, CASE WHEN s.starts_at > $2::bigint THEN "                         \
      "(SELECT count(*) FROM concert.seats t WHERE t.schedule_id = s.id "                          \
      "AND t.sold_reservation_id IS NULL AND t.hold_until <= $3::bigint) END, "                    \
      "count(*) OVER () FROM concert.schedules s WHERE s.concert_id = $1::bigint "                 \
      "ORDER BY s.starts_at, s.id")                                                                \
    X(PG_SCHEDULE_GET, "SELECT s.id, s.concert_id, s.starts_at, c.status, c.max_per_user "         \
                       "FROM concert.schedules s JOIN concert.concerts c "                         \
                       "ON c.id = s.concert_id WHERE s.id = $1::bigint")                           \
    X(PG_SEATS_AVAILABLE, "SELECT number, price, grade FROM concert.seats "                        \
                          "WHERE schedule_id = $1::bigint AND sold_reservation_id IS NULL "        \
                          "AND hold_until <= $2::bigint ORDER BY number")                          \
    X(PG_SEAT_MAP, "SELECT number, price, grade, CASE WHEN sold_reservation_id IS NOT NULL "       \
                   "THEN 3 WHEN hold_until > $2::bigint THEN 2 ELSE 1 END, hold_until "            \
                   "FROM concert.seats WHERE schedule_id = $1::bigint ORDER BY number")            \
    X(PG_LIST_VERSION_SCHEDULE,                                                                    \
      "SELECT (SELECT value FROM concert.meta WHERE name = 'epoch'), "                             \
      "(SELECT coalesce(sum(changes), 0)::bigint FROM concert.list_changes "                       \
      "WHERE schedule_id = $1::bigint), "                                                          \
      "(SELECT coalesce(max(hold_until), 0) FROM concert.seats WHERE schedule_id = $1::bigint "    \
      "AND hold_until > 0 AND hold_until <= $2::bigint), 0::bigint")                               \
    X(PG_LIST_VERSION_CONCERT,                                                                     \
      "SELECT (SELECT value FROM concert.meta WHERE name = 'epoch'), "                             \
      "(SELECT coalesce(sum(c.changes), 0)::bigint FROM concert.schedules s "                      \
      "JOIN concert.list_changes c ON c.schedule_id = s.id WHERE s.concert_id = $1::bigint), "     \
      "(SELECT coalesce(max(x.m), 0) FROM concert.schedules s CROSS JOIN LATERAL "                 \
      "(SELECT max(hold_until) AS m FROM concert.seats WHERE schedule_id = s.id "                  \
      "AND hold_until > 0 AND hold_until <= $2::bigint) x WHERE s.concert_id = $1::bigint), "      \
      "(SELECT count(*) FROM concert.schedules WHERE concert_id = $1::bigint "                     \
      "AND starts_at <= $3::bigint)")                                                              \
    X(PG_LOAD_USER, "WITH u AS (INSERT INTO concert.users (id, name, balance) "                    \
                    "VALUES ($1::bigint, $2::text, $3::bigint) ON CONFLICT (id) DO NOTHING "       \
                    "RETURNING id, balance), "                                                     \
                    "l AS (INSERT INTO concert.ledger (user_id, type, amount, balance_after, at) " \
                    "SELECT id, 1, balance, balance, $4::bigint FROM u WHERE balance > 0) "        \
                    "SELECT id FROM u")                                                            \
    X(PG_LOAD_CONCERT, "INSERT INTO concert.concerts (id, title, status, max_per_user) "           \
                       "VALUES ($1::bigint, $2::text, $3::smallint, $4::int) "                     \
                       "ON CONFLICT (id) DO NOTHING RETURNING id")                                 \
    X(PG_LOAD_SCHEDULE, "INSERT INTO concert.schedules (id, concert_id, starts_at) "               \
                        "VALUES ($1::bigint, $2::bigint, $3::bigint) "                             \
                        "ON CONFLICT (id) DO NOTHING RETURNING id")                                \
    X(PG_LOAD_SEATS, "INSERT INTO concert.seats (schedule_id, number, grade, price) "              \
                     "SELECT $1::bigint, g, $2::text, $3::bigint "                                 \
                     "FROM generate_series($4::bigint, $5::bigint) g")                             \
    X(PG_SEAT_HOLD, PG_SEAT_HOLD_SQL)                                                              \
    X(PG_RESERVATION_GET, "SELECT id, user_id, schedule_id, seat_number, price, status, "          \
                          "held_until FROM concert.reservations WHERE id = $1::bigint")            \
    X(PG_PAY, "SELECT * FROM concert_fn.pay($1::bigint[], $2::text, $3::bigint, $4::bigint, "      \
              "$5::text, $6::text, $7::bigint)")                                                   \
    X(PG_RELEASE, "SELECT * FROM concert_fn.reservation_release($1::bigint, $2::text, "            \
                  "$3::bigint, $4::bigint)")                                                       \
    X(PG_TOKEN_OWNER, "SELECT user_id FROM concert.tokens "                                        \
                      "WHERE lookup = hashtextextended($1::text, 0) AND token = $1::text")         \
    X(PG_TOKEN_PAID, "SELECT paid_reservation_id FROM concert.tokens "                             \
                     "WHERE lookup = hashtextextended($1::text, 0) AND token = $1::text")          \
    X(PG_CHARGE, "SELECT * FROM concert_fn.charge($1::bigint, $2::bigint, $3::bigint, "            \
                 "$4::bigint, $5::text, $6::text, $7::bigint)")                                    \
    X(PG_BALANCE_GET, "SELECT balance FROM concert.users WHERE id = $1::bigint")                   \
    X(PG_HISTORY_LIST,                                                                             \
      "SELECT l.id, l.type, l.amount, l.balance_after, l.at, l.reservation_id "                    \
      "FROM concert.users u LEFT JOIN LATERAL (SELECT * FROM concert.ledger e "                    \
      "WHERE e.user_id = u.id AND e.id < $2::bigint ORDER BY e.id DESC LIMIT $3::bigint) l "       \
      "ON true WHERE u.id = $1::bigint ORDER BY l.id DESC")                                        \
    X(PG_USERS_LIST, "SELECT id, balance, name FROM concert.users ORDER BY id")                    \
    X(PG_PRUNE_SETTLE, "SELECT concert_fn.prune_settle($1::bigint, $2::bigint, $3::bigint)")       \
    X(PG_PRUNE, "SELECT * FROM concert_fn.prune($1::bigint, $2::bigint, $3::int)")                 \
    X(PG_VERIFY_COUNTS,                                                                            \
      "SELECT (SELECT count(*) FROM concert.users), (SELECT count(*) FROM concert.ledger), "       \
      "(SELECT count(*) FROM concert.seats), "                                                     \
      "(SELECT count(*) FROM concert.seats WHERE sold_reservation_id IS NOT NULL), "               \
      "(SELECT count(*) FROM concert.reservations), (SELECT count(*) FROM concert.payments), "     \
      "(SELECT count(*) FROM concert.tokens WHERE state = 2 AND expires_at > $1::bigint)")         \
    X(PG_VERIFY_VIOLATIONS, PG_VERIFY_SQL)                                                         \
    X(PG_VERIFY_VIOLATIONS_5, PG_VERIFY5_SQL)

/* Every invariant of concert_admin_verify(), one text row per violation (at most
 * 100 per check). $1 = now; max_active is the store's shared setting. */
#define PG_VERIFY_SQL                                                                              \
    "(SELECT format('seat %s of schedule %s is sold to reservation %s, which is not a "            \
    "CONFIRMED reservation of that seat', s.number, s.schedule_id, s.sold_reservation_id) "        \
    "FROM concert.seats s LEFT JOIN concert.reservations r ON r.id = s.sold_reservation_id "       \
    "WHERE s.sold_reservation_id IS NOT NULL AND (r.id IS NULL OR r.status <> 2 "                  \
    "OR r.schedule_id <> s.schedule_id OR r.seat_number <> s.number) LIMIT 100) "                  \
    "UNION ALL "                                                                                   \
    "(SELECT format('seat %s of schedule %s has %s CONFIRMED reservations', seat_number, "         \
    "schedule_id, count(*)) FROM concert.reservations WHERE status = 2 "                           \
    "GROUP BY schedule_id, seat_number HAVING count(*) > 1 LIMIT 100) "                            \
    "UNION ALL "                                                                                   \
    "(SELECT format('CONFIRMED reservation %s refers to no payment', id) "                         \
    "FROM concert.reservations WHERE status = 2 AND payment_id IS NULL LIMIT 100) "                \
    "UNION ALL "                                                                                   \
    "(SELECT format('reservation %s is %s but refers to payment %s', id, "                         \
    "CASE status WHEN 1 THEN 'HELD' ELSE 'RELEASED' END, payment_id) "                             \
    "FROM concert.reservations WHERE status <> 2 AND payment_id IS NOT NULL LIMIT 100) "           \
    "UNION ALL "                                                                                   \
    "(SELECT format('payment %s: %s points, its %s reservations cost %s', p.id, p.amount, "        \
    "coalesce(x.n, 0), coalesce(x.total, 0)) "                                                     \
    "FROM concert.payments p LEFT JOIN (SELECT payment_id, count(*) AS n, sum(price) AS total "    \
    "FROM concert.reservations WHERE payment_id IS NOT NULL GROUP BY payment_id) x "               \
    "ON x.payment_id = p.id WHERE x.n IS NULL OR x.total <> p.amount LIMIT 100) "                  \
    "UNION ALL "                                                                                   \
    "(SELECT format('payment %s of user %s pays for reservation %s of user %s', p.id, "            \
    "p.user_id, r.id, r.user_id) FROM concert.payments p JOIN concert.reservations r "             \
    "ON r.payment_id = p.id WHERE r.user_id <> p.user_id LIMIT 100) "                              \
    "UNION ALL "                                                                                   \
    "(SELECT format('payment %s names reservation %s, which it did not pay for', p.id, "           \
    "p.reservation_id) FROM concert.payments p JOIN concert.reservations r "                       \
    "ON r.id = p.reservation_id WHERE r.payment_id IS DISTINCT FROM p.id LIMIT 100) "              \
    "UNION ALL "                                                                                   \
    "(SELECT format('seat %s of schedule %s is held by RELEASED reservation %s', s.number, "       \
    "s.schedule_id, r.id) FROM concert.seats s JOIN concert.reservations r "                       \
    "ON r.id = s.hold_reservation_id WHERE r.status = 4 LIMIT 100) "                               \
    "UNION ALL "                                                                                   \
    "(SELECT format('CONFIRMED reservation %s: seat %s of schedule %s is not sold to it', "        \
    "r.id, r.seat_number, r.schedule_id) FROM concert.reservations r "                             \
    "LEFT JOIN concert.seats s ON s.schedule_id = r.schedule_id AND s.number = r.seat_number "     \
    "WHERE r.status = 2 AND s.sold_reservation_id IS DISTINCT FROM r.id LIMIT 100) "               \
    "UNION ALL "                                                                                   \
    "(SELECT format('user %s: balance %s, ledger sum %s', u.id, u.balance, "                       \
    "coalesce(l.total, 0)) FROM concert.users u LEFT JOIN (SELECT user_id, sum(amount) AS "        \
    "total FROM concert.ledger GROUP BY user_id) l ON l.user_id = u.id "                           \
    "WHERE u.balance <> coalesce(l.total, 0) OR u.balance < 0 LIMIT 100) "                         \
    "UNION ALL "                                                                                   \
    "(SELECT format('seat %s of schedule %s is sold and also held by reservation %s', "            \
    "number, schedule_id, hold_reservation_id) FROM concert.seats "                                \
    "WHERE sold_reservation_id IS NOT NULL AND hold_reservation_id IS NOT NULL "                   \
    "AND hold_until > $1::bigint LIMIT 100) "                                                      \
    "UNION ALL "                                                                                   \
    "(SELECT format('%s tokens are active, more than max_active %s', a.n, q.max_active) "          \
    "FROM concert.queue_state q, (SELECT count(*) AS n FROM concert.tokens WHERE state = 2 "       \
    "AND expires_at > $1::bigint) a WHERE a.n > q.max_active) "                                    \
    "UNION ALL "                                                                                   \
    "(SELECT format('queue: admission reached ticket %s, past the last one issued (%s)', "         \
    "q.admitted_through, t.last_value) FROM concert.queue_state q, concert.tickets t "             \
    "WHERE q.admitted_through > t.last_value) "                                                    \
    "UNION ALL "                                                                                   \
    "(SELECT format('queue: token %s has no ticket (pre-queued) but the queue is %s', t.id, "      \
    "CASE q.state WHEN 1 THEN 'OPEN' WHEN 2 THEN 'PAUSED' ELSE 'CLOSED' END) "                     \
    "FROM concert.tokens t, concert.queue_state q WHERE t.ticket IS NULL AND q.state <> 4 "        \
    "LIMIT 100) "                                                                                  \
    "UNION ALL "                                                                                   \
    "(SELECT format('queue: pre-queued token %s is ACTIVE before the opening', id) "               \
    "FROM concert.tokens WHERE ticket IS NULL AND state = 2 LIMIT 100) "                           \
    "UNION ALL "                                                                                   \
    "(SELECT format('queue counts %s active tokens but %s are live', q.active, a.n) "              \
    "FROM concert.queue_state q, (SELECT count(*) AS n FROM concert.tokens WHERE state = 2 "       \
    "AND expires_at > $1::bigint) a WHERE q.active < a.n)"

/* The checks of schema 5 (list versions, retention), one row per violation. */
#define PG_VERIFY5_SQL                                                                             \
    "(SELECT format('schedule %s has %s change counters, not ' || " PG_LIST_STRIPES_TEXT           \
    ", s.id, count(c.stripe)) FROM concert.schedules s LEFT JOIN concert.list_changes c "          \
    "ON c.schedule_id = s.id GROUP BY s.id HAVING count(c.stripe) <> " PG_LIST_STRIPES_TEXT        \
    " LIMIT 100) "                                                                                 \
    "UNION ALL "                                                                                   \
    "(SELECT format('token %s has ended but has no end time (retention)', id) "                    \
    "FROM concert.tokens WHERE state = 3 AND ended_at IS NULL LIMIT 100) "                         \
    "UNION ALL "                                                                                   \
    "(SELECT 'the store has no epoch (list versions)' WHERE NOT EXISTS "                           \
    "(SELECT 1 FROM concert.meta WHERE name = 'epoch'))"

#endif
