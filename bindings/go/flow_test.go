package concert

import (
	"path"
	"testing"
	"time"
)

// TestFlow walks issue -> admit -> list -> reserve -> pay on every store,
// with the library's own clock (no Go callback).
func TestFlow(t *testing.T) {
	forEachStore(t, func(t *testing.T, uri string) {
		const holdTTL = 3 * time.Minute
		db := openLoaded(t, uri, Options{MaxActive: 1, HoldTTL: holdTTL})

		// Subtests are named after the store; the library names PostgreSQL in full.
		want := map[string]string{"memory": "memory", "sqlite": "sqlite", "postgres": "postgresql"}
		if backend := must(db.Backend()).in(t); backend != want[path.Base(t.Name())] {
			t.Errorf("Backend() = %q for %q", backend, uri)
		}

		// Issue: alice takes the only active slot, bob waits first in line.
		first := must(db.QueueIssue(alice)).in(t)
		if !first.Active() || !first.IsNew || first.Position != 0 || first.UserID != alice {
			t.Fatalf("alice's token: %+v", first)
		}
		again := must(db.QueueIssue(alice)).in(t)
		if again.Token != first.Token || again.IsNew {
			t.Errorf("second QueueIssue(alice) = %+v, want the same live token", again)
		}
		waiting := must(db.QueueIssue(bob)).in(t)
		if waiting.State != TokenWaiting || waiting.Position != 1 {
			t.Fatalf("bob's token: %+v, want WAITING at position 1", waiting)
		}
		stats := must(db.QueueStats()).in(t)
		if stats.Active != 1 || stats.MaxActive != 1 {
			t.Errorf("QueueStats = %+v", stats)
		}

		// Admit: alice leaves, bob is admitted on his next poll.
		if err := db.QueueLeave(first.Token); err != nil {
			t.Fatal(err)
		}
		admitted := must(db.QueueStatus(waiting.Token)).in(t)
		if !admitted.Active() || admitted.Position != 0 {
			t.Fatalf("bob after alice left: %+v, want ACTIVE", admitted)
		}
		if admitted.ExpiresAt.Before(time.Now()) {
			t.Errorf("ACTIVE token expires in the past: %v", admitted.ExpiresAt)
		}
		token := admitted.Token

		// List: only the OPEN concerts, then schedules and seats.
		concerts := must(db.Concerts(token)).in(t)
		if len(concerts) != 2 || concerts[0].ID != openConcert || concerts[1].ID != pastConcert {
			t.Fatalf("Concerts = %+v, want the OPEN concerts 1 and 4", concerts)
		}
		if c := must(db.Concert(token, openConcert)).in(t); c.Title != "Open Air" || c.Status != ConcertOpen {
			t.Errorf("Concert(1) = %+v", c)
		}
		schedules := must(db.Schedules(token, openConcert)).in(t)
		if len(schedules) != 1 || schedules[0].ID != openSchedule || schedules[0].ConcertID != openConcert ||
			schedules[0].AvailableSeats != seatsR+seatsVIP {
			t.Fatalf("Schedules = %+v", schedules)
		}
		seats := must(db.Seats(token, openSchedule)).in(t)
		if len(seats) != seatsR+seatsVIP {
			t.Fatalf("%d seats, want %d", len(seats), seatsR+seatsVIP)
		}
		if s := seats[0]; s.Number != 1 || s.Price != priceR || s.Grade != "R" {
			t.Errorf("first seat = %+v", s)
		}
		if s := seats[len(seats)-1]; s.Number != seatsR+seatsVIP || s.Price != priceVIP || s.Grade != "VIP" {
			t.Errorf("last seat = %+v", s)
		}

		// Reserve a VIP seat; reserving it again returns the same hold.
		const seat = seatsR + 3
		before := time.Now()
		r := must(db.Reserve(token, openSchedule, seat)).in(t)
		after := time.Now()
		if r.Status != ReservationHeld || !r.IsNew || r.UserID != bob || r.SeatNumber != seat ||
			r.ScheduleID != openSchedule || r.Price != priceVIP {
			t.Fatalf("Reserve = %+v", r)
		}
		if r.HeldUntil.Before(before.Add(holdTTL).Truncate(time.Millisecond)) || r.HeldUntil.After(after.Add(holdTTL)) {
			t.Errorf("HeldUntil %v not within [%v, %v] + %v", r.HeldUntil, before, after, holdTTL)
		}
		if again := must(db.Reserve(token, openSchedule, seat)).in(t); again.ID != r.ID || again.IsNew {
			t.Errorf("second Reserve = %+v, want reservation %d again", again, r.ID)
		}
		for _, s := range must(db.Seats(token, openSchedule)).in(t) {
			if s.Number == seat {
				t.Errorf("held seat %d still listed as free", seat)
			}
		}
		if s := must(db.Schedules(token, openConcert)).in(t); s[0].AvailableSeats != seatsR+seatsVIP-1 {
			t.Errorf("AvailableSeats = %d after one hold", s[0].AvailableSeats)
		}

		// Pay; a retry with the same key returns the same payment.
		p := must(db.Pay(token, r.ID, "order-1")).in(t)
		if p.ReservationID != r.ID || p.UserID != bob || p.Amount != priceVIP || p.Balance != openingPoints-priceVIP {
			t.Fatalf("Pay = %+v", p)
		}
		if retry := must(db.Pay(token, r.ID, "order-1")).in(t); retry != p {
			t.Errorf("idempotent retry = %+v, want %+v", retry, p)
		}
		if _, err := db.QueueStatus(token); err == nil {
			t.Error("the token still works after paying; payment must end it")
		}

		// The paid reservation stays readable with a later token.
		later := activeToken(t, db, bob)
		if got := must(db.Reservation(later, r.ID)).in(t); got.Status != ReservationConfirmed || got.ID != r.ID {
			t.Errorf("Reservation after payment = %+v", got)
		}
		if b := must(db.Balance(bob)).in(t); b != openingPoints-priceVIP {
			t.Errorf("Balance = %d", b)
		}
		history := must(db.History(bob)).in(t)
		if len(history) != 2 {
			t.Fatalf("History = %+v, want payment then opening charge", history)
		}
		if h := history[0]; h.Type != LedgerPayment || h.Amount != -priceVIP || h.ReservationID != r.ID ||
			h.BalanceAfter != openingPoints-priceVIP || !h.At.Equal(p.PaidAt) {
			t.Errorf("newest ledger entry = %+v", h)
		}
		if h := history[1]; h.Type != LedgerCharge || h.Amount != openingPoints || h.ReservationID != 0 {
			t.Errorf("oldest ledger entry = %+v", h)
		}

		users := must(db.Users()).in(t)
		if len(users) != 3+racers || users[1].ID != bob || users[1].Name != "bob" ||
			users[1].Balance != openingPoints-priceVIP {
			t.Errorf("Users: %d users, second %+v", len(users), users[1])
		}
		all := must(db.AllConcerts()).in(t)
		if len(all) != 4 || all[1].Status != ConcertPending || all[2].Status != ConcertClosed {
			t.Errorf("AllConcerts = %+v", all)
		}

		report := must(db.Verify()).in(t)
		if !report.OK() || report.SeatsSold != 1 || report.Payments != 1 || report.Users != 3+racers {
			t.Errorf("Verify = %+v", report)
		}
	})
}

// TestSQLiteKeepsDataAcrossOpen checks that the binding passes the path
// through: a payment made before Close is there after reopening.
func TestSQLiteKeepsDataAcrossOpen(t *testing.T) {
	uri := stores[1].uri(t)
	db := openLoaded(t, uri, Options{})
	token := activeToken(t, db, alice)
	r := must(db.Reserve(token, openSchedule, 1)).in(t)
	must(db.Pay(token, r.ID, "")).in(t)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	reopened, err := Open(uri, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer reopened.Close()
	if b := must(reopened.Balance(alice)).in(t); b != openingPoints-priceR {
		t.Errorf("balance after reopening = %d, want %d", b, openingPoints-priceR)
	}
}

func TestEnumNames(t *testing.T) {
	cases := []struct {
		got  string
		want string
	}{
		{TokenWaiting.String(), "WAITING"},
		{TokenActive.String(), "ACTIVE"},
		{ConcertOpen.String(), "OPEN"},
		{ConcertPending.String(), "PENDING"},
		{ConcertClosed.String(), "CLOSED"},
		{ReservationHeld.String(), "HELD"},
		{ReservationConfirmed.String(), "CONFIRMED"},
		{ReservationExpired.String(), "EXPIRED"},
		{LedgerCharge.String(), "CHARGE"},
		{LedgerPayment.String(), "PAYMENT"},
		{ConcertStatus(9).String(), "ConcertStatus(9)"},
		{TokenState(0).String(), "TokenState(0)"},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("String() = %q, want %q", c.got, c.want)
		}
	}
}

func TestVersion(t *testing.T) {
	if Version() != HeaderVersion {
		t.Errorf("library %s, headers %s", Version(), HeaderVersion)
	}
}
