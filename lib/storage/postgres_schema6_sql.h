/*
 * Schema version 6 of the PostgreSQL store (issue 14): `now` may go
 * backwards between steps (storage.h, "Time may go backwards"). Included by
 * postgres_schema.c after postgres_schema5_sql.h.
 *
 *  - A hold's per-buyer limit counts only holds that still own their seat.
 *    A hold that ran out and whose seat another buyer then took keeps its
 *    HELD row and its held_until; a later step whose `now` is earlier than
 *    that held_until counted it as live again, so the buyer was refused a
 *    hold they were entitled to (one primary-key probe of seats per
 *    counted hold; the fence for everything else was already the seat's
 *    hold_reservation_id).
 *  - A status check that finds a WAITING token idle past wait_ttl ends it
 *    (state 3, ended at last_seen + wait_ttl), as the other stores do:
 *    reported ENDED once, it is never WAITING again at an earlier `now`.
 *    The client's fast path (PG_Q_DROP_IDLE, postgres_queue.c) does the
 *    same with the same statement.
 */
#ifndef CONCERT_POSTGRES_SCHEMA6_SQL_H
#define CONCERT_POSTGRES_SCHEMA6_SQL_H

#include "postgres_sql.h" /* PG_SCHEMA6_DROP_IDLE, PG_SQL_STR */

/* The reservation aliased r still owns its seat. */
#define PG_SCHEMA6_OWNS_SEAT(r)                                                                    \
    "EXISTS (SELECT 1 FROM concert.seats o WHERE o.schedule_id = " r ".schedule_id "               \
    "AND o.number = " r ".seat_number AND o.hold_reservation_id = " r ".id)"

static const char *const PG_MIGRATION_6[] = {
    /* The hold of version 5, its limit counting only holds that own their
     * seat (without its indentation: a C string literal stays within the
     * 4095 characters C99 promises). */
    "CREATE OR REPLACE FUNCTION concert_fn.seat_hold(p_token text, p_schedule bigint,"
    "p_seat bigint, p_now bigint, p_until bigint, p_wait_ttl bigint, p_concert bigint,"
    "p_max_concert bigint, p_max_holds bigint)"
    "RETURNS TABLE (o_rc int, o_id bigint, o_user_id bigint, o_price bigint, o_status int,"
    "o_held_until bigint, o_is_new int) LANGUAGE plpgsql AS $$\n"
    "#variable_conflict use_column\n"
    "DECLARE t record; f record; s record; r record; v_user bigint; v_id bigint;\n"
    "v_price bigint; v_count bigint := 0; v_full boolean := false;\n"
    "BEGIN\n"
    "SELECT id, ticket, user_id, state, last_seen, expires_at INTO t FROM concert.tokens\n"
    "WHERE lookup = hashtextextended(p_token, 0) AND token = p_token FOR NO KEY UPDATE;\n"
    "IF NOT FOUND THEN\n"
    "RETURN QUERY SELECT -21, 0::bigint, 0::bigint, 0::bigint, 0, 0::bigint, 0; RETURN;\n"
    "END IF;\n"
    "IF t.state <> 2 OR p_now >= t.expires_at THEN\n"
    "f := concert_fn.token_refusal(t.state, t.ticket, t.last_seen, p_now, p_wait_ttl);\n"
    "RETURN QUERY SELECT f.rc, f.pos, 0::bigint, 0::bigint, 0, 0::bigint, 0; RETURN;\n"
    "END IF;\n"
    "v_user := t.user_id;\n"
    "PERFORM 1 FROM concert.users WHERE id = v_user FOR UPDATE;\n"
    "IF p_max_concert > 0 THEN\n"
    "SELECT (SELECT count(*) FROM concert.reservations x\n"
    "JOIN concert.schedules c ON c.id = x.schedule_id\n"
    "WHERE x.user_id = v_user AND x.status = 1 AND x.held_until > p_now\n"
    "AND c.concert_id = p_concert\n"
    "AND " PG_SCHEMA6_OWNS_SEAT(
        "x") ")\n"
             "+ (SELECT count(*) FROM concert.reservations x\n"
             "WHERE x.user_id = v_user AND x.status = 2 AND x.schedule_id IN\n"
             "(SELECT id FROM concert.schedules WHERE concert_id = p_concert))\n"
             "INTO v_count;\n"
             "v_full := v_count >= p_max_concert;\n"
             "ELSIF p_max_holds > 0 THEN\n"
             "SELECT count(*) INTO v_count FROM concert.reservations x\n"
             "WHERE x.user_id = v_user AND x.status = 1 AND x.held_until > p_now\n"
             "AND " PG_SCHEMA6_OWNS_SEAT(
                 "x") ";\n"
                      "v_full := v_count >= p_max_holds;\n"
                      "END IF;\n"
                      "FOR attempt IN 1..3 LOOP\n"
                      "IF NOT v_full THEN\n"
                      "v_id := NULL;\n"
                      "WITH h AS (UPDATE concert.seats\n"
                      "SET hold_reservation_id = nextval('concert.reservation_ids'),\n"
                      "hold_until = p_until\n"
                      "WHERE schedule_id = p_schedule AND number = p_seat\n"
                      "AND sold_reservation_id IS NULL AND hold_until <= p_now\n"
                      "RETURNING hold_reservation_id, price)\n"
                      "INSERT INTO concert.reservations (id, user_id, schedule_id, seat_number, "
                      "price,\n"
                      "status, held_until, created_at)\n"
                      "SELECT h.hold_reservation_id, v_user, p_schedule, p_seat, h.price, 1, "
                      "p_until,\n"
                      "p_now\n"
                      "FROM h RETURNING id, price INTO v_id, v_price;\n"
                      "IF v_id IS NOT NULL THEN\n"
                      "UPDATE concert.list_changes SET changes = changes + 1\n"
                      "WHERE schedule_id = p_schedule\n"
                      "AND stripe = p_seat % " PG_SQL_STR(
                          PG_LIST_STRIPES) ";\n"
                                           "RETURN QUERY SELECT 0, v_id, v_user, v_price, 1, "
                                           "p_until, 1; RETURN;\n"
                                           "END IF;\n"
                                           "END IF;\n"
                                           "SELECT sold_reservation_id, hold_reservation_id, "
                                           "hold_until INTO s\n"
                                           "FROM concert.seats WHERE schedule_id = p_schedule AND "
                                           "number = p_seat;\n"
                                           "IF NOT FOUND THEN\n"
                                           "RETURN QUERY SELECT -27, 0::bigint, v_user, 0::bigint, "
                                           "0, 0::bigint, 0; RETURN;\n"
                                           "END IF;\n"
                                           "IF s.sold_reservation_id IS NOT NULL THEN\n"
                                           "RETURN QUERY SELECT -28, 0::bigint, v_user, 0::bigint, "
                                           "0, 0::bigint, 0; RETURN;\n"
                                           "END IF;\n"
                                           "IF s.hold_until > p_now THEN\n"
                                           "SELECT id, user_id, price, status, held_until INTO r\n"
                                           "FROM concert.reservations WHERE id = "
                                           "s.hold_reservation_id;\n"
                                           "IF FOUND AND r.user_id = v_user AND r.status = 1 AND "
                                           "r.held_until > p_now THEN\n"
                                           "RETURN QUERY SELECT 0, r.id, v_user, r.price, 1, "
                                           "r.held_until, 0; RETURN;\n"
                                           "END IF;\n"
                                           "RETURN QUERY SELECT -28, 0::bigint, v_user, 0::bigint, "
                                           "0, 0::bigint, 0; RETURN;\n"
                                           "END IF;\n"
                                           "IF v_full THEN\n"
                                           "RETURN QUERY SELECT -37, v_count, v_user, 0::bigint, "
                                           "0, 0::bigint, 0; RETURN;\n"
                                           "END IF;\n"
                                           "END LOOP;\n"
                                           "RETURN QUERY SELECT -28, 0::bigint, v_user, 0::bigint, "
                                           "0, 0::bigint, 0;\n"
                                           "END $$;",

    /* The status check of version 3, ending an idle WAITING token it
     * reports ENDED. */
    "CREATE OR REPLACE FUNCTION concert_fn.queue_status(p_token text, p_now bigint, p_active_ttl "
    "bigint,"
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
    "  ELSIF r.rc = 0 AND r.state = 3 THEN\n"
    "    " PG_SCHEMA6_DROP_IDLE("v_id", "p_now", "p_wait_ttl") ";\n"
                                                               "  END IF;\n"
                                                               "  RETURN r;\n"
                                                               "END $$;",
    NULL
};

#endif
