package concert

/*
#include <concert/concert.h>
*/
import "C"

import "time"

// TokenInfo is a queue token and where it stands.
type TokenInfo struct {
	Token  string
	UserID int64
	State  TokenState
	IsNew  bool // QueueIssue created it (false: the user's live token)
	// Position: 1 = next in line; 0 when ACTIVE; PositionPrequeue (-1)
	// while pre-queued (joined a scheduled queue before its opening
	// lottery gave it a place).
	Position int64
	// ExpiresAt: ACTIVE, the end of the token's lifetime; WAITING, when it
	// is dropped unless polled with QueueStatus.
	ExpiresAt time.Time

	eta etaValue // see ETA
}

// ETA is the estimated wait before the token is admitted, and whether there
// is an estimate: false for an ACTIVE token and while the library has none
// (no admission rate yet, a paused or scheduled queue, a pre-queued token).
func (t TokenInfo) ETA() (time.Duration, bool) { return t.eta.get() }

// etaValue is an estimated wait the library may not know (its eta_ms is
// then negative). A Go duration of -1ns for "unknown" read as a real (if
// odd) wait, so callers get the pair ETA() returns instead.
type etaValue struct {
	d     time.Duration
	known bool
}

func etaFromMs(ms C.int64_t) etaValue {
	if ms < 0 {
		return etaValue{}
	}
	return etaValue{d: time.Duration(ms) * time.Millisecond, known: true}
}

func (e etaValue) get() (time.Duration, bool) { return e.d, e.known }

// PositionPrequeue is the Position of a pre-queued token.
const PositionPrequeue = C.CONCERT_POSITION_PREQUEUE

// Active reports whether the token may browse, hold and pay.
func (t TokenInfo) Active() bool { return t.State == TokenActive }

// Prequeued reports whether the token waits for the opening lottery of a
// scheduled queue (it has no position yet).
func (t TokenInfo) Prequeued() bool { return t.Position == PositionPrequeue }

func tokenInfoFromC(c *C.concert_token_info) TokenInfo {
	return TokenInfo{
		Token:     fixedString(c.token[:]),
		UserID:    int64(c.user_id),
		State:     TokenState(c.state),
		IsNew:     c.is_new != 0,
		Position:  int64(c.position),
		ExpiresAt: fromMs(c.expires_at),
		eta:       etaFromMs(c.eta_ms),
	}
}

// QueueIssue joins the queue for userID, or returns the user's live token
// (IsNew false). While the queue is scheduled a new token is pre-queued
// until the opening lottery. Errors: ErrUserNotFound, ErrQueueClosed (the
// queue is closed and the user has no live token), storage errors.
//
// Blocks on the store at most Options.BusyTimeout per wait (see "Blocking
// calls" in the package doc); QueueIssueContext bounds the whole call.
func (db *DB) QueueIssue(userID int64) (TokenInfo, error) {
	var out C.concert_token_info
	err := db.call(func(h *C.concert_db) C.int {
		return C.concert_queue_issue(&out, h, C.int64_t(userID))
	})
	if err != nil {
		return TokenInfo{}, err
	}
	return tokenInfoFromC(&out), nil
}

// QueueStatus reports where token stands; polling keeps a WAITING token in
// line. Errors: ErrTokenInvalid (unknown, expired, dropped or ended).
//
// Blocks on the store at most Options.BusyTimeout per wait (see "Blocking
// calls" in the package doc); QueueStatusContext bounds the whole call.
func (db *DB) QueueStatus(token string) (TokenInfo, error) {
	ctoken, err := cstring("token", token)
	if err != nil {
		return TokenInfo{}, err
	}
	var out C.concert_token_info
	err = db.call(func(h *C.concert_db) C.int {
		return C.concert_queue_status_get(&out, h, ctoken)
	})
	if err != nil {
		return TokenInfo{}, err
	}
	return tokenInfoFromC(&out), nil
}

// QueueLeave ends token (leaving the line, or giving back the active slot).
// Errors: ErrTokenInvalid.
//
// Blocks on the store at most Options.BusyTimeout per wait (see "Blocking
// calls" in the package doc); QueueLeaveContext bounds the whole call.
func (db *DB) QueueLeave(token string) error {
	ctoken, err := cstring("token", token)
	if err != nil {
		return err
	}
	return db.call(func(h *C.concert_db) C.int {
		return C.concert_queue_leave(h, ctoken)
	})
}

// TokenOwner is the user a token was issued to, whatever its state (also
// after it ended): for a server that must check that the caller it
// authenticated owns the token presented. A pure read: it neither polls the
// token nor runs admission. Errors: ErrTokenInvalid (malformed or unknown).
//
// Blocks on the store at most Options.BusyTimeout per wait (see "Blocking
// calls" in the package doc); TokenOwnerContext bounds the whole call.
func (db *DB) TokenOwner(token string) (int64, error) {
	ctoken, err := cstring("token", token)
	if err != nil {
		return 0, err
	}
	var user C.int64_t
	err = db.call(func(h *C.concert_db) C.int {
		return C.concert_queue_token_owner_get(&user, h, ctoken)
	})
	if err != nil {
		return 0, err
	}
	return int64(user), nil
}

// QueueStats are the queue's counts and settings, for administration and
// a public queue page.
type QueueStats struct {
	Active          int64 // ACTIVE tokens now
	Waiting         int64 // tickets not yet admitted (may include dropped ones)
	MaxActive       int64 // the shared limit
	AdmittedThrough int64 // highest ticket admitted or skipped so far
	LastTicket      int64 // highest ticket issued so far
	AdmitPerMinute  int64 // the shared rate limit; 0 = unlimited
	State           QueueState
	OpensAt         time.Time // when a scheduled queue opens; zero otherwise
	Prequeued       int64     // tokens waiting for the opening lottery
	// AdmitRate is the recent admissions per minute; 0 when unknown.
	AdmitRate float64

	eta etaValue // see ETA
}

// ETA is the estimated wait at the back of the line, and whether there is
// an estimate: false while the library has none (no admission rate yet, a
// paused or scheduled queue).
func (s QueueStats) ETA() (time.Duration, bool) { return s.eta.get() }

// QueueStats returns the current counts and settings. It is served from the
// DB's cached view of the queue when that is younger than
// Options.QueueRefresh (a refresh runs admission).
//
// Blocks on the store at most Options.BusyTimeout per wait (see "Blocking
// calls" in the package doc); QueueStatsContext bounds the whole call.
func (db *DB) QueueStats() (QueueStats, error) {
	var out C.concert_queue_stats
	err := db.call(func(h *C.concert_db) C.int {
		return C.concert_queue_stats_get(&out, h)
	})
	if err != nil {
		return QueueStats{}, err
	}
	return QueueStats{
		Active:          int64(out.active),
		Waiting:         int64(out.waiting),
		MaxActive:       int64(out.max_active),
		AdmittedThrough: int64(out.admitted_through),
		LastTicket:      int64(out.last_ticket),
		AdmitPerMinute:  int64(out.admit_per_minute),
		State:           QueueState(out.state),
		OpensAt:         optionalTime(out.opens_at),
		Prequeued:       int64(out.prequeued),
		// admit_rate_mps counts admissions per 1000 s.
		AdmitRate: float64(out.admit_rate_mps) * 60 / 1000,
		eta:       etaFromMs(out.eta_ms),
	}, nil
}

// optionalTime is the zero time.Time for 0 ("none"), else the time.
func optionalTime(ms C.int64_t) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return fromMs(ms)
}
