package concert

/*
#include <concert/concert.h>
*/
import "C"

import "time"

// TokenInfo is a queue token and where it stands.
type TokenInfo struct {
	Token    string
	UserID   int64
	State    TokenState
	IsNew    bool  // QueueIssue created it (false: the user's live token)
	Position int64 // 1 = next in line; 0 when ACTIVE
	// ETA is the estimated wait; negative when unknown or ACTIVE.
	ETA time.Duration
	// ExpiresAt: ACTIVE, the end of the token's lifetime; WAITING, when it
	// is dropped unless polled with QueueStatus.
	ExpiresAt time.Time
}

// Active reports whether the token may browse, hold and pay.
func (t TokenInfo) Active() bool { return t.State == TokenActive }

func tokenInfoFromC(c *C.concert_token_info) TokenInfo {
	eta := time.Duration(-1)
	if c.eta_ms >= 0 {
		eta = time.Duration(c.eta_ms) * time.Millisecond
	}
	return TokenInfo{
		Token:     fixedString(c.token[:]),
		UserID:    int64(c.user_id),
		State:     TokenState(c.state),
		IsNew:     c.is_new != 0,
		Position:  int64(c.position),
		ETA:       eta,
		ExpiresAt: fromMs(c.expires_at),
	}
}

// QueueIssue joins the queue for userID, or returns the user's live token
// (IsNew false). Errors: ErrUserNotFound, storage errors.
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
func (db *DB) QueueStatus(token string) (TokenInfo, error) {
	ctoken, err := cstring("token", token)
	if err != nil {
		return TokenInfo{}, err
	}
	var out C.concert_token_info
	err = db.call(func(h *C.concert_db) C.int {
		return C.concert_queue_status(&out, h, ctoken)
	})
	if err != nil {
		return TokenInfo{}, err
	}
	return tokenInfoFromC(&out), nil
}

// QueueLeave ends token (leaving the line, or giving back the active slot).
// Errors: ErrTokenInvalid.
func (db *DB) QueueLeave(token string) error {
	ctoken, err := cstring("token", token)
	if err != nil {
		return err
	}
	return db.call(func(h *C.concert_db) C.int {
		return C.concert_queue_leave(h, ctoken)
	})
}

// QueueStats are the queue's counts, for administration.
type QueueStats struct {
	Active          int64 // ACTIVE tokens now
	Waiting         int64 // tickets not yet admitted (may include dropped ones)
	MaxActive       int64 // the configured limit
	AdmittedThrough int64 // highest ticket admitted or skipped so far
	LastTicket      int64 // highest ticket issued so far
}

// QueueStats returns the current counts (admitting waiting tokens first).
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
	}, nil
}
