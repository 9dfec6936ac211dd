/*
 * Schema version 7 of the PostgreSQL store (issue 15): a payment records the
 * token it ended. Included by postgres_schema.c after
 * postgres_schema6_sql.h.
 *
 *  - tokens.paid_reservation_id: the first reservation of the payment that
 *    ended the token (0: none, or ended before this version), read by
 *    token_paid so that a second use of a spent token says which payment
 *    used it, in the same words as the other stores. ADD COLUMN with a
 *    constant default rewrites nothing.
 *  - concert_fn.pay: the function of version 5, its token update setting
 *    the column (same signature and result: CREATE OR REPLACE).
 *  - concert_fn.charge: the function of version 5 with o_replayed.
 */
#ifndef CONCERT_POSTGRES_SCHEMA7_SQL_H
#define CONCERT_POSTGRES_SCHEMA7_SQL_H

#include "postgres_sql.h" /* PG_LIST_STRIPES, PG_SQL_STR */

static const char *const PG_MIGRATION_7[] = {
    "ALTER TABLE concert.tokens ADD COLUMN paid_reservation_id bigint NOT NULL DEFAULT 0;",

    "CREATE OR REPLACE FUNCTION concert_fn.pay(p_ids bigint[], p_token text, p_now bigint,"
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
    "  UPDATE concert.tokens SET expires_at = 0, ended_at = p_now, paid_reservation_id = v_first\n"
    "    WHERE id = t.id;\n"
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

    /* The charge of version 5, reporting whether a key replayed a stored
     * charge (o_replayed = 1), so that a caller can tell without a second
     * read. A new result column: DROP and CREATE (an older library reads
     * only the first two columns of SELECT *). */
    "DROP FUNCTION concert_fn.charge(bigint, bigint, bigint, bigint, text, text, bigint);",
    "CREATE FUNCTION concert_fn.charge(p_user bigint, p_amount bigint, p_max_balance bigint,"
    "    p_now bigint, p_key text, p_fingerprint text, p_retention bigint)"
    "    RETURNS TABLE (o_rc int, o_balance bigint, o_replayed int) LANGUAGE plpgsql AS $$\n"
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
    "        RETURN QUERY SELECT -35, 0::bigint, 0; RETURN;\n"
    "      END IF;\n"
    "      RETURN QUERY SELECT 0, k.balance, 1; RETURN;\n"
    "    END IF;\n"
    "  END IF;\n"
    "  UPDATE concert.users SET balance = balance + p_amount\n"
    "    WHERE id = p_user AND balance <= p_max_balance - p_amount\n"
    "    RETURNING balance INTO v_balance;\n"
    "  IF NOT FOUND THEN\n"
    "    PERFORM 1 FROM concert.users WHERE id = p_user;\n"
    "    IF NOT FOUND THEN RETURN QUERY SELECT -20, 0::bigint, 0; RETURN; END IF;\n"
    "    RETURN QUERY SELECT -34, 0::bigint, 0; RETURN;\n"
    "  END IF;\n"
    "  INSERT INTO concert.ledger (user_id, type, amount, balance_after, at)\n"
    "    VALUES (p_user, 1, p_amount, v_balance, p_now);\n"
    "  IF p_key IS NOT NULL THEN\n"
    "    INSERT INTO concert.idempotency (user_id, operation, key, fingerprint, balance,\n"
    "                                     created_at)\n"
    "      VALUES (p_user, 'charge', p_key, p_fingerprint, v_balance, p_now);\n"
    "    PERFORM concert_fn.prune_due(p_now - p_retention, 0, " PG_PRUNE_KEYS ");\n"
    "  END IF;\n"
    "  RETURN QUERY SELECT 0, v_balance, 0;\n"
    "END $$;",
    NULL
};

#endif
