/*
 * Schema version 5 of the PostgreSQL store (issue 12): the free lists'
 * version (storage.h list_version) and retention (storage.h "Retention").
 * Included by postgres_schema.c after postgres_schema_sql.h (versions 1 to
 * 4); documented in docs/storage-postgres.md.
 *
 * The version of a free list, read in one statement (PG_LIST_VERSION_*):
 *  - changes: the sum of a schedule's PG_LIST_STRIPES counter rows
 *    (concert.list_changes). A hold, a release that frees its seat and a
 *    payment add to the rows of their seats' stripes (seat number mod
 *    PG_LIST_STRIPES) in the step's own transaction, so the sum moves with
 *    the commit and never backwards; a later snapshot sees every stripe at
 *    least as high, so an equal sum means no such commit in between. One
 *    row per schedule would make every hold of a popular schedule wait for
 *    the previous one's commit on that row; with stripes, two holds meet
 *    only on the same stripe, and the update is each step's last write. A
 *    sequence's maximum would not do: nextval order is not commit order.
 *  - expired_through: the latest hold_until <= now among the scope's seats
 *    whose hold was neither paid nor released (hold_until > 0: those seats
 *    point at a HELD reservation), one backward probe of seats_held.
 *  - epoch: concert.meta 'epoch', random, written when the store is
 *    created or migrated to 5 (postgres_schema.c).
 *
 * Retention: a token records when it stopped being live (ended_at, set by
 * the step that ends it; for one that ran out, by the admission that
 * settles it; for a WAITING one that idled, by the admission that passes
 * its ticket), and the ended ones (state 3) are indexed by it. A few due
 * rows are deleted at the end of queue_issue, pay and charge
 * (concert_fn.prune_due: an index range, LIMIT, FOR UPDATE SKIP LOCKED, so
 * it never waits and a step that needs a row it skipped is not held up);
 * concert_fn.prune does it in batches on request. Prunes come last in a
 * step: they wait for nothing, so a step waiting on a deleted key (its
 * INSERT of that key) never waits on a step that waits on it.
 */
#ifndef CONCERT_POSTGRES_SCHEMA5_SQL_H
#define CONCERT_POSTGRES_SCHEMA5_SQL_H

#include "postgres_sql.h" /* PG_LIST_STRIPES */
/* Plans. A function's statements are planned once per connection and the
 * plan kept; planned while the tokens table is still tiny (a store before
 * its on-sale), a range over an index looks dearer than reading the table,
 * and that plan would stay while the table grows, each call reading it
 * all (measured: a fifth of the joins/s gone in a 10 s stampede on a fresh
 * store). The functions that read tokens by range (admit, prune_due,
 * prune_settle, prune) therefore run with enable_seqscan off: their ranges
 * always go through their index, whatever the size at planning time. */

/* The incidental prune (concert_fn.prune_due): a join and a payment run it
 * every second time (by their new id, which a sequence of their own hands
 * out) for PG_PRUNE_ROWS rows of each kind, a keyed charge every time for
 * PG_PRUNE_KEYS keys: twice what they create, amortised, so that a store
 * never pruned explicitly catches up. */
#define PG_PRUNE_ROWS "4"
#define PG_PRUNE_KEYS "2"

/* The statements of version 5 that need a value from the C side ($1). */
#define PG_SCHEMA5_EPOCH_SQL                                                                       \
    "INSERT INTO concert.meta (name, value) VALUES ('epoch', $1::bigint) "                         \
    "ON CONFLICT (name) DO NOTHING"
/* Tokens that ended under an older schema have no end time: the ones that
 * ran out ended at expires_at; the others (paid, left, passed while idle)
 * at some unknown instant before now ($1, the opening's clock), which is
 * recorded, so that they are kept a whole retention from here. */
#define PG_SCHEMA5_ENDED_SQL                                                                       \
    "UPDATE concert.tokens SET ended_at = CASE WHEN state = 3 AND expires_at > 0 "                 \
    "THEN least(expires_at, $1::bigint) ELSE $1::bigint END "                                      \
    "WHERE state = 3 OR (state = 2 AND expires_at = 0)"

static const char *const PG_MIGRATION_5[] = {
    /* ---- the free lists' version ---- */
    "CREATE TABLE concert.list_changes ("
    "  schedule_id bigint NOT NULL REFERENCES concert.schedules (id),"
    "  stripe smallint NOT NULL CHECK (stripe >= 0 AND stripe < " PG_SQL_STR(
        PG_LIST_STRIPES) "),"
                         "  changes bigint NOT NULL DEFAULT 0 CHECK (changes >= 0),"
                         /* Room on the page, so that counter updates stay HOT. */
                         "  PRIMARY KEY (schedule_id, stripe)) WITH (fillfactor = 50);"
                         "INSERT INTO concert.list_changes (schedule_id, stripe)"
                         "  SELECT s.id, g FROM concert.schedules s,"
                         "    generate_series(0, " PG_SQL_STR(PG_LIST_STRIPES) " - 1) g;",
    /* Every schedule gets its rows however it is inserted. */
    "CREATE FUNCTION concert_fn.list_changes_init() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN\n"
    "  INSERT INTO concert.list_changes (schedule_id, stripe)\n"
    "    SELECT NEW.id, g FROM generate_series(0, " PG_SQL_STR(
        PG_LIST_STRIPES) " - 1) g;\n"
                         "  RETURN NULL;\n"
                         "END $$;"
                         "CREATE TRIGGER schedules_list_changes AFTER INSERT ON concert.schedules"
                         "  FOR EACH ROW EXECUTE FUNCTION concert_fn.list_changes_init();",
    /* Seats whose hold was neither paid nor released, by expiry. */
    "CREATE INDEX seats_held ON concert.seats (schedule_id, hold_until) WHERE hold_until > 0;",

    /* ---- retention ---- */
    "ALTER TABLE concert.tokens ADD COLUMN ended_at bigint;"
    /* WAITING tokens admission passed while they idled: ended. */
    "UPDATE concert.tokens t SET state = 3 FROM concert.queue_state q"
    "  WHERE t.state = 1 AND t.ticket <= q.admitted_through;",
    "CREATE INDEX tokens_ended ON concert.tokens (ended_at) WHERE state = 3;"
    "CREATE INDEX idempotency_by_age ON concert.idempotency (created_at);",

    /* A few due rows of each kind (p_tokens, p_keys), oldest first, each an
     * index range, in one statement; rows another step has locked are
     * skipped, never waited for. */
    "CREATE FUNCTION concert_fn.prune_due(p_before bigint, p_tokens int, p_keys int)"
    "    RETURNS void LANGUAGE plpgsql\n"
    "    SET enable_seqscan = off AS $$\n"
    "DECLARE v_n bigint;\n"
    "BEGIN\n"
    "  WITH t AS (DELETE FROM concert.tokens WHERE ctid = ANY (ARRAY(\n"
    "               SELECT ctid FROM concert.tokens WHERE state = 3 AND ended_at <= p_before\n"
    "                ORDER BY ended_at LIMIT p_tokens FOR UPDATE SKIP LOCKED)) RETURNING 1),\n"
    "       k AS (DELETE FROM concert.idempotency WHERE ctid = ANY (ARRAY(\n"
    "               SELECT ctid FROM concert.idempotency WHERE created_at <= p_before\n"
    "                ORDER BY created_at LIMIT p_keys FOR UPDATE SKIP LOCKED)) RETURNING 1)\n"
    "  SELECT (SELECT count(*) FROM t) + (SELECT count(*) FROM k) INTO v_n;\n"
    "END $$;",

    /* prune(), first and in a transaction of its own: WAITING tokens in
     * line (or pre-queued) that idled past wait_ttl are ended (they could
     * never be live again; admission would end them as it passed them),
     * dated last_seen + wait_ttl; then the admission every queue step runs,
     * which settles and dates ACTIVE tokens that ran out or were ended. A
     * scan of the line, for the explicit prune only; the queue lock K, if
     * admission takes it, only at the end. */
    "CREATE FUNCTION concert_fn.prune_settle(p_now bigint, p_active_ttl bigint,"
    "    p_wait_ttl bigint) RETURNS void LANGUAGE plpgsql\n"
    "    SET enable_seqscan = off AS $$\n"
    "DECLARE v_through bigint;\n"
    "BEGIN\n"
    "  SELECT admitted_through INTO v_through FROM concert.queue_state WHERE id = 1;\n"
    "  UPDATE concert.tokens SET state = 3, ended_at = last_seen + p_wait_ttl\n"
    "    WHERE state = 1 AND last_seen + p_wait_ttl <= p_now\n"
    "      AND (ticket > v_through OR ticket IS NULL);\n"
    "  IF NOT coalesce(concert_fn.opening_due(p_now), false) THEN\n"
    "    PERFORM concert_fn.admit_wait(p_now, p_active_ttl, p_wait_ttl);\n"
    "  END IF;\n"
    "END $$;",

    /* prune(): one batch of at most p_limit rows, the oldest of both kinds
     * together. o_more: rows still due after it. */
    "CREATE FUNCTION concert_fn.prune(p_now bigint, p_retention bigint, p_limit int,"
    "    OUT o_tokens bigint, OUT o_keys bigint, OUT o_more boolean)"
    "    LANGUAGE plpgsql\n"
    "    SET enable_seqscan = off AS $$\n"
    "DECLARE v_before bigint := p_now - p_retention;\n"
    "BEGIN\n"
    "  WITH t AS (SELECT ended_at AS at, ctid AS rid FROM concert.tokens\n"
    "              WHERE state = 3 AND ended_at <= v_before\n"
    "              ORDER BY ended_at LIMIT p_limit FOR UPDATE SKIP LOCKED),\n"
    "       k AS (SELECT created_at AS at, ctid AS rid FROM concert.idempotency\n"
    "              WHERE created_at <= v_before\n"
    "              ORDER BY created_at LIMIT p_limit FOR UPDATE SKIP LOCKED),\n"
    "       pick AS MATERIALIZED (SELECT kind, rid FROM (SELECT 1 AS kind, at, rid FROM t\n"
    "                                                   UNION ALL SELECT 2, at, rid FROM k) u\n"
    "                             ORDER BY at, kind LIMIT p_limit),\n"
    "       dt AS (DELETE FROM concert.tokens\n"
    "              WHERE ctid = ANY (ARRAY(SELECT rid FROM pick WHERE kind = 1)) RETURNING 1),\n"
    "       dk AS (DELETE FROM concert.idempotency\n"
    "              WHERE ctid = ANY (ARRAY(SELECT rid FROM pick WHERE kind = 2)) RETURNING 1)\n"
    "  SELECT (SELECT count(*) FROM dt), (SELECT count(*) FROM dk) INTO o_tokens, o_keys;\n"
    "  o_more := EXISTS (SELECT 1 FROM concert.tokens WHERE state = 3 AND ended_at <= v_before)\n"
    "         OR EXISTS (SELECT 1 FROM concert.idempotency WHERE created_at <= v_before);\n"
    "END $$;",

    /* Admission as in version 3, and it dates what it ends: a settled
     * token ended at expires_at (ran out) or when it was ended (ended_at,
     * paid or left); a WAITING ticket it passes (idle: it was not taken)
     * ended when it idled, or now if that is later than now. */
    "CREATE OR REPLACE FUNCTION concert_fn.admit(p_now bigint, p_active_ttl bigint,"
    "    p_wait_ttl bigint) RETURNS bigint LANGUAGE plpgsql\n"
    "    SET enable_seqscan = off AS $$\n"
    "#variable_conflict use_column\n"
    "DECLARE\n"
    "  q record; v_settled bigint; v_room bigint; v_through bigint; v_last bigint;\n"
    "  v_budget bigint; v_cand bigint := 0; v_cand_max bigint; v_admitted bigint := 0;\n"
    "  v_pace bigint;\n"
    "BEGIN\n"
    "  SELECT active, admitted_through, max_active, admit_per_minute, state, pace_us INTO q\n"
    "    FROM concert.queue_state WHERE id = 1 FOR UPDATE;\n"
    "  WITH e AS (UPDATE concert.tokens SET state = 3,\n"
    "                    ended_at = coalesce(ended_at, expires_at)\n"
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
    "    UPDATE concert.tokens SET state = 3, ended_at = least(last_seen + p_wait_ttl, p_now)\n"
    "      WHERE ticket > q.admitted_through AND ticket <= v_through AND state = 1;\n"
    "  END IF;\n"
    "  IF v_settled > 0 OR v_admitted > 0 OR v_through <> q.admitted_through\n"
    "     OR v_pace <> q.pace_us THEN\n"
    "    UPDATE concert.queue_state SET active = q.active - v_settled + v_admitted,\n"
    "        admitted_through = v_through, pace_us = v_pace WHERE id = 1;\n"
    "  END IF;\n"
    "  RETURN v_admitted;\n"
    "END $$;",

    /* Leave as in version 3, dating the end. */
    "CREATE OR REPLACE FUNCTION concert_fn.queue_leave(p_token text, p_now bigint,"
    "    p_active_ttl bigint, p_wait_ttl bigint)"
    "    RETURNS concert_fn.token_row LANGUAGE plpgsql AS $$\n"
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
    "    UPDATE concert.tokens SET state = 3, ended_at = p_now WHERE id = t.id;\n"
    "  ELSIF t.state = 2 AND p_now < t.expires_at THEN\n"
    "    UPDATE concert.tokens SET expires_at = 0, ended_at = p_now WHERE id = t.id;\n"
    "  ELSE\n"
    "    r.rc := -21; RETURN r;\n"
    "  END IF;\n"
    "  IF v_locked THEN\n"
    "    v_admitted := concert_fn.admit(p_now, p_active_ttl, p_wait_ttl);\n"
    "  END IF;\n"
    "  RETURN concert_fn.token_report(t.id, p_now, p_wait_ttl, v_admitted, 0);\n"
    "END $$;",

    /* A join as in version 3; one that created a token then prunes a few
     * due rows (p_retention). */
    "DROP FUNCTION concert_fn.queue_issue(bigint, text, bigint, bigint, bigint);",
    "CREATE FUNCTION concert_fn.queue_issue(p_user bigint, p_token text, p_now bigint,"
    "    p_active_ttl bigint, p_wait_ttl bigint, p_retention bigint)"
    "    RETURNS concert_fn.token_row LANGUAGE plpgsql AS $$\n"
    "#variable_conflict use_column\n"
    "DECLARE v record; v_id bigint; v_ticket bigint; v_state int; v_seen bigint;\n"
    "  v_expires bigint; v_budget bigint := 0; v_done boolean := false;\n"
    "  r concert_fn.token_row;\n"
    "BEGIN\n"
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
    "  IF v_state = 1 AND v_ticket IS NOT NULL THEN\n"
    "    v_budget := concert_fn.admit_budget(v.state, v.admit_per_minute, v.pace_us,\n"
    "                                        v.max_active - v.active, p_now);\n"
    "  END IF;\n"
    "  IF v.expired OR v_budget > 0 THEN\n"
    "    IF pg_try_advisory_xact_lock(1668246887, 0) THEN\n"
    "      r := concert_fn.token_report(v_id, p_now, p_wait_ttl,\n"
    "                                   concert_fn.admit(p_now, p_active_ttl, p_wait_ttl),\n"
    "                                   r.is_new);\n"
    "      v_done := true;\n"
    "    ELSIF v_state = 1 AND v_ticket IS NOT NULL\n"
    "          AND (v.expired OR v_budget >= v_ticket - v.admitted_through) THEN\n"
    "      r.admitted := -1;\n"
    "    END IF;\n"
    "  END IF;\n"
    "  IF NOT v_done THEN\n"
    "    r.ticket := coalesce(v_ticket, 0);\n"
    "    IF v_state = 2 THEN\n"
    "      r.state := 2; r.position := 0; r.expires_at := v_expires;\n"
    "    ELSE\n"
    "      r.state := 1; r.expires_at := v_seen + p_wait_ttl;\n"
    "      r.position := CASE WHEN v_ticket IS NULL THEN -1\n"
    "                         ELSE v_ticket - v.admitted_through END;\n"
    "    END IF;\n"
    "  END IF;\n"
    "  IF r.is_new = 1 AND v_id % 2 = 0 THEN\n"
    "    PERFORM concert_fn.prune_due(p_now - p_retention, " PG_PRUNE_ROWS ", " PG_PRUNE_ROWS ");\n"
    "  END IF;\n"
    "  RETURN r;\n"
    "END $$;",

    /* A hold as in version 4; a landed one counts on its seat's stripe,
     * its last write. */
    "CREATE OR REPLACE FUNCTION concert_fn.seat_hold(p_token text, p_schedule bigint,"
    "    p_seat bigint, p_now bigint, p_until bigint, p_wait_ttl bigint, p_concert bigint,"
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
    "        UPDATE concert.list_changes SET changes = changes + 1\n"
    "          WHERE schedule_id = p_schedule\n"
    "            AND stripe = p_seat % " PG_SQL_STR(
        PG_LIST_STRIPES) ";\n"
                         "        RETURN QUERY SELECT 0, v_id, v_user, v_price, 1, p_until, 1; "
                         "RETURN;\n"
                         "      END IF;\n"
                         "    END IF;\n"
                         "    SELECT sold_reservation_id, hold_reservation_id, hold_until INTO s\n"
                         "      FROM concert.seats WHERE schedule_id = p_schedule AND number = "
                         "p_seat;\n"
                         "    IF NOT FOUND THEN\n"
                         "      RETURN QUERY SELECT -27, 0::bigint, v_user, 0::bigint, 0, "
                         "0::bigint, 0; RETURN;\n"
                         "    END IF;\n"
                         "    IF s.sold_reservation_id IS NOT NULL THEN\n"
                         "      RETURN QUERY SELECT -28, 0::bigint, v_user, 0::bigint, 0, "
                         "0::bigint, 0; RETURN;\n"
                         "    END IF;\n"
                         "    IF s.hold_until > p_now THEN\n"
                         "      SELECT id, user_id, price, status, held_until INTO r\n"
                         "        FROM concert.reservations WHERE id = s.hold_reservation_id;\n"
                         "      IF FOUND AND r.user_id = v_user AND r.status = 1 AND r.held_until "
                         "> p_now THEN\n"
                         "        RETURN QUERY SELECT 0, r.id, v_user, r.price, 1, r.held_until, "
                         "0; RETURN;\n"
                         "      END IF;\n"
                         "      RETURN QUERY SELECT -28, 0::bigint, v_user, 0::bigint, 0, "
                         "0::bigint, 0; RETURN;\n"
                         "    END IF;\n"
                         "    IF v_full THEN\n"
                         "      RETURN QUERY SELECT -37, v_count, v_user, 0::bigint, 0, 0::bigint, "
                         "0; RETURN;\n"
                         "    END IF;\n"
                         "  END LOOP;\n"
                         "  RETURN QUERY SELECT -28, 0::bigint, v_user, 0::bigint, 0, 0::bigint, "
                         "0;\n"
                         "END $$;",

    /* A payment as in version 4, with: the token's end dated; the seats'
     * stripes counted (ascending, after every other write: two orders
     * never wait on each other's stripes in opposite orders); then a few
     * due rows pruned (p_retention). */
    "DROP FUNCTION concert_fn.pay(bigint[], text, bigint, bigint, text, text);",
    "CREATE FUNCTION concert_fn.pay(p_ids bigint[], p_token text, p_now bigint,"
    "    p_wait_ttl bigint, p_key text, p_fingerprint text, p_retention bigint)"
    "    RETURNS TABLE (o_rc int, o_id bigint, o_reservation_id bigint, o_user_id bigint,"
    "                   o_amount bigint, o_balance bigint, o_paid_at bigint)"
    "    LANGUAGE plpgsql AS $$\n"
    "#variable_conflict use_column\n"
    "DECLARE t record; f record; k record; c record; g record; v_user bigint;\n"
    "  v_first bigint; v_sum bigint; v_balance bigint; v_payment bigint;\n"
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
    "  UPDATE concert.tokens SET expires_at = 0, ended_at = p_now WHERE id = t.id;\n"
    "  IF p_key IS NOT NULL THEN\n"
    "    INSERT INTO concert.idempotency (user_id, operation, key, fingerprint, payment_id,\n"
    "                                     balance, created_at)\n"
    "      VALUES (v_user, 'pay', p_key, p_fingerprint, v_payment, v_balance, p_now);\n"
    "  END IF;\n"
    "  FOR g IN SELECT schedule_id, seat_number % " PG_SQL_STR(
        PG_LIST_STRIPES) " AS stripe,\n"
                         "                  count(*) AS n\n"
                         "             FROM concert.reservations WHERE id = ANY (p_ids)\n"
                         "            GROUP BY 1, 2 ORDER BY 1, 2 LOOP\n"
                         "    UPDATE concert.list_changes SET changes = changes + g.n\n"
                         "      WHERE schedule_id = g.schedule_id AND stripe = g.stripe;\n"
                         "  END LOOP;\n"
                         "  IF v_payment % 2 = 0 THEN\n"
                         "    PERFORM concert_fn.prune_due(p_now - p_retention, " PG_PRUNE_ROWS
                         ", " PG_PRUNE_ROWS ");\n"
                         "  END IF;\n"
                         "  RETURN QUERY SELECT 0, v_payment, v_first, v_user, v_sum, v_balance, "
                         "p_now;\n"
                         "END $$;",

    /* A release as in version 4; freeing the seat counts on its stripe. */
    "CREATE OR REPLACE FUNCTION concert_fn.reservation_release(p_id bigint, p_token text,"
    "    p_now bigint, p_wait_ttl bigint)"
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
    "    IF FOUND THEN\n"
    "      UPDATE concert.list_changes SET changes = changes + 1\n"
    "        WHERE schedule_id = r.schedule_id\n"
    "          AND stripe = r.seat_number % " PG_SQL_STR(
        PG_LIST_STRIPES) ";\n"
                         "    END IF;\n"
                         "  END IF;\n"
                         "  RETURN QUERY SELECT 0, r.user_id, r.schedule_id, r.seat_number, "
                         "r.price, 4,\n"
                         "                      r.held_until;\n"
                         "END $$;",

    /* A charge as in version 2; one that wrote a key prunes a few due ones. */
    "DROP FUNCTION concert_fn.charge(bigint, bigint, bigint, bigint, text, text);",
    "CREATE FUNCTION concert_fn.charge(p_user bigint, p_amount bigint, p_max_balance bigint,"
    "    p_now bigint, p_key text, p_fingerprint text, p_retention bigint)"
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
    "    PERFORM concert_fn.prune_due(p_now - p_retention, 0, " PG_PRUNE_KEYS ");\n"
    "  END IF;\n"
    "  RETURN QUERY SELECT 0, v_balance;\n"
    "END $$;",
    NULL
};

#endif
