-- pgbench script: the statement a seat hold executes in the PostgreSQL
-- backend (lib/storage/postgres_sql.h, concert_fn.seat_hold's first step):
-- one conditional UPDATE on the free predicate that also writes the
-- reservation, as one single-statement transaction. Variables from -D:
-- now, until, seats, schedule (a fresh one per run), users. Buyers are spread over `users` as
-- in the library run: one shared user would make every insert key-share
-- lock the same users row (the foreign key), which PostgreSQL turns into
-- MultiXacts, and measure that instead.
\set sched :schedule
\set buyer random(1, :users)
\set seat random(1, :seats)
WITH h AS (UPDATE concert.seats
           SET hold_reservation_id = nextval('concert.reservation_ids'), hold_until = :until
           WHERE schedule_id = :sched AND number = :seat
             AND sold_reservation_id IS NULL AND hold_until <= :now
           RETURNING hold_reservation_id, price)
INSERT INTO concert.reservations (id, user_id, schedule_id, seat_number, price, status,
                                  held_until, created_at)
  SELECT h.hold_reservation_id, :buyer, :sched, :seat, h.price, 1, :until, :now FROM h;
