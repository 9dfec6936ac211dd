/*
 * The PostgreSQL schema: one migration per version, each a NULL-terminated
 * list of statements (fixed text: nothing from a caller). Included by
 * postgres_schema.c only; documented in docs/storage-postgres.md.
 *
 * Error codes returned by the server-side functions are libconcert's own
 * (the enum values are ABI and never change): -20 user not found, -21 token
 * invalid, -27 seat not found, -28 seat taken, -29 reservation not found,
 * -30 forbidden, -31 hold expired, -32 already paid, -33 insufficient
 * points, -34 invalid amount, -35 idempotency key reused, -36 queue closed,
 * -22 token not active (still waiting), -37 hold limit.
 * -1000 is internal to the backend (never a libconcert code): "the opening
 * is due", i.e. the queue is SCHEDULED and now >= opens_at; the C side then
 * runs the lottery (postgres_lottery.c) and retries the step.
 */
#ifndef CONCERT_POSTGRES_SCHEMA_SQL_H
#define CONCERT_POSTGRES_SCHEMA_SQL_H

/* Schema version this library writes; a store with a higher one is refused. */
#define PG_SCHEMA_VERSION 7
#define PG_SCHEMA_VERSION_UPDATE_SQL                                                               \
    "UPDATE concert.meta SET value = 7 WHERE name = 'schema_version'"
/* The first version with the shared queue settings: a store migrated from
 * below it is seeded from the options given at open. */
#define PG_SCHEMA_SETTINGS_VERSION 3
/* The first version with the list versions' epoch and tokens' end times
 * (postgres_schema5_sql.h): a store migrated from below it gets both. */
#define PG_SCHEMA_RETENTION_VERSION 5

/* ---- version 1: tables, constraints and indexes ---- */
static const char *const PG_MIGRATION_1[] = {
    "CREATE SCHEMA IF NOT EXISTS concert;",
    "CREATE TABLE concert.meta ("
    "  name text PRIMARY KEY,"
    "  value bigint NOT NULL);"
    "INSERT INTO concert.meta (name, value) VALUES ('schema_version', 0);",

    "CREATE TABLE concert.users ("
    "  id bigint PRIMARY KEY CHECK (id >= 1),"
    "  name text NOT NULL,"
    "  balance bigint NOT NULL CHECK (balance >= 0));",

    "CREATE TABLE concert.concerts ("
    "  id bigint PRIMARY KEY CHECK (id >= 1),"
    "  title text NOT NULL,"
    "  status smallint NOT NULL CHECK (status IN (1, 2, 3)));",

    "CREATE TABLE concert.schedules ("
    "  id bigint PRIMARY KEY CHECK (id >= 1),"
    "  concert_id bigint NOT NULL REFERENCES concert.concerts (id),"
    "  starts_at bigint NOT NULL);",
    "CREATE INDEX schedules_by_concert ON concert.schedules (concert_id, starts_at, id);",

    /* The primary key (schedule_id, number) is the seat index: seat listing and
     * the hold's conditional UPDATE both use it. A seat is free when it is
     * unsold and hold_until <= now (0 = never held). */
    "CREATE TABLE concert.seats ("
    "  schedule_id bigint NOT NULL REFERENCES concert.schedules (id),"
    "  number bigint NOT NULL CHECK (number >= 1),"
    "  grade text NOT NULL,"
    "  price bigint NOT NULL CHECK (price >= 0),"
    "  hold_reservation_id bigint,"
    "  hold_until bigint NOT NULL DEFAULT 0,"
    "  sold_reservation_id bigint,"
    "  PRIMARY KEY (schedule_id, number),"
    "  CHECK (sold_reservation_id IS NULL OR hold_reservation_id IS NULL));"
    /* Partial, so that it holds only sold seats: a full unique index of
     * mostly NULLs invites the planner to scan it for "IS NULL" (unsold). */
    "CREATE UNIQUE INDEX seats_sold_once ON concert.seats (sold_reservation_id)"
    "  WHERE sold_reservation_id IS NOT NULL;",

    "CREATE SEQUENCE concert.reservation_ids;",
    "CREATE TABLE concert.reservations ("
    "  id bigint PRIMARY KEY,"
    "  user_id bigint NOT NULL REFERENCES concert.users (id),"
    "  schedule_id bigint NOT NULL,"
    "  seat_number bigint NOT NULL,"
    "  price bigint NOT NULL CHECK (price >= 0),"
    "  status smallint NOT NULL CHECK (status IN (1, 2)),"
    "  held_until bigint NOT NULL,"
    "  created_at bigint NOT NULL,"
    "  FOREIGN KEY (schedule_id, seat_number) REFERENCES concert.seats (schedule_id, number));",
    /* One sale per seat, whatever the code does. */
    "CREATE UNIQUE INDEX reservations_one_sale_per_seat"
    "  ON concert.reservations (schedule_id, seat_number) WHERE status = 2;",
    "ALTER TABLE concert.seats"
    "  ADD FOREIGN KEY (hold_reservation_id) REFERENCES concert.reservations (id),"
    "  ADD FOREIGN KEY (sold_reservation_id) REFERENCES concert.reservations (id);",

    "CREATE TABLE concert.payments ("
    "  id bigserial PRIMARY KEY,"
    "  reservation_id bigint NOT NULL UNIQUE REFERENCES concert.reservations (id),"
    "  user_id bigint NOT NULL REFERENCES concert.users (id),"
    "  amount bigint NOT NULL CHECK (amount >= 0),"
    "  balance_after bigint NOT NULL CHECK (balance_after >= 0),"
    "  paid_at bigint NOT NULL);",

    "CREATE TABLE concert.ledger ("
    "  id bigserial PRIMARY KEY,"
    "  user_id bigint NOT NULL REFERENCES concert.users (id),"
    "  type smallint NOT NULL CHECK (type IN (1, 2)),"
    "  amount bigint NOT NULL CHECK ((type = 1 AND amount > 0) OR (type = 2 AND amount <= 0)),"
    "  balance_after bigint NOT NULL CHECK (balance_after >= 0),"
    "  at bigint NOT NULL,"
    "  reservation_id bigint REFERENCES concert.reservations (id));",
    "CREATE INDEX ledger_by_user ON concert.ledger (user_id, id);",

    /* Idempotency: one record per (user, operation, key), written in the same
     * transaction as the effect. Never deleted, so kept well past 24 h. */
    "CREATE TABLE concert.idempotency ("
    "  user_id bigint NOT NULL REFERENCES concert.users (id),"
    "  operation text NOT NULL CHECK (operation IN ('pay', 'charge')),"
    "  key text NOT NULL,"
    "  fingerprint text NOT NULL,"
    "  payment_id bigint REFERENCES concert.payments (id),"
    "  balance bigint NOT NULL,"
    "  created_at bigint NOT NULL,"
    "  PRIMARY KEY (user_id, operation, key));",

    /* The queue: one state row (counters, not scans) and one row per token.
     * state 1 WAITING, 2 ACTIVE (live while now < expires_at; an ACTIVE token
     * ended by payment or leave gets expires_at = 0 and is settled, i.e.
     * taken off the active count, by the next admission), 3 ENDED. */
    "CREATE TABLE concert.queue_state ("
    "  id int PRIMARY KEY CHECK (id = 1),"
    "  last_ticket bigint NOT NULL,"
    "  admitted_through bigint NOT NULL CHECK (admitted_through <= last_ticket),"
    "  active bigint NOT NULL CHECK (active >= 0),"
    "  rate_mps bigint NOT NULL,"
    "  window_start bigint NOT NULL,"
    "  window_count bigint NOT NULL);"
    "INSERT INTO concert.queue_state VALUES (1, 0, 0, 0, 0, 0, 0);",
    "CREATE TABLE concert.tokens ("
    "  ticket bigint PRIMARY KEY,"
    "  lookup bigint NOT NULL,"
    "  token text NOT NULL,"
    "  user_id bigint NOT NULL REFERENCES concert.users (id),"
    "  state smallint NOT NULL CHECK (state IN (1, 2, 3)),"
    "  last_seen bigint NOT NULL,"
    "  expires_at bigint NOT NULL,"
    "  issued_at bigint NOT NULL) WITH (fillfactor = 80);",
    "CREATE INDEX tokens_by_lookup ON concert.tokens (lookup);",
    "CREATE INDEX tokens_by_user ON concert.tokens (user_id, ticket);",
    "CREATE INDEX tokens_active_by_expiry ON concert.tokens (expires_at) WHERE state = 2;", NULL
};

/* ---- version 2: the domain steps as server-side functions ----
 * One round trip per step. Each runs as one transaction (the statement that
 * calls it) under READ COMMITTED: correctness comes from row locks and
 * conditional UPDATEs, not from snapshots. Lock order, to avoid deadlocks:
 * queue_state row, then token rows; token, reservation, seat, user. */
static const char *const PG_MIGRATION_2[] = {
    "CREATE SCHEMA IF NOT EXISTS concert_fn;",
    "CREATE TYPE concert_fn.token_row AS ("
    "  rc int, token text, user_id bigint, state int, is_new int, position bigint,"
    "  expires_at bigint, admitted bigint, rate_mps bigint, window_start bigint,"
    "  window_count bigint);",

    /* Admission, holding the queue row: settle ended ACTIVE tokens, then admit
     * live WAITING tickets in order while there is room; each ticket is looked
     * at once. Returns how many were admitted. */
    "CREATE OR REPLACE FUNCTION concert_fn.admit(p_now bigint, p_max bigint,"
    "    p_active_ttl bigint, p_wait_ttl bigint) RETURNS bigint LANGUAGE plpgsql AS $$\n"
    "#variable_conflict use_column\n"
    "DECLARE\n"
    "  q record; v_settled bigint; v_room bigint; v_through bigint;\n"
    "  v_cand bigint := 0; v_cand_max bigint; v_admitted bigint := 0;\n"
    "BEGIN\n"
    "  SELECT active, admitted_through, last_ticket INTO q\n"
    "    FROM concert.queue_state WHERE id = 1 FOR UPDATE;\n"
    "  WITH e AS (UPDATE concert.tokens SET state = 3\n"
    "             WHERE state = 2 AND expires_at <= p_now RETURNING 1)\n"
    "  SELECT count(*) INTO v_settled FROM e;\n"
    "  v_room := p_max - (q.active - v_settled);\n"
    "  v_through := q.admitted_through;\n"
    "  IF v_room > 0 AND v_through < q.last_ticket THEN\n"
    "    WITH c AS MATERIALIZED (SELECT ticket FROM concert.tokens\n"
    "                WHERE ticket > v_through AND ticket <= q.last_ticket AND state = 1\n"
    "                  AND last_seen + p_wait_ttl > p_now\n"
    "                ORDER BY ticket LIMIT v_room),\n"
    "         a AS (UPDATE concert.tokens t SET state = 2, expires_at = p_now + p_active_ttl\n"
    "               FROM c WHERE t.ticket = c.ticket AND t.state = 1 RETURNING t.ticket)\n"
    "    SELECT (SELECT count(*) FROM c), (SELECT max(ticket) FROM c), (SELECT count(*) FROM a)\n"
    "      INTO v_cand, v_cand_max, v_admitted;\n"
    "    IF v_cand < v_room THEN v_through := q.last_ticket;\n"
    "    ELSE v_through := v_cand_max; END IF;\n"
    "  END IF;\n"
    "  IF v_settled > 0 OR v_admitted > 0 OR v_through <> q.admitted_through THEN\n"
    "    UPDATE concert.queue_state SET active = q.active - v_settled + v_admitted,\n"
    "        admitted_through = v_through WHERE id = 1;\n"
    "  END IF;\n"
    "  RETURN v_admitted;\n"
    "END $$;",

    /* Admission only when there may be work, so that a poll does not queue
     * up on the state row when nothing can be admitted. */
    "CREATE OR REPLACE FUNCTION concert_fn.admit_maybe(p_now bigint, p_max bigint,"
    "    p_active_ttl bigint, p_wait_ttl bigint) RETURNS bigint LANGUAGE plpgsql AS $$\n"
    "#variable_conflict use_column\n"
    "BEGIN\n"
    "  IF EXISTS (SELECT 1 FROM concert.queue_state\n"
    "             WHERE id = 1 AND active < p_max AND admitted_through < last_ticket)\n"
    "     OR EXISTS (SELECT 1 FROM concert.tokens WHERE state = 2 AND expires_at <= p_now) THEN\n"
    "    RETURN concert_fn.admit(p_now, p_max, p_active_ttl, p_wait_ttl);\n"
    "  END IF;\n"
    "  RETURN 0;\n"
    "END $$;",

    /* Where a token stands (p_ticket NULL: unknown token, rc -21), plus the
     * rate fields the client needs to record admissions. */
    "CREATE OR REPLACE FUNCTION concert_fn.token_report(p_ticket bigint, p_now bigint,"
    "    p_wait_ttl bigint, p_admitted bigint, p_is_new int)"
    "    RETURNS concert_fn.token_row LANGUAGE plpgsql AS $$\n"
    "#variable_conflict use_column\n"
    "DECLARE q record; t record; r concert_fn.token_row;\n"
    "BEGIN\n"
    "  SELECT admitted_through, rate_mps, window_start, window_count INTO q\n"
    "    FROM concert.queue_state WHERE id = 1;\n"
    "  r.admitted := p_admitted; r.rate_mps := q.rate_mps;\n"
    "  r.window_start := q.window_start; r.window_count := q.window_count;\n"
    "  r.is_new := p_is_new; r.position := 0; r.expires_at := 0;\n"
    "  IF p_ticket IS NULL THEN r.rc := -21; RETURN r; END IF;\n"
    "  SELECT ticket, token, user_id, state, last_seen, expires_at INTO t\n"
    "    FROM concert.tokens WHERE ticket = p_ticket;\n"
    "  r.rc := 0; r.token := t.token; r.user_id := t.user_id;\n"
    "  IF t.state = 1 AND t.ticket > q.admitted_through AND p_now < t.last_seen + p_wait_ttl THEN\n"
    "    r.state := 1; r.position := t.ticket - q.admitted_through;\n"
    "    r.expires_at := t.last_seen + p_wait_ttl;\n"
    "  ELSIF t.state = 2 AND p_now < t.expires_at THEN\n"
    "    r.state := 2; r.expires_at := t.expires_at;\n"
    "  ELSE\n"
    "    r.state := 3;\n"
    "  END IF;\n"
    "  RETURN r;\n"
    "END $$;",

    "CREATE OR REPLACE FUNCTION concert_fn.queue_issue(p_user bigint, p_token text,"
    "    p_now bigint, p_max bigint, p_active_ttl bigint, p_wait_ttl bigint)"
    "    RETURNS concert_fn.token_row LANGUAGE plpgsql AS $$\n"
    "#variable_conflict use_column\n"
    "DECLARE t record; v_found boolean; v_through bigint; v_ticket bigint;\n"
    "  v_admitted bigint; r concert_fn.token_row;\n"
    "BEGIN\n"
    "  PERFORM 1 FROM concert.users WHERE id = p_user;\n"
    "  IF NOT FOUND THEN r.rc := -20; RETURN r; END IF;\n"
    /* One issuer per user at a time: at most one live token per user. */
    "  PERFORM pg_advisory_xact_lock(1668246885, hashint8(p_user));\n"
    "  v_admitted := concert_fn.admit_maybe(p_now, p_max, p_active_ttl, p_wait_ttl);\n"
    "  SELECT ticket, state, last_seen, expires_at INTO t FROM concert.tokens\n"
    "    WHERE user_id = p_user ORDER BY ticket DESC LIMIT 1;\n"
    "  v_found := FOUND;\n"
    "  SELECT admitted_through INTO v_through FROM concert.queue_state WHERE id = 1;\n"
    "  IF v_found AND ((t.state = 1 AND t.ticket > v_through\n"
    "                   AND p_now < t.last_seen + p_wait_ttl)\n"
    "                  OR (t.state = 2 AND p_now < t.expires_at)) THEN\n"
    "    IF t.state = 1 THEN\n"
    "      UPDATE concert.tokens SET last_seen = greatest(last_seen, p_now)\n"
    "        WHERE ticket = t.ticket AND state = 1;\n"
    "    END IF;\n"
    "    RETURN concert_fn.token_report(t.ticket, p_now, p_wait_ttl, v_admitted, 0);\n"
    "  END IF;\n"
    /* Tickets are taken under the queue row lock, so they commit in order and
     * admission never passes a ticket that is not yet visible. */
    "  UPDATE concert.queue_state SET last_ticket = last_ticket + 1 WHERE id = 1\n"
    "    RETURNING last_ticket INTO v_ticket;\n"
    "  INSERT INTO concert.tokens (ticket, lookup, token, user_id, state, last_seen,\n"
    "                              expires_at, issued_at)\n"
    "    VALUES (v_ticket, hashtextextended(p_token, 0), p_token, p_user, 1, p_now, 0, p_now);\n"
    "  v_admitted := v_admitted + concert_fn.admit(p_now, p_max, p_active_ttl, p_wait_ttl);\n"
    "  RETURN concert_fn.token_report(v_ticket, p_now, p_wait_ttl, v_admitted, 1);\n"
    "END $$;",

    /* The hot path (an ACTIVE token checked before every booking step, a
     * WAITING one polled): one query reads the state row and the token
     * together; admission only when there may be work. */
    "CREATE OR REPLACE FUNCTION concert_fn.queue_status(p_token text, p_now bigint,"
    "    p_max bigint, p_active_ttl bigint, p_wait_ttl bigint)"
    "    RETURNS concert_fn.token_row LANGUAGE plpgsql AS $$\n"
    "#variable_conflict use_column\n"
    "DECLARE v record; r concert_fn.token_row; v_admitted bigint;\n"
    "BEGIN\n"
    "  SELECT q.active, q.admitted_through, q.last_ticket, q.rate_mps, q.window_start,\n"
    "         q.window_count, t.ticket, t.token, t.user_id, t.state, t.last_seen,\n"
    "         t.expires_at,\n"
    "         EXISTS (SELECT 1 FROM concert.tokens e\n"
    "                 WHERE e.state = 2 AND e.expires_at <= p_now) AS expired\n"
    "    INTO v FROM concert.queue_state q LEFT JOIN concert.tokens t\n"
    "      ON t.lookup = hashtextextended(p_token, 0) AND t.token = p_token\n"
    "   WHERE q.id = 1;\n"
    "  IF v.expired OR (v.active < p_max AND v.admitted_through < v.last_ticket) THEN\n"
    "    v_admitted := concert_fn.admit(p_now, p_max, p_active_ttl, p_wait_ttl);\n"
    "    r := concert_fn.token_report(v.ticket, p_now, p_wait_ttl, v_admitted, 0);\n"
    "  ELSE\n"
    "    r.admitted := 0; r.rate_mps := v.rate_mps; r.window_start := v.window_start;\n"
    "    r.window_count := v.window_count; r.is_new := 0; r.position := 0;\n"
    "    r.expires_at := 0;\n"
    "    IF v.ticket IS NULL THEN r.rc := -21; RETURN r; END IF;\n"
    "    r.rc := 0; r.token := v.token; r.user_id := v.user_id;\n"
    "    IF v.state = 1 AND v.ticket > v.admitted_through\n"
    "       AND p_now < v.last_seen + p_wait_ttl THEN\n"
    "      r.state := 1; r.position := v.ticket - v.admitted_through;\n"
    "    ELSIF v.state = 2 AND p_now < v.expires_at THEN\n"
    "      r.state := 2; r.expires_at := v.expires_at;\n"
    "    ELSE\n"
    "      r.state := 3;\n"
    "    END IF;\n"
    "  END IF;\n"
    "  IF r.rc = 0 AND r.state = 1 THEN\n"
    "    UPDATE concert.tokens SET last_seen = greatest(last_seen, p_now)\n"
    "      WHERE ticket = v.ticket AND state = 1;\n"
    "    r.expires_at := greatest(r.expires_at, p_now + p_wait_ttl);\n"
    "  END IF;\n"
    "  RETURN r;\n"
    "END $$;",

    "CREATE OR REPLACE FUNCTION concert_fn.queue_leave(p_token text, p_now bigint,"
    "    p_max bigint, p_active_ttl bigint, p_wait_ttl bigint)"
    "    RETURNS concert_fn.token_row LANGUAGE plpgsql AS $$\n"
    "#variable_conflict use_column\n"
    "DECLARE t record; v_through bigint; v_admitted bigint; r concert_fn.token_row;\n"
    "BEGIN\n"
    "  SELECT admitted_through INTO v_through FROM concert.queue_state WHERE id = 1 FOR UPDATE;\n"
    "  SELECT ticket, state, last_seen, expires_at INTO t FROM concert.tokens\n"
    "    WHERE lookup = hashtextextended(p_token, 0) AND token = p_token FOR UPDATE;\n"
    "  IF NOT FOUND THEN r.rc := -21; RETURN r; END IF;\n"
    "  IF t.state = 1 AND t.ticket > v_through AND p_now < t.last_seen + p_wait_ttl THEN\n"
    "    UPDATE concert.tokens SET state = 3 WHERE ticket = t.ticket;\n"
    "  ELSIF t.state = 2 AND p_now < t.expires_at THEN\n"
    "    UPDATE concert.tokens SET expires_at = 0 WHERE ticket = t.ticket;\n"
    "  ELSE\n"
    "    r.rc := -21; RETURN r;\n"
    "  END IF;\n"
    "  v_admitted := concert_fn.admit(p_now, p_max, p_active_ttl, p_wait_ttl);\n"
    "  RETURN concert_fn.token_report(t.ticket, p_now, p_wait_ttl, v_admitted, 0);\n"
    "END $$;",

    "CREATE OR REPLACE FUNCTION concert_fn.queue_stats(p_now bigint, p_max bigint,"
    "    p_active_ttl bigint, p_wait_ttl bigint)"
    "    RETURNS TABLE (o_active bigint, o_admitted_through bigint, o_last_ticket bigint,"
    "                   o_admitted bigint, o_rate_mps bigint, o_window_start bigint,"
    "                   o_window_count bigint) LANGUAGE plpgsql AS $$\n"
    "#variable_conflict use_column\n"
    "DECLARE v_admitted bigint;\n"
    "BEGIN\n"
    "  v_admitted := concert_fn.admit_maybe(p_now, p_max, p_active_ttl, p_wait_ttl);\n"
    "  RETURN QUERY SELECT active, admitted_through, last_ticket, v_admitted, rate_mps,\n"
    "    window_start, window_count FROM concert.queue_state WHERE id = 1;\n"
    "END $$;",

    /* Hold: one conditional UPDATE on the free predicate, the reservation
     * written by the same statement. On a miss, find out why. */
    "CREATE OR REPLACE FUNCTION concert_fn.seat_hold(p_schedule bigint, p_seat bigint,"
    "    p_user bigint, p_now bigint, p_until bigint)"
    "    RETURNS TABLE (o_rc int, o_id bigint, o_price bigint, o_status int,"
    "                   o_held_until bigint, o_is_new int) LANGUAGE plpgsql AS $$\n"
    "#variable_conflict use_column\n"
    "DECLARE v_id bigint; v_price bigint; s record; r record;\n"
    "BEGIN\n"
    "  FOR attempt IN 1..3 LOOP\n"
    "    v_id := NULL;\n"
    "    WITH h AS (UPDATE concert.seats\n"
    "               SET hold_reservation_id = nextval('concert.reservation_ids'),\n"
    "                   hold_until = p_until\n"
    "               WHERE schedule_id = p_schedule AND number = p_seat\n"
    "                 AND sold_reservation_id IS NULL AND hold_until <= p_now\n"
    "               RETURNING hold_reservation_id, price)\n"
    "    INSERT INTO concert.reservations (id, user_id, schedule_id, seat_number, price,\n"
    "                                      status, held_until, created_at)\n"
    "      SELECT h.hold_reservation_id, p_user, p_schedule, p_seat, h.price, 1, p_until, p_now\n"
    "      FROM h RETURNING id, price INTO v_id, v_price;\n"
    "    IF v_id IS NOT NULL THEN\n"
    "      RETURN QUERY SELECT 0, v_id, v_price, 1, p_until, 1; RETURN;\n"
    "    END IF;\n"
    "    SELECT sold_reservation_id, hold_reservation_id, hold_until INTO s\n"
    "      FROM concert.seats WHERE schedule_id = p_schedule AND number = p_seat;\n"
    "    IF NOT FOUND THEN\n"
    "      RETURN QUERY SELECT -27, 0::bigint, 0::bigint, 0, 0::bigint, 0; RETURN;\n"
    "    END IF;\n"
    "    IF s.sold_reservation_id IS NOT NULL THEN\n"
    "      RETURN QUERY SELECT -28, 0::bigint, 0::bigint, 0, 0::bigint, 0; RETURN;\n"
    "    END IF;\n"
    "    IF s.hold_until > p_now THEN\n"
    "      SELECT id, user_id, price, status, held_until INTO r\n"
    "        FROM concert.reservations WHERE id = s.hold_reservation_id;\n"
    "      IF FOUND AND r.user_id = p_user AND r.status = 1 AND r.held_until > p_now THEN\n"
    "        RETURN QUERY SELECT 0, r.id, r.price, 1, r.held_until, 0; RETURN;\n"
    "      END IF;\n"
    "      RETURN QUERY SELECT -28, 0::bigint, 0::bigint, 0, 0::bigint, 0; RETURN;\n"
    "    END IF;\n"
    /* Freed between the UPDATE and the SELECT: try again. */
    "  END LOOP;\n"
    "  RETURN QUERY SELECT -28, 0::bigint, 0::bigint, 0, 0::bigint, 0;\n"
    "END $$;",

    "CREATE OR REPLACE FUNCTION concert_fn.pay(p_reservation bigint, p_user bigint,"
    "    p_token text, p_now bigint, p_key text, p_fingerprint text)"
    "    RETURNS TABLE (o_rc int, o_id bigint, o_reservation_id bigint, o_user_id bigint,"
    "                   o_amount bigint, o_balance bigint, o_paid_at bigint)"
    "    LANGUAGE plpgsql AS $$\n"
    "#variable_conflict use_column\n"
    "DECLARE k record; t record; r record; s record; v_balance bigint; v_payment bigint;\n"
    "BEGIN\n"
    "  IF p_key IS NOT NULL THEN\n"
    /* Concurrent first attempts with one key queue here; the later ones then
     * see the first one's record. */
    "    PERFORM pg_advisory_xact_lock(1668246886, hashtext(p_user::text || ':pay:' || p_key));\n"
    "    SELECT fingerprint, payment_id INTO k FROM concert.idempotency\n"
    "      WHERE user_id = p_user AND operation = 'pay' AND key = p_key;\n"
    "    IF FOUND THEN\n"
    "      IF k.fingerprint <> p_fingerprint THEN\n"
    "        RETURN QUERY SELECT -35, 0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint,\n"
    "                            0::bigint;\n"
    "        RETURN;\n"
    "      END IF;\n"
    "      RETURN QUERY SELECT 0, id, reservation_id, user_id, amount, balance_after, paid_at\n"
    "        FROM concert.payments WHERE id = k.payment_id;\n"
    "      RETURN;\n"
    "    END IF;\n"
    "  END IF;\n"
    "  SELECT ticket, user_id, state, expires_at INTO t FROM concert.tokens\n"
    "    WHERE lookup = hashtextextended(p_token, 0) AND token = p_token FOR UPDATE;\n"
    "  IF NOT FOUND OR t.user_id <> p_user OR t.state <> 2 OR p_now >= t.expires_at THEN\n"
    "    RETURN QUERY SELECT -21, 0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint,\n"
    "                        0::bigint;\n"
    "    RETURN;\n"
    "  END IF;\n"
    "  SELECT id, user_id, schedule_id, seat_number, price, status, held_until INTO r\n"
    "    FROM concert.reservations WHERE id = p_reservation FOR UPDATE;\n"
    "  IF NOT FOUND THEN\n"
    "    RETURN QUERY SELECT -29, 0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint,\n"
    "                        0::bigint;\n"
    "    RETURN;\n"
    "  END IF;\n"
    "  IF r.user_id <> p_user THEN\n"
    "    RETURN QUERY SELECT -30, 0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint,\n"
    "                        0::bigint;\n"
    "    RETURN;\n"
    "  END IF;\n"
    "  IF r.status = 2 THEN\n"
    "    RETURN QUERY SELECT -32, 0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint,\n"
    "                        0::bigint;\n"
    "    RETURN;\n"
    "  END IF;\n"
    "  SELECT hold_reservation_id, sold_reservation_id INTO s FROM concert.seats\n"
    "    WHERE schedule_id = r.schedule_id AND number = r.seat_number FOR UPDATE;\n"
    /* The fence: the seat must still point at this reservation. */
    "  IF r.held_until <= p_now OR s.hold_reservation_id IS DISTINCT FROM r.id\n"
    "     OR s.sold_reservation_id IS NOT NULL THEN\n"
    "    RETURN QUERY SELECT -31, 0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint,\n"
    "                        0::bigint;\n"
    "    RETURN;\n"
    "  END IF;\n"
    "  UPDATE concert.users SET balance = balance - r.price\n"
    "    WHERE id = p_user AND balance >= r.price RETURNING balance INTO v_balance;\n"
    "  IF NOT FOUND THEN\n"
    "    RETURN QUERY SELECT -33, 0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint,\n"
    "                        0::bigint;\n"
    "    RETURN;\n"
    "  END IF;\n"
    "  INSERT INTO concert.ledger (user_id, type, amount, balance_after, at, reservation_id)\n"
    "    VALUES (p_user, 2, -r.price, v_balance, p_now, r.id);\n"
    "  INSERT INTO concert.payments (reservation_id, user_id, amount, balance_after, paid_at)\n"
    "    VALUES (r.id, p_user, r.price, v_balance, p_now) RETURNING id INTO v_payment;\n"
    "  UPDATE concert.seats SET sold_reservation_id = r.id, hold_reservation_id = NULL,\n"
    "      hold_until = 0\n"
    "    WHERE schedule_id = r.schedule_id AND number = r.seat_number;\n"
    "  UPDATE concert.reservations SET status = 2 WHERE id = r.id;\n"
    /* The token ends; the next admission takes it off the active count. */
    "  UPDATE concert.tokens SET expires_at = 0 WHERE ticket = t.ticket;\n"
    "  IF p_key IS NOT NULL THEN\n"
    "    INSERT INTO concert.idempotency (user_id, operation, key, fingerprint, payment_id,\n"
    "                                     balance, created_at)\n"
    "      VALUES (p_user, 'pay', p_key, p_fingerprint, v_payment, v_balance, p_now);\n"
    "  END IF;\n"
    "  RETURN QUERY SELECT 0, v_payment, r.id, p_user, r.price, v_balance, p_now;\n"
    "END $$;",

    "CREATE OR REPLACE FUNCTION concert_fn.charge(p_user bigint, p_amount bigint,"
    "    p_max_balance bigint, p_now bigint, p_key text, p_fingerprint text)"
    "    RETURNS TABLE (o_rc int, o_balance bigint) LANGUAGE plpgsql AS $$\n"
    "#variable_conflict use_column\n"
    "DECLARE k record; v_balance bigint;\n"
    "BEGIN\n"
    "  IF p_key IS NOT NULL THEN\n"
    "    PERFORM pg_advisory_xact_lock(1668246886,\n"
    "                                  hashtext(p_user::text || ':charge:' || p_key));\n"
    "    SELECT fingerprint, balance INTO k FROM concert.idempotency\n"
    "      WHERE user_id = p_user AND operation = 'charge' AND key = p_key;\n"
    "    IF FOUND THEN\n"
    "      IF k.fingerprint <> p_fingerprint THEN\n"
    "        RETURN QUERY SELECT -35, 0::bigint; RETURN;\n"
    "      END IF;\n"
    "      RETURN QUERY SELECT 0, k.balance; RETURN;\n"
    "    END IF;\n"
    "  END IF;\n"
    "  UPDATE concert.users SET balance = balance + p_amount\n"
    "    WHERE id = p_user AND balance <= p_max_balance - p_amount\n"
    "    RETURNING balance INTO v_balance;\n"
    "  IF NOT FOUND THEN\n"
    "    PERFORM 1 FROM concert.users WHERE id = p_user;\n"
    "    IF NOT FOUND THEN RETURN QUERY SELECT -20, 0::bigint; RETURN; END IF;\n"
    "    RETURN QUERY SELECT -34, 0::bigint; RETURN;\n"
    "  END IF;\n"
    "  INSERT INTO concert.ledger (user_id, type, amount, balance_after, at)\n"
    "    VALUES (p_user, 1, p_amount, v_balance, p_now);\n"
    "  IF p_key IS NOT NULL THEN\n"
    "    INSERT INTO concert.idempotency (user_id, operation, key, fingerprint, balance,\n"
    "                                     created_at)\n"
    "      VALUES (p_user, 'charge', p_key, p_fingerprint, v_balance, p_now);\n"
    "  END IF;\n"
    "  RETURN QUERY SELECT 0, v_balance;\n"
    "END $$;",
    NULL
};

/* Text of an integer macro, to splice a C constant into SQL. */
#define PG_SQL_STR2(x) #x
#define PG_SQL_STR(x) PG_SQL_STR2(x)

/* ---- version 3: shared queue settings, tickets from a sequence, the
 * pre-queue ----
 * Joins no longer touch the queue_state row. A ticket is nextval of
 * concert.tickets (never blocks), taken while holding the queue lock K =
 * advisory lock (1668246887, 0) SHARED; admission, the lottery and every
 * settings change hold K EXCLUSIVELY. So when admission runs, no join is in
 * flight, every ticket up to the sequence's last_value has committed or
 * rolled back (a gap), and admission never passes a ticket that is not yet
 * visible. A join admits only with pg_try_advisory_xact_lock (it holds K
 * shared: two joins waiting to upgrade would deadlock); when that fails the
 * next step's admission (the core refreshes every queue_refresh_ms) does it.
 * Lock order: K, queue_state row, token rows (then reservation, seat, user).
 * Tokens get their own key (id): a pre-queued token has no ticket until the
 * opening lottery. */
static const char *const PG_MIGRATION_3[] = {
    "ALTER TABLE concert.queue_state"
    "  ADD COLUMN max_active bigint NOT NULL DEFAULT 1 CHECK (max_active >= 1),"
    "  ADD COLUMN admit_per_minute bigint NOT NULL DEFAULT 0 CHECK (admit_per_minute >= 0),"
    "  ADD COLUMN state smallint NOT NULL DEFAULT 1 CHECK (state IN (1, 2, 3, 4)),"
    "  ADD COLUMN opens_at bigint NOT NULL DEFAULT 0,"
    "  ADD COLUMN pace_us bigint NOT NULL DEFAULT 0,"
    "  ADD CHECK ((state = 4) = (opens_at > 0));",
    /* No CACHE: tickets must follow the order of joins across sessions. */
    "CREATE SEQUENCE concert.tickets MINVALUE 0 START 1;"
    "SELECT setval('concert.tickets', last_ticket, true) FROM concert.queue_state WHERE id = 1;"
    "ALTER TABLE concert.queue_state DROP COLUMN last_ticket;",
    "CREATE SEQUENCE concert.token_ids;"
    "ALTER TABLE concert.tokens ADD COLUMN id bigint;"
    "UPDATE concert.tokens SET id = ticket;"
    "SELECT setval('concert.token_ids', coalesce((SELECT max(id) FROM concert.tokens), 0) + 1,"
    "              false);"
    "ALTER TABLE concert.tokens DROP CONSTRAINT tokens_pkey,"
    "  ALTER COLUMN id SET NOT NULL,"
    "  ALTER COLUMN id SET DEFAULT nextval('concert.token_ids'),"
    "  ALTER COLUMN ticket DROP NOT NULL,"
    "  ADD PRIMARY KEY (id);"
    "ALTER SEQUENCE concert.token_ids OWNED BY concert.tokens.id;"
    "CREATE UNIQUE INDEX tokens_by_ticket ON concert.tokens (ticket);"
    "DROP INDEX concert.tokens_by_user;"
    "CREATE INDEX tokens_by_user ON concert.tokens (user_id, id);"
    "CREATE INDEX tokens_prequeued ON concert.tokens (id) WHERE ticket IS NULL;",

    "DROP FUNCTION concert_fn.queue_issue(bigint, text, bigint, bigint, bigint, bigint);"
    "DROP FUNCTION concert_fn.queue_status(text, bigint, bigint, bigint, bigint);"
    "DROP FUNCTION concert_fn.queue_leave(text, bigint, bigint, bigint, bigint);"
    "DROP FUNCTION concert_fn.queue_stats(bigint, bigint, bigint, bigint);"
    "DROP FUNCTION concert_fn.token_report(bigint, bigint, bigint, bigint, int);"
    "DROP FUNCTION concert_fn.admit_maybe(bigint, bigint, bigint, bigint);"
    "DROP FUNCTION concert_fn.admit(bigint, bigint, bigint, bigint);"
    "DROP TYPE concert_fn.token_row;",
    "CREATE TYPE concert_fn.token_row AS ("
    "  rc int, token text, user_id bigint, state int, is_new int, position bigint,"
    "  expires_at bigint, admitted bigint, rate_mps bigint, window_start bigint,"
    "  window_count bigint, ticket bigint, queue_state int);",

    /* The pacer, exactly concert_sys_admit_budget / concert_sys_admit_record
     * (lib/queue_settings.c): GCRA in microseconds, interval (60 s + slack)
     * / admit_per_minute rounded up, pace at most the slack behind now. */
    "CREATE FUNCTION concert_fn.pace_interval(p_per_minute bigint) RETURNS bigint"
    "  LANGUAGE sql IMMUTABLE AS $$"
    "  SELECT (60000000 + 1000 * " PG_SQL_STR(CONCERT_ADMIT_SLACK_MS) " + p_per_minute - 1)"
                                                                      "         / p_per_minute $$;",
    "CREATE FUNCTION concert_fn.admit_budget(p_state int, p_per_minute bigint, p_pace bigint,"
    "    p_room bigint, p_now bigint) RETURNS bigint LANGUAGE plpgsql IMMUTABLE AS $$\n"
    "DECLARE v_now_us bigint; v_base bigint;\n"
    "BEGIN\n"
    "  IF p_room <= 0 OR p_state NOT IN (1, 3) THEN RETURN 0; END IF;\n"
    "  IF p_per_minute <= 0 THEN RETURN p_room; END IF;\n"
    "  IF p_now < 0 OR p_now > 9223372036854775807 / 1000 - 1 THEN RETURN 0; END IF;\n"
    "  v_now_us := p_now * 1000;\n"
    "  v_base := greatest(p_pace, v_now_us - 1000 * " PG_SQL_STR(
        CONCERT_ADMIT_SLACK_MS) ");\n"
                                "  IF v_base > v_now_us THEN RETURN 0; END IF;\n"
                                "  RETURN least((v_now_us - v_base) / "
                                "concert_fn.pace_interval(p_per_minute) + 1, p_room);\n"
                                "END $$;",
    "CREATE FUNCTION concert_fn.admit_record(p_per_minute bigint, p_pace bigint,"
    "    p_admitted bigint, p_now bigint) RETURNS bigint LANGUAGE plpgsql IMMUTABLE AS $$\n"
    "BEGIN\n"
    "  IF p_admitted <= 0 OR p_per_minute <= 0 OR p_now < 0\n"
    "     OR p_now > 9223372036854775807 / 1000 - 1 THEN RETURN p_pace; END IF;\n"
    "  RETURN greatest(p_pace, p_now * 1000 - 1000 * " PG_SQL_STR(
        CONCERT_ADMIT_SLACK_MS) ")\n"
                                "         + p_admitted * concert_fn.pace_interval(p_per_minute);\n"
                                "END $$;",

    /* Admission; the caller holds K exclusively (so no join is in flight and
     * every ticket up to last_value is committed or a gap) and has checked
     * that the opening is not due. Settle ended ACTIVE tokens, then admit
     * live WAITING tickets in order up to the budget, each looked at once.
     * Returns how many were admitted. */
    "CREATE FUNCTION concert_fn.admit(p_now bigint, p_active_ttl bigint, p_wait_ttl bigint)"
    "    RETURNS bigint LANGUAGE plpgsql AS $$\n"
    "#variable_conflict use_column\n"
    "DECLARE\n"
    "  q record; v_settled bigint; v_room bigint; v_through bigint; v_last bigint;\n"
    "  v_budget bigint; v_cand bigint := 0; v_cand_max bigint; v_admitted bigint := 0;\n"
    "  v_pace bigint;\n"
    "BEGIN\n"
    "  SELECT active, admitted_through, max_active, admit_per_minute, state, pace_us INTO q\n"
    "    FROM concert.queue_state WHERE id = 1 FOR UPDATE;\n"
    "  WITH e AS (UPDATE concert.tokens SET state = 3\n"
    "             WHERE state = 2 AND expires_at <= p_now RETURNING 1)\n"
    "  SELECT count(*) INTO v_settled FROM e;\n"
    "  v_room := q.max_active - (q.active - v_settled);\n"
    "  v_through := q.admitted_through;\n"
    "  v_pace := q.pace_us;\n"
    "  SELECT last_value INTO v_last FROM concert.tickets;\n"
    "  v_budget := concert_fn.admit_budget(q.state, q.admit_per_minute, q.pace_us, v_room,\n"
    "                                      p_now);\n"
    "  IF v_budget > 0 AND v_through < v_last THEN\n"
    "    WITH c AS MATERIALIZED (SELECT id, ticket FROM concert.tokens\n"
    "                WHERE ticket > v_through AND ticket <= v_last AND state = 1\n"
    "                  AND last_seen + p_wait_ttl > p_now\n"
    "                ORDER BY ticket LIMIT v_budget),\n"
    "         a AS (UPDATE concert.tokens t SET state = 2, expires_at = p_now + p_active_ttl\n"
    "               FROM c WHERE t.id = c.id AND t.state = 1 RETURNING t.id)\n"
    "    SELECT (SELECT count(*) FROM c), (SELECT max(ticket) FROM c), (SELECT count(*) FROM a)\n"
    "      INTO v_cand, v_cand_max, v_admitted;\n"
    "    IF v_cand < v_budget THEN v_through := v_last;\n"
    "    ELSE v_through := v_cand_max; END IF;\n"
    "    v_pace := concert_fn.admit_record(q.admit_per_minute, q.pace_us, v_admitted, p_now);\n"
    "  END IF;\n"
    "  IF v_settled > 0 OR v_admitted > 0 OR v_through <> q.admitted_through\n"
    "     OR v_pace <> q.pace_us THEN\n"
    "    UPDATE concert.queue_state SET active = q.active - v_settled + v_admitted,\n"
    "        admitted_through = v_through, pace_us = v_pace WHERE id = 1;\n"
    "  END IF;\n"
    "  RETURN v_admitted;\n"
    "END $$;",

    /* Whether admission may have work (read without locks): an ACTIVE token
     * to settle, or a waiting ticket with budget for it. */
    "CREATE FUNCTION concert_fn.admit_wanted(p_now bigint) RETURNS boolean LANGUAGE sql AS $$"
    "  SELECT EXISTS (SELECT 1 FROM concert.tokens WHERE state = 2 AND expires_at <= p_now)"
    "      OR (q.admitted_through < (SELECT last_value FROM concert.tickets)"
    "          AND concert_fn.admit_budget(q.state, q.admit_per_minute, q.pace_us,"
    "                                      q.max_active - q.active, p_now) > 0)"
    "    FROM concert.queue_state q WHERE q.id = 1 $$;",

    /* Admission from any other step: wait for K when there may be work. */
    "CREATE FUNCTION concert_fn.admit_wait(p_now bigint, p_active_ttl bigint, p_wait_ttl bigint)"
    "    RETURNS bigint LANGUAGE plpgsql AS $$\n"
    "BEGIN\n"
    "  IF concert_fn.admit_wanted(p_now) THEN\n"
    "    PERFORM pg_advisory_xact_lock(1668246887, 0);\n"
    "    RETURN concert_fn.admit(p_now, p_active_ttl, p_wait_ttl);\n"
    "  END IF;\n"
    "  RETURN 0;\n"
    "END $$;",

    /* 1 when the opening lottery is due (the caller returns rc -1000). */
    "CREATE FUNCTION concert_fn.opening_due(p_now bigint) RETURNS boolean LANGUAGE sql AS $$"
    "  SELECT state = 4 AND p_now >= opens_at FROM concert.queue_state WHERE id = 1 $$;",

    /* Where a token stands (p_id NULL: unknown token, rc -21), plus the rate
     * fields the client needs to record admissions. */
    "CREATE FUNCTION concert_fn.token_report(p_id bigint, p_now bigint, p_wait_ttl bigint,"
    "    p_admitted bigint, p_is_new int) RETURNS concert_fn.token_row LANGUAGE plpgsql AS $$\n"
    "#variable_conflict use_column\n"
    "DECLARE q record; t record; r concert_fn.token_row;\n"
    "BEGIN\n"
    "  SELECT admitted_through, rate_mps, window_start, window_count, state INTO q\n"
    "    FROM concert.queue_state WHERE id = 1;\n"
    "  r.admitted := p_admitted; r.rate_mps := q.rate_mps;\n"
    "  r.window_start := q.window_start; r.window_count := q.window_count;\n"
    "  r.queue_state := q.state;\n"
    "  r.is_new := p_is_new; r.position := 0; r.expires_at := 0; r.ticket := 0;\n"
    "  IF p_id IS NULL THEN r.rc := -21; RETURN r; END IF;\n"
    "  SELECT id, ticket, token, user_id, state, last_seen, expires_at INTO t\n"
    "    FROM concert.tokens WHERE id = p_id;\n"
    "  r.rc := 0; r.token := t.token; r.user_id := t.user_id;\n"
    "  r.ticket := coalesce(t.ticket, 0);\n"
    "  IF t.state = 1 AND p_now < t.last_seen + p_wait_ttl\n"
    "     AND (t.ticket IS NULL OR t.ticket > q.admitted_through) THEN\n"
    "    r.state := 1; r.expires_at := t.last_seen + p_wait_ttl;\n"
    "    r.position := CASE WHEN t.ticket IS NULL THEN -1\n"
    "                       ELSE t.ticket - q.admitted_through END;\n"
    "  ELSIF t.state = 2 AND p_now < t.expires_at THEN\n"
    "    r.state := 2; r.expires_at := t.expires_at;\n"
    "  ELSE\n"
    "    r.state := 3;\n"
    "  END IF;\n"
    "  RETURN r;\n"
    "END $$;",

    /* A join, in three statements on the common path (it is the stampede's
     * hot path): the locks with the user check; one read of the queue row,
     * the user's newest token (by id) and whether an ACTIVE token is due
     * for settling; the INSERT. K is taken shared first, so nothing admits
     * or opens between that read and the commit: the read is exact, the
     * report is built from it, and the lottery (K exclusive) sees every
     * pre-queued token. The newest token answers if it is live; otherwise a
     * new one: pre-queued (no ticket) while SCHEDULED, refused while CLOSED,
     * else the next ticket of the sequence. */
    "CREATE FUNCTION concert_fn.queue_issue(p_user bigint, p_token text, p_now bigint,"
    "    p_active_ttl bigint, p_wait_ttl bigint)"
    "    RETURNS concert_fn.token_row LANGUAGE plpgsql AS $$\n"
    "#variable_conflict use_column\n"
    "DECLARE v record; v_id bigint; v_ticket bigint; v_state int; v_seen bigint;\n"
    "  v_expires bigint; v_budget bigint := 0; r concert_fn.token_row;\n"
    "BEGIN\n"
    /* One issuer per user at a time: at most one live token per user. */
    "  PERFORM pg_advisory_xact_lock_shared(1668246887, 0),\n"
    "          pg_advisory_xact_lock(1668246885, hashint8(p_user))\n"
    "    FROM concert.users WHERE id = p_user;\n"
    "  IF NOT FOUND THEN r.rc := -20; RETURN r; END IF;\n"
    "  SELECT q.admitted_through, q.active, q.max_active, q.admit_per_minute, q.state,\n"
    "         q.opens_at, q.pace_us, q.rate_mps, q.window_start, q.window_count,\n"
    "         t.id, t.ticket, t.state AS t_state, t.last_seen, t.expires_at, t.token,\n"
    "         EXISTS (SELECT 1 FROM concert.tokens e\n"
    "                 WHERE e.state = 2 AND e.expires_at <= p_now) AS expired\n"
    "    INTO v FROM concert.queue_state q\n"
    "    LEFT JOIN LATERAL (SELECT id, ticket, state, last_seen, expires_at, token\n"
    "                       FROM concert.tokens WHERE user_id = p_user\n"
    "                       ORDER BY id DESC LIMIT 1) t ON true\n"
    "   WHERE q.id = 1;\n"
    "  IF v.state = 4 AND p_now >= v.opens_at THEN r.rc := -1000; RETURN r; END IF;\n"
    "  r.rc := 0; r.user_id := p_user; r.admitted := 0; r.queue_state := v.state;\n"
    "  r.rate_mps := v.rate_mps; r.window_start := v.window_start;\n"
    "  r.window_count := v.window_count;\n"
    "  IF v.id IS NOT NULL AND ((v.t_state = 1 AND p_now < v.last_seen + p_wait_ttl\n"
    "                           AND (v.ticket IS NULL OR v.ticket > v.admitted_through))\n"
    "                          OR (v.t_state = 2 AND p_now < v.expires_at)) THEN\n"
    "    v_id := v.id; v_ticket := v.ticket; v_state := v.t_state;\n"
    "    v_seen := greatest(v.last_seen, p_now); v_expires := v.expires_at;\n"
    "    r.is_new := 0; r.token := v.token;\n"
    "    IF v_state = 1 THEN\n"
    "      UPDATE concert.tokens SET last_seen = v_seen WHERE id = v_id AND state = 1;\n"
    "    END IF;\n"
    "  ELSE\n"
    "    IF v.state = 3 THEN r.rc := -36; RETURN r; END IF;\n"
    "    IF v.state = 4 THEN v_ticket := NULL;\n"
    "    ELSE v_ticket := nextval('concert.tickets'); END IF;\n"
    "    INSERT INTO concert.tokens (ticket, lookup, token, user_id, state, last_seen,\n"
    "                                expires_at, issued_at)\n"
    "      VALUES (v_ticket, hashtextextended(p_token, 0), p_token, p_user, 1, p_now, 0, p_now)\n"
    "      RETURNING id INTO v_id;\n"
    "    v_state := 1; v_seen := p_now; r.is_new := 1; r.token := p_token;\n"
    "  END IF;\n"
    /* Admission only without waiting: this join holds K shared, and two
     * joins waiting to upgrade would deadlock. Only when there may be work:
     * a ticket waiting (this one) with budget, or a token to settle. When
     * another join is in flight and admission would take this very ticket
     * now, the row says so (admitted -1): the client then runs admission
     * once this join has committed (a second round trip, only when there
     * is room: never in a full house). */
    "  IF v_state = 1 AND v_ticket IS NOT NULL THEN\n"
    "    v_budget := concert_fn.admit_budget(v.state, v.admit_per_minute, v.pace_us,\n"
    "                                        v.max_active - v.active, p_now);\n"
    "  END IF;\n"
    "  IF v.expired OR v_budget > 0 THEN\n"
    "    IF pg_try_advisory_xact_lock(1668246887, 0) THEN\n"
    "      RETURN concert_fn.token_report(v_id, p_now, p_wait_ttl,\n"
    "                                     concert_fn.admit(p_now, p_active_ttl, p_wait_ttl),\n"
    "                                     r.is_new);\n"
    "    END IF;\n"
    "    IF v_state = 1 AND v_ticket IS NOT NULL\n"
    "       AND (v.expired OR v_budget >= v_ticket - v.admitted_through) THEN\n"
    "      r.admitted := -1;\n"
    "    END IF;\n"
    "  END IF;\n"
    "  r.ticket := coalesce(v_ticket, 0);\n"
    "  IF v_state = 2 THEN\n"
    "    r.state := 2; r.position := 0; r.expires_at := v_expires;\n"
    "  ELSE\n"
    "    r.state := 1; r.expires_at := v_seen + p_wait_ttl;\n"
    "    r.position := CASE WHEN v_ticket IS NULL THEN -1\n"
    "                       ELSE v_ticket - v.admitted_through END;\n"
    "  END IF;\n"
    "  RETURN r;\n"
    "END $$;",

    /* A status check when the client's read (PG_Q_PEEK) found admission work:
     * admission first, then the report; a WAITING poll touches last_seen. */
    "CREATE FUNCTION concert_fn.queue_status(p_token text, p_now bigint, p_active_ttl bigint,"
    "    p_wait_ttl bigint) RETURNS concert_fn.token_row LANGUAGE plpgsql AS $$\n"
    "#variable_conflict use_column\n"
    "DECLARE v_id bigint; v_admitted bigint; r concert_fn.token_row;\n"
    "BEGIN\n"
    "  IF concert_fn.opening_due(p_now) THEN r.rc := -1000; RETURN r; END IF;\n"
    "  v_admitted := concert_fn.admit_wait(p_now, p_active_ttl, p_wait_ttl);\n"
    "  SELECT id INTO v_id FROM concert.tokens\n"
    "    WHERE lookup = hashtextextended(p_token, 0) AND token = p_token;\n"
    "  r := concert_fn.token_report(v_id, p_now, p_wait_ttl, v_admitted, 0);\n"
    "  IF r.rc = 0 AND r.state = 1 THEN\n"
    "    UPDATE concert.tokens SET last_seen = greatest(last_seen, p_now)\n"
    "      WHERE id = v_id AND state = 1;\n"
    "    r.expires_at := greatest(r.expires_at, p_now + p_wait_ttl);\n"
    "  END IF;\n"
    "  RETURN r;\n"
    "END $$;",

    /* Leave: K first when a waiting line may need admitting (the room this
     * leave frees), then the token row. */
    "CREATE FUNCTION concert_fn.queue_leave(p_token text, p_now bigint, p_active_ttl bigint,"
    "    p_wait_ttl bigint) RETURNS concert_fn.token_row LANGUAGE plpgsql AS $$\n"
    "#variable_conflict use_column\n"
    "DECLARE t record; q record; v_locked boolean := false; v_admitted bigint := 0;\n"
    "  r concert_fn.token_row;\n"
    "BEGIN\n"
    "  SELECT admitted_through, state, opens_at INTO q FROM concert.queue_state WHERE id = 1;\n"
    "  IF q.state = 4 AND p_now >= q.opens_at THEN r.rc := -1000; RETURN r; END IF;\n"
    "  IF (q.state IN (1, 3) AND q.admitted_through < (SELECT last_value FROM concert.tickets))\n"
    "     OR EXISTS (SELECT 1 FROM concert.tokens WHERE state = 2 AND expires_at <= p_now) THEN\n"
    "    PERFORM pg_advisory_xact_lock(1668246887, 0);\n"
    "    v_locked := true;\n"
    "    SELECT admitted_through INTO q FROM concert.queue_state WHERE id = 1;\n"
    "  END IF;\n"
    "  SELECT id, ticket, state, last_seen, expires_at INTO t FROM concert.tokens\n"
    "    WHERE lookup = hashtextextended(p_token, 0) AND token = p_token FOR UPDATE;\n"
    "  IF NOT FOUND THEN r.rc := -21; RETURN r; END IF;\n"
    "  IF t.state = 1 AND p_now < t.last_seen + p_wait_ttl\n"
    "     AND (t.ticket IS NULL OR t.ticket > q.admitted_through) THEN\n"
    "    UPDATE concert.tokens SET state = 3 WHERE id = t.id;\n"
    "  ELSIF t.state = 2 AND p_now < t.expires_at THEN\n"
    /* Ended; the admission below (or the next one) takes it off the count. */
    "    UPDATE concert.tokens SET expires_at = 0 WHERE id = t.id;\n"
    "  ELSE\n"
    "    r.rc := -21; RETURN r;\n"
    "  END IF;\n"
    "  IF v_locked THEN\n"
    "    v_admitted := concert_fn.admit(p_now, p_active_ttl, p_wait_ttl);\n"
    "  END IF;\n"
    "  RETURN concert_fn.token_report(t.id, p_now, p_wait_ttl, v_admitted, 0);\n"
    "END $$;",

    /* Stats when the client's read (PG_Q_STATS_PEEK) found admission work;
     * the same columns as that read, after rc, then the number admitted. */
    "CREATE FUNCTION concert_fn.queue_stats(p_now bigint, p_active_ttl bigint,"
    "    p_wait_ttl bigint)"
    "    RETURNS TABLE (o_rc int, o_active bigint, o_admitted_through bigint,"
    "                   o_last_ticket bigint, o_rate_mps bigint, o_window_start bigint,"
    "                   o_window_count bigint, o_max_active bigint, o_admit_per_minute bigint,"
    "                   o_state int, o_opens_at bigint, o_pace_us bigint, o_prequeued bigint,"
    "                   o_expired boolean, o_admitted bigint) LANGUAGE plpgsql AS $$\n"
    "#variable_conflict use_column\n"
    "DECLARE v_admitted bigint;\n"
    "BEGIN\n"
    "  IF concert_fn.opening_due(p_now) THEN\n"
    "    RETURN QUERY SELECT -1000, 0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint,\n"
    "      0::bigint, 0::bigint, 0::bigint, 0, 0::bigint, 0::bigint, 0::bigint, false,\n"
    "      0::bigint;\n"
    "    RETURN;\n"
    "  END IF;\n"
    "  v_admitted := concert_fn.admit_wait(p_now, p_active_ttl, p_wait_ttl);\n"
    "  RETURN QUERY SELECT 0, q.active, q.admitted_through,\n"
    "    (SELECT last_value FROM concert.tickets), q.rate_mps, q.window_start, q.window_count,\n"
    "    q.max_active, q.admit_per_minute, q.state::int, q.opens_at, q.pace_us,\n"
    "    CASE WHEN q.state = 4 THEN (SELECT count(*) FROM concert.tokens\n"
    "                                WHERE ticket IS NULL AND state = 1) ELSE 0 END,\n"
    "    false, v_admitted FROM concert.queue_state q WHERE q.id = 1;\n"
    "END $$;",
    NULL
};

/* ---- version 4 (issue 11): holds fenced by the token in one round trip,
 * per-buyer limits, orders, release ----
 * Lock order, extended: K, queue_state row, token row, user row,
 * reservation rows (ascending id), seat rows (ascending (schedule, number)).
 * A hold, a payment and a release each lock their token row first (a hold
 * and a release FOR NO KEY UPDATE, a payment FOR UPDATE): a step that ends
 * the token (payment, leave) and a step that uses it are serialised, so a
 * hold never lands for a token ended before it commits. A hold and a
 * payment then lock the user's row FOR UPDATE: holds of one user from any
 * number of connections count the per-buyer limit one at a time.
 * Status 4 is RELEASED (the buyer let the hold go). A reservation refers to
 * the payment that paid for it (payment_id); an order's payment names its
 * lowest reservation in payments.reservation_id, as one-seat payments
 * always did. */
static const char *const PG_MIGRATION_4[] = {
    "ALTER TABLE concert.concerts"
    "  ADD COLUMN max_per_user int NOT NULL DEFAULT 0 CHECK (max_per_user >= 0);",

    "ALTER TABLE concert.reservations DROP CONSTRAINT reservations_status_check,"
    "  ADD CONSTRAINT reservations_status_check CHECK (status IN (1, 2, 4)),"
    "  ADD COLUMN payment_id bigint REFERENCES concert.payments (id);"
    /* Every payment so far paid for exactly its reservation_id. */
    "UPDATE concert.reservations r SET payment_id = p.id FROM concert.payments p"
    "  WHERE p.reservation_id = r.id;"
    /* Paid exactly when CONFIRMED, whatever the code does. */
    "ALTER TABLE concert.reservations ADD CONSTRAINT reservations_paid_when_confirmed"
    "  CHECK ((status = 2) = (payment_id IS NOT NULL));",

    /* The per-buyer limit's counts, each a short index range: a user's live
     * holds (expired ones sort below now and are never visited), and a
     * user's paid seats by schedule. */
    "CREATE INDEX reservations_held_by_user ON concert.reservations (user_id, held_until)"
    "  WHERE status = 1;"
    "CREATE INDEX reservations_paid_by_user ON concert.reservations (user_id, schedule_id)"
    "  WHERE status = 2;",

    "DROP FUNCTION concert_fn.seat_hold(bigint, bigint, bigint, bigint, bigint);"
    "DROP FUNCTION concert_fn.pay(bigint, bigint, text, bigint, text, text);",

    /* Why a token that is not live ACTIVE is refused: -22 (with its
     * position; -1 while pre-queued) for a live WAITING token, else -21. */
    "CREATE FUNCTION concert_fn.token_refusal(p_state int, p_ticket bigint, p_last_seen bigint,"
    "    p_now bigint, p_wait_ttl bigint, OUT rc int, OUT pos bigint)"
    "    LANGUAGE plpgsql STABLE AS $$\n"
    "DECLARE v_through bigint;\n"
    "BEGIN\n"
    "  rc := -21; pos := 0;\n"
    "  IF p_state = 1 AND p_now < p_last_seen + p_wait_ttl THEN\n"
    "    SELECT admitted_through INTO v_through FROM concert.queue_state WHERE id = 1;\n"
    "    IF p_ticket IS NULL THEN rc := -22; pos := -1;\n"
    "    ELSIF p_ticket > v_through THEN rc := -22; pos := p_ticket - v_through;\n"
    "    END IF;\n"
    "  END IF;\n"
    "END $$;",

    /* A hold, the whole step in one call: 1. the token, locked, must be
     * live ACTIVE; 2. the user's row locked FOR UPDATE, so that this user's
     * holds count the limit one at a time; 3. the limit's count (p_max_concert
     * > 0: live holds plus paid seats of concert p_concert; else p_max_holds
     * > 0: live holds in the store; else none); 4. below the limit, one
     * conditional UPDATE on the free predicate writes the reservation in
     * the same statement; otherwise, or when the seat is not free, the
     * seat says why: missing (-27), the user's own live hold (reported,
     * is_new 0), sold or held by another (-28), else the limit (-37).
     * o_id carries the position when rc is -22. */
    "CREATE FUNCTION concert_fn.seat_hold(p_token text, p_schedule bigint, p_seat bigint,"
    "    p_now bigint, p_until bigint, p_wait_ttl bigint, p_concert bigint,"
    "    p_max_concert bigint, p_max_holds bigint)"
    "    RETURNS TABLE (o_rc int, o_id bigint, o_user_id bigint, o_price bigint, o_status int,"
    "                   o_held_until bigint, o_is_new int) LANGUAGE plpgsql AS $$\n"
    "#variable_conflict use_column\n"
    "DECLARE t record; f record; s record; r record; v_user bigint; v_id bigint;\n"
    "  v_price bigint; v_count bigint := 0; v_full boolean := false;\n"
    "BEGIN\n"
    "  SELECT id, ticket, user_id, state, last_seen, expires_at INTO t FROM concert.tokens\n"
    "    WHERE lookup = hashtextextended(p_token, 0) AND token = p_token FOR NO KEY UPDATE;\n"
    "  IF NOT FOUND THEN\n"
    "    RETURN QUERY SELECT -21, 0::bigint, 0::bigint, 0::bigint, 0, 0::bigint, 0; RETURN;\n"
    "  END IF;\n"
    "  IF t.state <> 2 OR p_now >= t.expires_at THEN\n"
    "    f := concert_fn.token_refusal(t.state, t.ticket, t.last_seen, p_now, p_wait_ttl);\n"
    "    RETURN QUERY SELECT f.rc, f.pos, 0::bigint, 0::bigint, 0, 0::bigint, 0; RETURN;\n"
    "  END IF;\n"
    "  v_user := t.user_id;\n"
    "  PERFORM 1 FROM concert.users WHERE id = v_user FOR UPDATE;\n"
    "  IF p_max_concert > 0 THEN\n"
    "    SELECT (SELECT count(*) FROM concert.reservations x\n"
    "              JOIN concert.schedules c ON c.id = x.schedule_id\n"
    "             WHERE x.user_id = v_user AND x.status = 1 AND x.held_until > p_now\n"
    "               AND c.concert_id = p_concert)\n"
    "         + (SELECT count(*) FROM concert.reservations x\n"
    "             WHERE x.user_id = v_user AND x.status = 2 AND x.schedule_id IN\n"
    "                   (SELECT id FROM concert.schedules WHERE concert_id = p_concert))\n"
    "      INTO v_count;\n"
    "    v_full := v_count >= p_max_concert;\n"
    "  ELSIF p_max_holds > 0 THEN\n"
    "    SELECT count(*) INTO v_count FROM concert.reservations\n"
    "      WHERE user_id = v_user AND status = 1 AND held_until > p_now;\n"
    "    v_full := v_count >= p_max_holds;\n"
    "  END IF;\n"
    "  FOR attempt IN 1..3 LOOP\n"
    "    IF NOT v_full THEN\n"
    "      v_id := NULL;\n"
    "      WITH h AS (UPDATE concert.seats\n"
    "                 SET hold_reservation_id = nextval('concert.reservation_ids'),\n"
    "                     hold_until = p_until\n"
    "                 WHERE schedule_id = p_schedule AND number = p_seat\n"
    "                   AND sold_reservation_id IS NULL AND hold_until <= p_now\n"
    "                 RETURNING hold_reservation_id, price)\n"
    "      INSERT INTO concert.reservations (id, user_id, schedule_id, seat_number, price,\n"
    "                                        status, held_until, created_at)\n"
    "        SELECT h.hold_reservation_id, v_user, p_schedule, p_seat, h.price, 1, p_until,\n"
    "               p_now\n"
    "        FROM h RETURNING id, price INTO v_id, v_price;\n"
    "      IF v_id IS NOT NULL THEN\n"
    "        RETURN QUERY SELECT 0, v_id, v_user, v_price, 1, p_until, 1; RETURN;\n"
    "      END IF;\n"
    "    END IF;\n"
    "    SELECT sold_reservation_id, hold_reservation_id, hold_until INTO s\n"
    "      FROM concert.seats WHERE schedule_id = p_schedule AND number = p_seat;\n"
    "    IF NOT FOUND THEN\n"
    "      RETURN QUERY SELECT -27, 0::bigint, v_user, 0::bigint, 0, 0::bigint, 0; RETURN;\n"
    "    END IF;\n"
    "    IF s.sold_reservation_id IS NOT NULL THEN\n"
    "      RETURN QUERY SELECT -28, 0::bigint, v_user, 0::bigint, 0, 0::bigint, 0; RETURN;\n"
    "    END IF;\n"
    "    IF s.hold_until > p_now THEN\n"
    "      SELECT id, user_id, price, status, held_until INTO r\n"
    "        FROM concert.reservations WHERE id = s.hold_reservation_id;\n"
    "      IF FOUND AND r.user_id = v_user AND r.status = 1 AND r.held_until > p_now THEN\n"
    "        RETURN QUERY SELECT 0, r.id, v_user, r.price, 1, r.held_until, 0; RETURN;\n"
    "      END IF;\n"
    "      RETURN QUERY SELECT -28, 0::bigint, v_user, 0::bigint, 0, 0::bigint, 0; RETURN;\n"
    "    END IF;\n"
    "    IF v_full THEN\n"
    "      RETURN QUERY SELECT -37, v_count, v_user, 0::bigint, 0, 0::bigint, 0; RETURN;\n"
    "    END IF;\n"
    /* Freed between the UPDATE and the SELECT: try again. */
    "  END LOOP;\n"
    "  RETURN QUERY SELECT -28, 0::bigint, v_user, 0::bigint, 0, 0::bigint, 0;\n"
    "END $$;",

    /* An order's reservations and their seats, locked in the global order,
     * then checked in ascending id order: the first failure wins (rc, and
     * at names it); else rc 0 and their total price. */
    "CREATE FUNCTION concert_fn.order_check(p_ids bigint[], p_user bigint, p_now bigint,"
    "    OUT rc int, OUT at bigint, OUT total bigint) LANGUAGE plpgsql AS $$\n"
    "#variable_conflict use_column\n"
    "DECLARE r record;\n"
    "BEGIN\n"
    "  rc := 0; at := 0; total := 0;\n"
    "  PERFORM 1 FROM concert.reservations WHERE id = ANY (p_ids) ORDER BY id FOR UPDATE;\n"
    "  PERFORM 1 FROM concert.seats s JOIN concert.reservations x\n"
    "      ON s.schedule_id = x.schedule_id AND s.number = x.seat_number\n"
    "    WHERE x.id = ANY (p_ids) ORDER BY s.schedule_id, s.number FOR UPDATE OF s;\n"
    "  FOR r IN SELECT u.id AS want, x.id, x.user_id, x.price, x.status, x.held_until,\n"
    "                  s.hold_reservation_id, s.sold_reservation_id\n"
    "             FROM unnest(p_ids) WITH ORDINALITY AS u (id, ord)\n"
    "             LEFT JOIN concert.reservations x ON x.id = u.id\n"
    "             LEFT JOIN concert.seats s\n"
    "               ON s.schedule_id = x.schedule_id AND s.number = x.seat_number\n"
    "            ORDER BY u.ord LOOP\n"
    "    IF r.id IS NULL OR r.user_id <> p_user OR r.status <> 1 OR r.held_until <= p_now\n"
    "       OR r.hold_reservation_id IS DISTINCT FROM r.id\n"
    "       OR r.sold_reservation_id IS NOT NULL THEN\n"
    "      rc := CASE WHEN r.id IS NULL THEN -29 WHEN r.user_id <> p_user THEN -30\n"
    "                 WHEN r.status = 2 THEN -32 ELSE -31 END;\n"
    "      at := r.want; total := 0;\n"
    "      RETURN;\n"
    "    END IF;\n"
    "    total := total + r.price;\n"
    "  END LOOP;\n"
    "END $$;",

    /* A payment for the reservations p_ids (ascending, distinct): token
     * (locked) to user; the idempotency record; the token live ACTIVE; the
     * user's row, the reservations and their seats locked in the global
     * order; each reservation checked in ascending order (the first failure
     * wins: o_reservation_id names it); then one debit, one ledger entry,
     * one payment, every seat sold, every reservation CONFIRMED and paid by
     * that payment, the token ended. o_id carries the position when rc is
     * -22. */
    "CREATE FUNCTION concert_fn.pay(p_ids bigint[], p_token text, p_now bigint,"
    "    p_wait_ttl bigint, p_key text, p_fingerprint text)"
    "    RETURNS TABLE (o_rc int, o_id bigint, o_reservation_id bigint, o_user_id bigint,"
    "                   o_amount bigint, o_balance bigint, o_paid_at bigint)"
    "    LANGUAGE plpgsql AS $$\n"
    "#variable_conflict use_column\n"
    "DECLARE t record; f record; k record; c record; v_user bigint; v_first bigint;\n"
    "  v_sum bigint; v_balance bigint; v_payment bigint;\n"
    "BEGIN\n"
    "  v_first := p_ids[1];\n"
    "  SELECT id, ticket, user_id, state, last_seen, expires_at INTO t FROM concert.tokens\n"
    "    WHERE lookup = hashtextextended(p_token, 0) AND token = p_token FOR UPDATE;\n"
    "  IF NOT FOUND THEN\n"
    "    RETURN QUERY SELECT -21, 0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint,\n"
    "                        0::bigint;\n"
    "    RETURN;\n"
    "  END IF;\n"
    "  v_user := t.user_id;\n"
    "  IF t.state = 1 THEN\n"
    "    f := concert_fn.token_refusal(t.state, t.ticket, t.last_seen, p_now, p_wait_ttl);\n"
    "    IF f.rc = -22 THEN\n"
    "      RETURN QUERY SELECT -22, f.pos, 0::bigint, v_user, 0::bigint, 0::bigint,\n"
    "                          0::bigint;\n"
    "      RETURN;\n"
    "    END IF;\n"
    "  END IF;\n"
    "  IF p_key IS NOT NULL THEN\n"
    /* Concurrent first attempts with one key queue here; the later ones then
     * see the first one's record. */
    "    PERFORM pg_advisory_xact_lock(1668246886, hashtext(v_user::text || ':pay:' || p_key));\n"
    "    SELECT fingerprint, payment_id INTO k FROM concert.idempotency\n"
    "      WHERE user_id = v_user AND operation = 'pay' AND key = p_key;\n"
    "    IF FOUND THEN\n"
    "      IF k.fingerprint <> p_fingerprint THEN\n"
    "        RETURN QUERY SELECT -35, 0::bigint, 0::bigint, v_user, 0::bigint, 0::bigint,\n"
    "                            0::bigint;\n"
    "        RETURN;\n"
    "      END IF;\n"
    "      RETURN QUERY SELECT 0, id, reservation_id, user_id, amount, balance_after, paid_at\n"
    "        FROM concert.payments WHERE id = k.payment_id;\n"
    "      RETURN;\n"
    "    END IF;\n"
    "  END IF;\n"
    "  IF t.state <> 2 OR p_now >= t.expires_at THEN\n"
    "    RETURN QUERY SELECT -21, 0::bigint, 0::bigint, v_user, 0::bigint, 0::bigint,\n"
    "                        0::bigint;\n"
    "    RETURN;\n"
    "  END IF;\n"
    "  SELECT balance INTO v_balance FROM concert.users WHERE id = v_user FOR UPDATE;\n"
    "  c := concert_fn.order_check(p_ids, v_user, p_now);\n"
    "  IF c.rc <> 0 THEN\n"
    "    RETURN QUERY SELECT c.rc, 0::bigint, c.at, v_user, 0::bigint, 0::bigint, 0::bigint;\n"
    "    RETURN;\n"
    "  END IF;\n"
    "  v_sum := c.total;\n"
    "  IF v_balance < v_sum THEN\n"
    "    RETURN QUERY SELECT -33, 0::bigint, v_first, v_user, v_sum, v_balance, 0::bigint;\n"
    "    RETURN;\n"
    "  END IF;\n"
    "  UPDATE concert.users SET balance = balance - v_sum WHERE id = v_user\n"
    "    RETURNING balance INTO v_balance;\n"
    "  INSERT INTO concert.ledger (user_id, type, amount, balance_after, at, reservation_id)\n"
    "    VALUES (v_user, 2, -v_sum, v_balance, p_now, v_first);\n"
    "  INSERT INTO concert.payments (reservation_id, user_id, amount, balance_after, paid_at)\n"
    "    VALUES (v_first, v_user, v_sum, v_balance, p_now) RETURNING id INTO v_payment;\n"
    "  UPDATE concert.seats s SET sold_reservation_id = x.id, hold_reservation_id = NULL,\n"
    "      hold_until = 0\n"
    "    FROM concert.reservations x\n"
    "    WHERE x.id = ANY (p_ids) AND s.schedule_id = x.schedule_id\n"
    "      AND s.number = x.seat_number;\n"
    "  UPDATE concert.reservations SET status = 2, payment_id = v_payment\n"
    "    WHERE id = ANY (p_ids);\n"
    /* The token ends; the next admission takes it off the active count. */
    "  UPDATE concert.tokens SET expires_at = 0 WHERE id = t.id;\n"
    "  IF p_key IS NOT NULL THEN\n"
    "    INSERT INTO concert.idempotency (user_id, operation, key, fingerprint, payment_id,\n"
    "                                     balance, created_at)\n"
    "      VALUES (v_user, 'pay', p_key, p_fingerprint, v_payment, v_balance, p_now);\n"
    "  END IF;\n"
    "  RETURN QUERY SELECT 0, v_payment, v_first, v_user, v_sum, v_balance, p_now;\n"
    "END $$;",

    /* Let a hold go: the token (locked) live ACTIVE; the reservation
     * (locked) the token user's and not paid; a HELD one becomes RELEASED
     * and its seat is freed only if it still points at it (a later hold of
     * the seat is not touched); a RELEASED one stays as it is. o_schedule
     * carries the position when rc is -22. */
    "CREATE FUNCTION concert_fn.reservation_release(p_id bigint, p_token text, p_now bigint,"
    "    p_wait_ttl bigint)"
    "    RETURNS TABLE (o_rc int, o_user_id bigint, o_schedule bigint, o_seat bigint,"
    "                   o_price bigint, o_status int, o_held_until bigint)"
    "    LANGUAGE plpgsql AS $$\n"
    "#variable_conflict use_column\n"
    "DECLARE t record; f record; r record;\n"
    "BEGIN\n"
    "  SELECT id, ticket, user_id, state, last_seen, expires_at INTO t FROM concert.tokens\n"
    "    WHERE lookup = hashtextextended(p_token, 0) AND token = p_token FOR NO KEY UPDATE;\n"
    "  IF NOT FOUND THEN\n"
    "    RETURN QUERY SELECT -21, 0::bigint, 0::bigint, 0::bigint, 0::bigint, 0, 0::bigint;\n"
    "    RETURN;\n"
    "  END IF;\n"
    "  IF t.state <> 2 OR p_now >= t.expires_at THEN\n"
    "    f := concert_fn.token_refusal(t.state, t.ticket, t.last_seen, p_now, p_wait_ttl);\n"
    "    RETURN QUERY SELECT f.rc, t.user_id, f.pos, 0::bigint, 0::bigint, 0, 0::bigint;\n"
    "    RETURN;\n"
    "  END IF;\n"
    "  SELECT id, user_id, schedule_id, seat_number, price, status, held_until INTO r\n"
    "    FROM concert.reservations WHERE id = p_id FOR UPDATE;\n"
    "  IF NOT FOUND OR r.user_id <> t.user_id OR r.status = 2 THEN\n"
    "    RETURN QUERY SELECT CASE WHEN r.id IS NULL THEN -29 WHEN r.status = 2\n"
    "                                  AND r.user_id = t.user_id THEN -32 ELSE -30 END,\n"
    "                        t.user_id, 0::bigint, 0::bigint, 0::bigint, 0, 0::bigint;\n"
    "    RETURN;\n"
    "  END IF;\n"
    "  IF r.status = 1 THEN\n"
    "    UPDATE concert.reservations SET status = 4 WHERE id = p_id;\n"
    "    UPDATE concert.seats SET hold_reservation_id = NULL, hold_until = 0\n"
    "      WHERE schedule_id = r.schedule_id AND number = r.seat_number\n"
    "        AND hold_reservation_id = p_id;\n"
    "  END IF;\n"
    "  RETURN QUERY SELECT 0, r.user_id, r.schedule_id, r.seat_number, r.price, 4,\n"
    "                      r.held_until;\n"
    "END $$;",
    NULL
};

#endif
