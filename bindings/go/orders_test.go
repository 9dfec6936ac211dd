package concert

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestPayOrder pays two holds at once on every store: one payment, one
// ledger entry, the balance down by the sum, both seats sold, and a retry
// with the same key and the ids in another order replays it.
func TestPayOrder(t *testing.T) {
	forEachStore(t, func(t *testing.T, uri string) {
		db := openLoaded(t, uri, Options{})
		token := activeToken(t, db, alice)
		r := must(db.Reserve(token, openSchedule, 1)).in(t)          // R
		vip := must(db.Reserve(token, openSchedule, seatsR+1)).in(t) // VIP
		ledgerBefore := must(db.History(alice)).in(t)
		balanceBefore := must(db.Balance(alice)).in(t)

		p := must(db.PayOrder(token, []int64{vip.ID, r.ID}, "basket-1")).in(t)
		const total = priceR + priceVIP
		lowest := r.ID
		if vip.ID < lowest {
			lowest = vip.ID
		}
		if p.Amount != total || p.UserID != alice || p.ReservationID != lowest ||
			p.Balance != balanceBefore-total {
			t.Errorf("PayOrder = %+v, want amount %d, reservation %d, balance %d",
				p, total, lowest, balanceBefore-total)
		}
		if b := must(db.Balance(alice)).in(t); b != balanceBefore-total {
			t.Errorf("balance %d, want %d", b, balanceBefore-total)
		}
		ledger := must(db.History(alice)).in(t)
		if len(ledger) != len(ledgerBefore)+1 {
			t.Fatalf("ledger has %d entries, want %d (one for the order)", len(ledger), len(ledgerBefore)+1)
		}
		if e := ledger[0]; e.Type != LedgerPayment || e.Amount != -total || e.ReservationID != lowest {
			t.Errorf("order's ledger entry %+v", e)
		}

		again := must(db.PayOrder(token, []int64{r.ID, vip.ID}, "basket-1")).in(t)
		if again != p {
			t.Errorf("replay = %+v, want %+v", again, p)
		}
		if b := must(db.Balance(alice)).in(t); b != balanceBefore-total {
			t.Errorf("balance after the replay %d, want %d", b, balanceBefore-total)
		}
		_, err := db.QueueStatus(token)
		expectCode(t, "QueueStatus after the order", err, ErrTokenInvalid)

		later := activeToken(t, db, alice)
		for _, id := range []int64{r.ID, vip.ID} {
			if got := must(db.Reservation(later, id)).in(t); got.Status != ReservationConfirmed {
				t.Errorf("reservation %d is %v, want CONFIRMED", id, got.Status)
			}
		}
		report := must(db.Verify()).in(t)
		if !report.OK() || report.Payments != 1 || report.SeatsSold != 2 {
			t.Errorf("Verify = %+v", report)
		}
	})
}

// TestPayOrderAllOrNothing: a released hold in an order fails it whole.
func TestPayOrderAllOrNothing(t *testing.T) {
	db := openLoaded(t, "memory:", Options{})
	token := activeToken(t, db, alice)
	kept := must(db.Reserve(token, openSchedule, 2)).in(t)
	gone := must(db.Reserve(token, openSchedule, 3)).in(t)
	must(db.Release(token, gone.ID)).in(t)
	_, err := db.PayOrder(token, []int64{kept.ID, gone.ID}, "")
	expectCode(t, "PayOrder with a released hold", err, ErrHoldExpired)
	if b := must(db.Balance(alice)).in(t); b != openingPoints {
		t.Errorf("balance %d after a failed order, want %d", b, openingPoints)
	}
	if got := must(db.Reservation(token, kept.ID)).in(t); got.Status != ReservationHeld {
		t.Errorf("kept hold is %v, want HELD", got.Status)
	}

	_, err = db.PayOrder(token, nil, "")
	expectCode(t, "PayOrder(no ids)", err, ErrInvalidArgument)
	_, err = db.PayOrder(token, []int64{kept.ID, kept.ID}, "")
	expectCode(t, "PayOrder(repeated id)", err, ErrInvalidArgument)
	tooMany := make([]int64, OrderMax+1)
	for i := range tooMany {
		tooMany[i] = int64(i + 1)
	}
	_, err = db.PayOrder(token, tooMany, "")
	expectCode(t, "PayOrder(OrderMax+1 ids)", err, ErrInvalidArgument)
}

// TestRelease frees a held seat for another buyer at once, on every store.
func TestRelease(t *testing.T) {
	forEachStore(t, func(t *testing.T, uri string) {
		db := openLoaded(t, uri, Options{})
		aliceToken, bobToken := activeToken(t, db, alice), activeToken(t, db, bob)
		mine := must(db.Reserve(aliceToken, openSchedule, 5)).in(t)
		_, err := db.Reserve(bobToken, openSchedule, 5)
		expectCode(t, "Reserve(held by alice)", err, ErrSeatTaken)
		_, err = db.Release(bobToken, mine.ID)
		expectCode(t, "Release(alice's, by bob)", err, ErrForbidden)

		released := must(db.Release(aliceToken, mine.ID)).in(t)
		if released.ID != mine.ID || released.Status != ReservationReleased || released.Status.String() != "RELEASED" {
			t.Errorf("Release = %+v", released)
		}
		theirs := must(db.Reserve(bobToken, openSchedule, 5)).in(t)
		if !theirs.IsNew || theirs.UserID != bob {
			t.Errorf("bob's hold after the release: %+v", theirs)
		}
		// Again: no change, and bob's hold on the seat is left alone.
		if again := must(db.Release(aliceToken, mine.ID)).in(t); again.Status != ReservationReleased {
			t.Errorf("second Release = %+v", again)
		}
		if got := must(db.Reservation(bobToken, theirs.ID)).in(t); got.Status != ReservationHeld {
			t.Errorf("bob's hold is %v after alice released again", got.Status)
		}
		_, err = db.Release(aliceToken, 987654)
		expectCode(t, "Release(unknown)", err, ErrReservationNotFound)

		must(db.Pay(bobToken, theirs.ID, "")).in(t)
		_, err = db.Release(activeToken(t, db, bob), theirs.ID)
		expectCode(t, "Release(paid)", err, ErrAlreadyPaid)
	})
}

// TestHoldLimit: the fifth hold is refused with ErrHoldLimit under the
// default limit, on every store; the option and the catalog change it.
func TestHoldLimit(t *testing.T) {
	forEachStore(t, func(t *testing.T, uri string) {
		db := openLoaded(t, uri, Options{})
		token := activeToken(t, db, alice)
		var held []Reservation
		for seat := int64(11); seat <= 14; seat++ {
			held = append(held, must(db.Reserve(token, openSchedule, seat)).in(t))
		}
		_, err := db.Reserve(token, openSchedule, 15)
		expectCode(t, "fifth Reserve", err, ErrHoldLimit)
		var e *Error
		if errors.As(err, &e) && (e.Name != "HOLD_LIMIT" || !strings.Contains(e.Message, "4")) {
			t.Errorf("HOLD_LIMIT error %+v does not give the limit", e)
		}
		if r := must(db.Reserve(token, openSchedule, 11)).in(t); r.IsNew {
			t.Errorf("re-reserving a held seat made a new hold: %+v", r)
		}
		must(db.Reserve(activeToken(t, db, bob), openSchedule, 15)).in(t) // bob has his own limit
		must(db.Release(token, held[0].ID)).in(t)
		must(db.Reserve(token, openSchedule, 16)).in(t) // room again
	})
}

func TestMaxHoldsPerUserOption(t *testing.T) {
	two := openLoaded(t, "memory:", Options{MaxHoldsPerUser: 2})
	token := activeToken(t, two, alice)
	must(two.Reserve(token, openSchedule, 1)).in(t)
	must(two.Reserve(token, openSchedule, 2)).in(t)
	_, err := two.Reserve(token, openSchedule, 3)
	expectCode(t, "third Reserve with MaxHoldsPerUser 2", err, ErrHoldLimit)

	unlimited := openLoaded(t, "memory:", Options{MaxHoldsPerUser: NoHoldLimit})
	token = activeToken(t, unlimited, alice)
	for seat := int64(1); seat <= 8; seat++ {
		must(unlimited.Reserve(token, openSchedule, seat)).in(t)
	}

	_, err = Open("memory:", Options{MaxHoldsPerUser: -2})
	expectCode(t, "Open(MaxHoldsPerUser -2)", err, ErrInvalidArgument)
}

func TestCatalogMaxPerUser(t *testing.T) {
	db := must(Open("memory:", Options{})).in(t)
	defer db.Close()
	err := db.LoadCatalog(Catalog{
		Users: []CatalogUser{{ID: alice, Name: "alice", Points: openingPoints}},
		Concerts: []CatalogConcert{{
			ID: 9, Title: "One Each", Status: ConcertOpen, MaxPerUser: 1,
			Schedules: []CatalogSchedule{{ID: 90, StartsAt: time.Now().Add(48 * time.Hour),
				Seats: []SeatRange{{From: 1, To: 3, Grade: "R", Price: 100}}}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	token := activeToken(t, db, alice)
	if c := must(db.Concert(token, 9)).in(t); c.MaxPerUser != 1 {
		t.Errorf("Concert(9).MaxPerUser = %d, want 1", c.MaxPerUser)
	}
	r := must(db.Reserve(token, 90, 1)).in(t)
	_, err = db.Reserve(token, 90, 2)
	expectCode(t, "second hold of a max_per_user 1 concert", err, ErrHoldLimit)
	must(db.Pay(token, r.ID, "")).in(t)
	_, err = db.Reserve(activeToken(t, db, alice), 90, 2)
	expectCode(t, "a hold after buying the one allowed", err, ErrHoldLimit)

	err = db.LoadCatalog(Catalog{Concerts: []CatalogConcert{{ID: 10, Title: "Bad", Status: ConcertOpen,
		MaxPerUser: OrderMax + 1}}})
	expectCode(t, "MaxPerUser above OrderMax", err, ErrInvalidArgument)
}

// TestHistoryPage walks the whole ledger in pages and sees every entry
// exactly once, newest first, on every store.
func TestHistoryPage(t *testing.T) {
	forEachStore(t, func(t *testing.T, uri string) {
		db := openLoaded(t, uri, Options{})
		for amount := int64(1); amount <= 22; amount++ { // carol starts with no entry
			must(db.Charge(carol, amount, "")).in(t)
		}
		all := must(db.History(carol)).in(t)
		if len(all) != 22 {
			t.Fatalf("History has %d entries, want 22", len(all))
		}
		var seen []LedgerEntry
		pages := 0
		for before := int64(0); ; {
			page := must(db.HistoryPage(carol, before, 5)).in(t)
			pages++
			if len(page.Entries) == 0 || len(page.Entries) > 5 {
				t.Fatalf("page %d has %d entries", pages, len(page.Entries))
			}
			seen = append(seen, page.Entries...)
			if before = page.NextBeforeID; before == 0 {
				break
			}
			if before != page.Entries[len(page.Entries)-1].ID {
				t.Errorf("cursor %d is not the page's last id", before)
			}
		}
		if pages != 5 || len(seen) != len(all) {
			t.Fatalf("%d pages, %d entries; want 5 pages, %d entries", pages, len(seen), len(all))
		}
		ids := map[int64]bool{}
		for i := range seen {
			if seen[i] != all[i] || ids[seen[i].ID] {
				t.Errorf("entry %d: %+v, want %+v once", i, seen[i], all[i])
			}
			ids[seen[i].ID] = true
		}
		if whole := must(db.HistoryPage(carol, 0, 22)).in(t); len(whole.Entries) != 22 || whole.NextBeforeID != 0 {
			t.Errorf("one full page: %d entries, cursor %d", len(whole.Entries), whole.NextBeforeID)
		}
		for _, limit := range []int{0, HistoryPageMax + 1, -1} {
			_, err := db.HistoryPage(carol, 0, limit)
			expectCode(t, "HistoryPage(limit out of range)", err, ErrInvalidArgument)
		}
		_, err := db.HistoryPage(carol, -1, 5)
		expectCode(t, "HistoryPage(negative cursor)", err, ErrInvalidArgument)
		_, err = db.HistoryPage(999, 0, 5)
		expectCode(t, "HistoryPage(unknown user)", err, ErrUserNotFound)
	})
}

func TestTokenOwner(t *testing.T) {
	forEachStore(t, func(t *testing.T, uri string) {
		db := openLoaded(t, uri, Options{MaxActive: 1})
		token := activeToken(t, db, alice)
		waiting := must(db.QueueIssue(bob)).in(t)
		if u := must(db.TokenOwner(token)).in(t); u != alice {
			t.Errorf("TokenOwner(alice's) = %d", u)
		}
		if u := must(db.TokenOwner(waiting.Token)).in(t); u != bob {
			t.Errorf("TokenOwner(bob's waiting) = %d", u)
		}
		r := must(db.Reserve(token, openSchedule, 7)).in(t)
		must(db.Pay(token, r.ID, "")).in(t)
		if u := must(db.TokenOwner(token)).in(t); u != alice {
			t.Errorf("TokenOwner(ended) = %d, want alice", u)
		}
		last := token[len(token)-1]
		unknown := token[:len(token)-1] + map[bool]string{true: "B", false: "A"}[last == 'A']
		_, err := db.TokenOwner(unknown)
		expectCode(t, "TokenOwner(unknown)", err, ErrTokenInvalid)
		_, err = db.TokenOwner("not a token")
		expectCode(t, "TokenOwner(malformed)", err, ErrTokenInvalid)
	})
}

// TestIdempotencyKeys: "" is no key (NULL); a blank or otherwise malformed
// key is ErrInvalidArgument and changes nothing.
func TestIdempotencyKeys(t *testing.T) {
	db := openLoaded(t, "memory:", Options{})
	token := activeToken(t, db, alice)
	r := must(db.Reserve(token, openSchedule, 8)).in(t)
	for _, key := range []string{" ", "\t", "a b", "café", strings.Repeat("k", 256)} {
		_, err := db.Pay(token, r.ID, key)
		expectCode(t, "Pay(key "+key+")", err, ErrInvalidArgument)
		_, err = db.PayOrder(token, []int64{r.ID}, key)
		expectCode(t, "PayOrder(key "+key+")", err, ErrInvalidArgument)
		_, err = db.Charge(alice, 10, key)
		expectCode(t, "Charge(key "+key+")", err, ErrInvalidArgument)
	}
	if b := must(db.Balance(alice)).in(t); b != openingPoints {
		t.Errorf("balance %d after refused calls, want %d", b, openingPoints)
	}
	if h := must(db.History(alice)).in(t); len(h) != 1 {
		t.Errorf("%d ledger entries after refused calls, want 1", len(h))
	}
	long := strings.Repeat("~", 255)
	if b := must(db.Charge(alice, 10, long)).in(t); b != openingPoints+10 {
		t.Errorf("Charge with a 255-byte key: balance %d", b)
	}
	if b := must(db.Charge(alice, 10, long)).in(t); b != openingPoints+10 {
		t.Errorf("replayed Charge: balance %d", b)
	}
	must(db.Charge(alice, 10, "")).in(t) // "" is no key: applied again
	must(db.Charge(alice, 10, "")).in(t)
	if b := must(db.Balance(alice)).in(t); b != openingPoints+30 {
		t.Errorf("balance %d, want %d", b, openingPoints+30)
	}
	p := must(db.Pay(token, r.ID, "")).in(t)
	if p.Amount != priceR {
		t.Errorf("Pay without a key: %+v", p)
	}
}
