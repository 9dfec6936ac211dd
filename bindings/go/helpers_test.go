package concert

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// store is one backend the behaviour tests run against.
type store struct {
	name string
	uri  func(t testing.TB) string
}

var stores = []store{
	{"memory", func(testing.TB) string { return "memory:" }},
	{"sqlite", func(t testing.TB) string { return "sqlite:" + filepath.Join(t.TempDir(), "store.db") }},
}

// With CONCERT_TEST_PG_CONNINFO_FILE (the conninfo of a test server, as
// tests/pg/start.sh writes it) the store tests also run on PostgreSQL,
// each on a fresh database made and dropped with psql.
func init() {
	file := os.Getenv("CONCERT_TEST_PG_CONNINFO_FILE")
	if file == "" {
		return
	}
	stores = append(stores, store{"postgres", func(t testing.TB) string {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("PostgreSQL conninfo: %v", err)
		}
		conninfo := strings.TrimSpace(strings.SplitN(string(raw), "\n", 2)[0])
		name := fmt.Sprintf("concert_go_%d_%d", os.Getpid(), pgDatabases.Add(1))
		psql := func(sql string) error {
			out, err := exec.Command("psql", conninfo, "-qAtc", sql).CombinedOutput()
			if err != nil {
				return fmt.Errorf("psql %q: %v: %s", sql, err, out)
			}
			return nil
		}
		if err := psql("CREATE DATABASE " + name); err != nil {
			t.Fatal(err)
		}
		// Registered before the test opens the store, so it runs after Close.
		t.Cleanup(func() {
			if err := psql("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
				t.Error(err)
			}
		})
		return conninfo + " dbname=" + name
	}})
}

var pgDatabases atomic.Int64

// forEachStore runs f as a subtest on every store.
func forEachStore(t *testing.T, f func(t *testing.T, uri string)) {
	for _, s := range stores {
		s := s
		t.Run(s.name, func(t *testing.T) { f(t, s.uri(t)) })
	}
}

// fakeClock is a clock tests move by hand; safe for concurrent use.
type fakeClock struct{ ms atomic.Int64 }

func newFakeClock(start time.Time) *fakeClock {
	c := &fakeClock{}
	c.ms.Store(start.UnixMilli())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.UnixMilli(c.ms.Load()).UTC() }
func (c *fakeClock) Advance(d time.Duration) { c.ms.Add(d.Milliseconds()) }

// Ids of the test catalog.
const (
	alice, bob, carol = 1, 2, 3 // carol has no points
	racerBase         = 100     // racers are users 101..164
	racers            = 64
	openConcert       = 1
	pendingConcert    = 2
	closedConcert     = 3
	pastConcert       = 4 // OPEN, but its only schedule has closed
	openSchedule      = 10
	pendingSchedule   = 20
	pastSchedule      = 40
	priceR, priceVIP  = 5000, 12000
	seatsR, seatsVIP  = 50, 10
	openingPoints     = 100000
)

// testCatalog has one OPEN concert with schedule 10 starting a month after
// now (seats 1..50 grade R, 51..60 VIP), a PENDING and a CLOSED concert,
// and an OPEN concert whose only schedule started a day before now.
func testCatalog(now time.Time) Catalog {
	users := []CatalogUser{
		{ID: alice, Name: "alice", Points: openingPoints},
		{ID: bob, Name: "bob", Points: openingPoints},
		{ID: carol, Name: "carol", Points: 0},
	}
	for i := 1; i <= racers; i++ {
		users = append(users, CatalogUser{ID: int64(racerBase + i), Name: "racer", Points: openingPoints})
	}
	seats := []SeatRange{
		{From: 1, To: seatsR, Grade: "R", Price: priceR},
		{From: seatsR + 1, To: seatsR + seatsVIP, Grade: "VIP", Price: priceVIP},
	}
	month := 30 * 24 * time.Hour
	return Catalog{
		Users: users,
		Concerts: []CatalogConcert{
			{ID: openConcert, Title: "Open Air", Status: ConcertOpen, Schedules: []CatalogSchedule{
				{ID: openSchedule, StartsAt: now.Add(month), Seats: seats}}},
			{ID: pendingConcert, Title: "Coming Soon", Status: ConcertPending, Schedules: []CatalogSchedule{
				{ID: pendingSchedule, StartsAt: now.Add(month), Seats: seats}}},
			{ID: closedConcert, Title: "Gone", Status: ConcertClosed},
			{ID: pastConcert, Title: "Yesterday", Status: ConcertOpen, Schedules: []CatalogSchedule{
				{ID: pastSchedule, StartsAt: now.Add(-24 * time.Hour), Seats: seats}}},
		},
	}
}

// openLoaded opens uri and loads testCatalog; the store is closed when the
// test ends.
func openLoaded(t testing.TB, uri string, opts Options) *DB {
	t.Helper()
	db, err := Open(uri, opts)
	if err != nil {
		t.Fatalf("Open(%q): %v", uri, err)
	}
	t.Cleanup(func() { db.Close() })
	now := time.Now()
	if opts.Clock != nil {
		now = opts.Clock()
	}
	if err := db.LoadCatalog(testCatalog(now)); err != nil {
		t.Fatalf("LoadCatalog: %v", err)
	}
	return db
}

// activeToken issues a token for user and fails the test unless it is ACTIVE.
func activeToken(t testing.TB, db *DB, user int64) string {
	t.Helper()
	info, err := db.QueueIssue(user)
	if err != nil {
		t.Fatalf("QueueIssue(%d): %v", user, err)
	}
	if !info.Active() {
		t.Fatalf("QueueIssue(%d): state %v, want ACTIVE", user, info.State)
	}
	return info.Token
}

// must(f()).in(t) is f's value, failing the test if f returned an error.
func must[T any](v T, err error) result[T] { return result[T]{v, err} }

type result[T any] struct {
	v   T
	err error
}

func (r result[T]) in(t testing.TB) T {
	t.Helper()
	if r.err != nil {
		t.Fatalf("unexpected error: %v", r.err)
	}
	return r.v
}
