package concert

/*
#include <stdlib.h>
#include <concert/concert.h>
*/
import "C"

import (
	"fmt"
	"strings"
	"time"
	"unsafe"
)

// Concert is a concert as the catalog lists it.
type Concert struct {
	ID     int64
	Status ConcertStatus
	Title  string
	// MaxPerUser is the seats one buyer may hold plus own of this concert;
	// 0: Options.MaxHoldsPerUser applies instead.
	MaxPerUser int32
}

// Schedule is one performance of a concert.
type Schedule struct {
	ID             int64
	ConcertID      int64
	StartsAt       time.Time
	AvailableSeats int64 // free now: unsold and not under a live hold
}

// Seat is a free seat of a schedule.
type Seat struct {
	Number int64
	Price  int64 // points
	Grade  string
}

func concertFromC(c *C.concert_concert) Concert {
	return Concert{ID: int64(c.id), Status: ConcertStatus(c.status), Title: fixedString(c.title[:]),
		MaxPerUser: int32(c.max_per_user)}
}

// concertsFromC copies a library list into Go memory and frees it.
func concertsFromC(list *C.concert_concert_list) []Concert {
	defer C.concert_concert_list_free(list)
	items := unsafe.Slice(list.items, int(list.count))
	out := make([]Concert, len(items))
	for i := range items {
		out[i] = concertFromC(&items[i])
	}
	return out
}

// Concerts lists the OPEN concerts in id order. token must be ACTIVE.
// Errors: ErrTokenInvalid, ErrTokenNotActive.
//
// Blocks on the store at most Options.BusyTimeout per wait (see "Blocking
// calls" in the package doc); ConcertsContext bounds the whole call.
func (db *DB) Concerts(token string) ([]Concert, error) {
	ctoken, err := cstring("token", token)
	if err != nil {
		return nil, err
	}
	var list *C.concert_concert_list
	err = db.call(func(h *C.concert_db) C.int {
		return C.concert_concert_list_get(&list, h, ctoken)
	})
	if err != nil {
		return nil, err
	}
	return concertsFromC(list), nil
}

// AllConcerts lists every concert whatever its status (administration; no
// token).
//
// Blocks on the store at most Options.BusyTimeout per wait (see "Blocking
// calls" in the package doc); AllConcertsContext bounds the whole call.
func (db *DB) AllConcerts() ([]Concert, error) {
	var list *C.concert_concert_list
	err := db.call(func(h *C.concert_db) C.int {
		return C.concert_admin_concert_list_get(&list, h)
	})
	if err != nil {
		return nil, err
	}
	return concertsFromC(list), nil
}

// Concert returns one OPEN concert. token must be ACTIVE.
// Errors: as Concerts, plus ErrConcertNotFound and ErrConcertNotBookable.
//
// Blocks on the store at most Options.BusyTimeout per wait (see "Blocking
// calls" in the package doc); ConcertContext bounds the whole call.
func (db *DB) Concert(token string, concertID int64) (Concert, error) {
	ctoken, err := cstring("token", token)
	if err != nil {
		return Concert{}, err
	}
	var out C.concert_concert
	err = db.call(func(h *C.concert_db) C.int {
		return C.concert_concert_get(&out, h, ctoken, C.int64_t(concertID))
	})
	if err != nil {
		return Concert{}, err
	}
	return concertFromC(&out), nil
}

// Schedules lists the bookable schedules of an OPEN concert in start-time
// order, each with its count of free seats. token must be ACTIVE.
// Errors: as Concert, plus ErrBookingClosed.
//
// Blocks on the store at most Options.BusyTimeout per wait (see "Blocking
// calls" in the package doc); SchedulesContext bounds the whole call.
func (db *DB) Schedules(token string, concertID int64) ([]Schedule, error) {
	ctoken, err := cstring("token", token)
	if err != nil {
		return nil, err
	}
	var list *C.concert_schedule_list
	err = db.call(func(h *C.concert_db) C.int {
		return C.concert_schedule_list_get(&list, h, ctoken, C.int64_t(concertID))
	})
	if err != nil {
		return nil, err
	}
	defer C.concert_schedule_list_free(list)
	items := unsafe.Slice(list.items, int(list.count))
	out := make([]Schedule, len(items))
	for i, s := range items {
		out[i] = Schedule{
			ID:             int64(s.id),
			ConcertID:      int64(s.concert_id),
			StartsAt:       fromMs(s.starts_at),
			AvailableSeats: int64(s.available_seats),
		}
	}
	return out, nil
}

// Seats lists the free seats of a bookable schedule in seat-number order.
// token must be ACTIVE. Errors: token errors, ErrScheduleNotFound,
// ErrConcertNotBookable, ErrBookingClosed.
//
// Blocks on the store at most Options.BusyTimeout per wait (see "Blocking
// calls" in the package doc); SeatsContext bounds the whole call.
func (db *DB) Seats(token string, scheduleID int64) ([]Seat, error) {
	ctoken, err := cstring("token", token)
	if err != nil {
		return nil, err
	}
	var list *C.concert_seat_list
	err = db.call(func(h *C.concert_db) C.int {
		return C.concert_seats_available(&list, h, ctoken, C.int64_t(scheduleID))
	})
	if err != nil {
		return nil, err
	}
	defer C.concert_seat_list_free(list)
	items := unsafe.Slice(list.items, int(list.count))
	out := make([]Seat, len(items))
	for i := range items {
		out[i] = Seat{
			Number: int64(items[i].number),
			Price:  int64(items[i].price),
			Grade:  fixedString(items[i].grade[:]),
		}
	}
	return out, nil
}

// ListVersion is the version of a free list (SeatsVersion, SchedulesVersion).
// It is comparable: two equal values (==, field by field) mean two equal
// lists, from any process sharing the store; any hold, release, sale or
// hold expiry in scope gives a different one. The fields mean nothing else
// (no ordering); use the whole value, e.g. as an ETag or a map key.
type ListVersion struct {
	Epoch          int64 // the store's identity
	Changes        int64 // holds, releases and sales so far
	ExpiredThrough int64 // the latest hold expiry the list reflects
	Past           int64 // schedules no longer listed (SchedulesVersion)
}

func listVersion(f func(out *C.concert_list_version, h *C.concert_db, token *C.char) C.int,
	db *DB, token string) (ListVersion, error) {
	ctoken, err := cstring("token", token)
	if err != nil {
		return ListVersion{}, err
	}
	var out C.concert_list_version
	err = db.call(func(h *C.concert_db) C.int { return f(&out, h, ctoken) })
	if err != nil {
		return ListVersion{}, err
	}
	return ListVersion{Epoch: int64(out.epoch), Changes: int64(out.changes),
		ExpiredThrough: int64(out.expired_through), Past: int64(out.past)}, nil
}

// SeatsVersion is the version of Seats' list, in a few index reads. Read it
// before the list it labels: a change in between then gives the next caller
// a different version, never a stale list under a current one.
// Errors: those of Seats, checked in the same order.
//
// Blocks on the store at most Options.BusyTimeout per wait (see "Blocking
// calls" in the package doc); SeatsVersionContext bounds the whole call.
func (db *DB) SeatsVersion(token string, scheduleID int64) (ListVersion, error) {
	return listVersion(func(out *C.concert_list_version, h *C.concert_db, t *C.char) C.int {
		return C.concert_seat_list_version_get(out, h, t, C.int64_t(scheduleID))
	}, db, token)
}

// SchedulesVersion is the version of Schedules' list (free counts included),
// as SeatsVersion. Errors: those of Concert (ErrBookingClosed is left to
// Schedules).
//
// Blocks on the store at most Options.BusyTimeout per wait (see "Blocking
// calls" in the package doc); SchedulesVersionContext bounds the whole call.
func (db *DB) SchedulesVersion(token string, concertID int64) (ListVersion, error) {
	return listVersion(func(out *C.concert_list_version, h *C.concert_db, t *C.char) C.int {
		return C.concert_schedule_list_version_get(out, h, t, C.int64_t(concertID))
	}, db, token)
}

// Catalog is what LoadCatalog writes: users with opening balances, and
// concerts with their schedules and seats.
type Catalog struct {
	Users    []CatalogUser
	Concerts []CatalogConcert
}

// CatalogUser is a user and their opening balance in points.
type CatalogUser struct {
	ID     int64
	Name   string
	Points int64
}

// CatalogConcert is a concert and its schedules.
type CatalogConcert struct {
	ID        int64
	Title     string
	Status    ConcertStatus
	Schedules []CatalogSchedule
	// MaxPerUser (0: none, else 1..OrderMax): a buyer's live holds plus
	// paid seats of this concert stay at or below it; it replaces
	// Options.MaxHoldsPerUser for holds on this concert.
	MaxPerUser int32
}

// CatalogSchedule is one performance and its seats.
type CatalogSchedule struct {
	ID       int64
	StartsAt time.Time
	Seats    []SeatRange
}

// SeatRange is seats From..To (inclusive) of one grade and price.
type SeatRange struct {
	From, To int64
	Grade    string
	Price    int64
}

// cArena owns the C memory that mirrors a Catalog for one call: the C
// structs hold pointers, which cgo forbids into Go memory.
type cArena struct{ blocks []unsafe.Pointer }

// array returns n zeroed elements of size bytes, or nil when n is 0.
func (a *cArena) array(n int, size uintptr) (unsafe.Pointer, error) {
	if n == 0 {
		return nil, nil
	}
	p := C.calloc(C.size_t(n), C.size_t(size))
	if p == nil {
		return nil, newError(CodeOutOfMemory, "catalog: out of memory")
	}
	a.blocks = append(a.blocks, p)
	return p, nil
}

// str copies s into C memory; field names it in the error for a NUL byte.
func (a *cArena) str(s string, field func() string) (*C.char, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return nil, newError(CodeInvalidArgument, field()+": contains a NUL byte")
	}
	p := C.CString(s)
	a.blocks = append(a.blocks, unsafe.Pointer(p))
	return p, nil
}

func (a *cArena) free() {
	for _, p := range a.blocks {
		C.free(p)
	}
	a.blocks = nil
}

// LoadCatalog loads users, concerts, schedules and seats, all or nothing;
// the store is unchanged on any error. Errors: ErrInvalidArgument (the
// message names the offending field, e.g.
// "concerts[0].schedules[1].seats[0].to: must be >= from"), ErrConflict (an
// id already in the store).
//
// Blocks on the store at most Options.BusyTimeout per wait (see "Blocking
// calls" in the package doc); LoadCatalogContext bounds the whole call.
func (db *DB) LoadCatalog(cat Catalog) error {
	var arena cArena
	defer arena.free()
	ccat, err := catalogToC(&arena, &cat)
	if err != nil {
		return err
	}
	return db.call(func(h *C.concert_db) C.int {
		return C.concert_catalog_load(h, ccat)
	})
}

func catalogToC(a *cArena, cat *Catalog) (*C.concert_catalog, error) {
	p, err := a.array(1, C.sizeof_concert_catalog)
	if err != nil {
		return nil, err
	}
	ccat := (*C.concert_catalog)(p)
	ccat.version = C.CONCERT_CATALOG_VERSION

	if p, err = a.array(len(cat.Users), C.sizeof_concert_catalog_user); err != nil {
		return nil, err
	}
	ccat.users = (*C.concert_catalog_user)(p)
	ccat.user_count = C.size_t(len(cat.Users))
	users := unsafe.Slice(ccat.users, len(cat.Users))
	for i, u := range cat.Users {
		users[i].id = C.int64_t(u.ID)
		users[i].points = C.int64_t(u.Points)
		if users[i].name, err = a.str(u.Name, func() string { return fmt.Sprintf("users[%d].name", i) }); err != nil {
			return nil, err
		}
	}

	if p, err = a.array(len(cat.Concerts), C.sizeof_concert_catalog_concert); err != nil {
		return nil, err
	}
	ccat.concerts = (*C.concert_catalog_concert)(p)
	ccat.concert_count = C.size_t(len(cat.Concerts))
	concerts := unsafe.Slice(ccat.concerts, len(cat.Concerts))
	for i, c := range cat.Concerts {
		cc := &concerts[i]
		cc.id = C.int64_t(c.ID)
		cc.status = C.int32_t(c.Status)
		cc.max_per_user = C.int32_t(c.MaxPerUser)
		if cc.title, err = a.str(c.Title, func() string { return fmt.Sprintf("concerts[%d].title", i) }); err != nil {
			return nil, err
		}
		if p, err = a.array(len(c.Schedules), C.sizeof_concert_catalog_schedule); err != nil {
			return nil, err
		}
		cc.schedules = (*C.concert_catalog_schedule)(p)
		cc.schedule_count = C.size_t(len(c.Schedules))
		schedules := unsafe.Slice(cc.schedules, len(c.Schedules))
		for j, s := range c.Schedules {
			cs := &schedules[j]
			cs.id = C.int64_t(s.ID)
			cs.starts_at = toMs(s.StartsAt)
			if p, err = a.array(len(s.Seats), C.sizeof_concert_catalog_seat_range); err != nil {
				return nil, err
			}
			cs.seats = (*C.concert_catalog_seat_range)(p)
			cs.seat_range_count = C.size_t(len(s.Seats))
			ranges := unsafe.Slice(cs.seats, len(s.Seats))
			for k, r := range s.Seats {
				ranges[k].from = C.int64_t(r.From)
				ranges[k].to = C.int64_t(r.To)
				ranges[k].price = C.int64_t(r.Price)
				if ranges[k].grade, err = a.str(r.Grade, func() string {
					return fmt.Sprintf("concerts[%d].schedules[%d].seats[%d].grade", i, j, k)
				}); err != nil {
					return nil, err
				}
			}
		}
	}
	return ccat, nil
}
