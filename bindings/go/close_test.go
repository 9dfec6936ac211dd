package concert

import (
	"errors"
	"testing"
	"time"
)

func TestUseAfterClose(t *testing.T) {
	clock := newFakeClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	db, err := Open("memory:", Options{Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	calls := map[string]error{}
	_, calls["QueueIssue"] = db.QueueIssue(alice)
	_, calls["QueueStatus"] = db.QueueStatus("x")
	calls["QueueLeave"] = db.QueueLeave("x")
	_, calls["Concerts"] = db.Concerts("x")
	_, calls["Reserve"] = db.Reserve("x", 1, 1)
	_, calls["Pay"] = db.Pay("x", 1, "")
	_, calls["Charge"] = db.Charge(alice, 1, "")
	_, calls["Users"] = db.Users()
	_, calls["Verify"] = db.Verify()
	_, calls["Now"] = db.Now()
	calls["LoadCatalog"] = db.LoadCatalog(Catalog{})
	for name, err := range calls {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
}

// A failed Open must not keep the clock callback registered or return a DB.
func TestFailedOpenReturnsNil(t *testing.T) {
	db, err := Open("nosuchscheme:", Options{Clock: time.Now})
	if db != nil || err == nil {
		t.Fatalf("Open(bad uri) = %v, %v", db, err)
	}
}
