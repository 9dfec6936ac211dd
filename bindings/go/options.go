package concert

/*
#include <stdlib.h>
#include <concert/concert.h>
*/
import "C"

import (
	"runtime"
	"unsafe"
)

// OptionInfo is one entry of the library's table of tunable options
// (concert_options_info): its range and default exactly as Open checks and
// applies them. The binding writes no range or default of its own; read
// them here (a program that takes options from its users can check them
// with CheckOption before calling Open).
type OptionInfo struct {
	Name  string // the C field, e.g. "hold_ttl_ms"; error messages name it
	Field string // the Options field that sets it, e.g. "HoldTTL"
	// Unit is "ms" for a duration (a time.Duration in Options, passed in
	// whole milliseconds) or "count". Default, Min and Max are in it.
	Unit    string
	Default int64 // the value in effect when the Options field is zero
	Min     int64 // the smallest value accepted other than 0
	Max     int64 // the largest value accepted
	// ZeroMeans is what the library's 0 stands for: "default", or a meaning
	// of its own such as "unlimited". In Options a zero field always means
	// Default; QueueRefreshAlways and NoHoldLimit ask for the library's 0
	// where 0 has a meaning of its own.
	ZeroMeans string
	Summary   string // one line for help texts
}

// optionFields names the Options field for each C field of the library's
// table (names only: every number comes from the library).
// TestOptionsTableCovered fails when the library gains an option the
// binding does not map.
var optionFields = map[string]string{
	"max_active":         "MaxActive",
	"active_ttl_ms":      "ActiveTTL",
	"wait_ttl_ms":        "WaitTTL",
	"hold_ttl_ms":        "HoldTTL",
	"booking_cutoff_ms":  "BookingCutoff",
	"pool_size":          "PoolSize",
	"busy_timeout_ms":    "BusyTimeout",
	"connect_timeout_ms": "ConnectTimeout",
	"admit_per_minute":   "AdmitPerMinute",
	"queue_refresh_ms":   "QueueRefresh",
	"max_holds_per_user": "MaxHoldsPerUser",
	"retention_ms":       "Retention",
}

// OptionsInfo returns the library's table of tunable options, in its order.
func OptionsInfo() []OptionInfo {
	var out []OptionInfo
	for i := 0; ; i++ {
		info := C.concert_options_info(C.size_t(i))
		if info == nil {
			return out
		}
		name := C.GoString(info.name)
		out = append(out, OptionInfo{
			Name:      name,
			Field:     optionFields[name],
			Unit:      C.GoString(info.unit),
			Default:   int64(info.default_value),
			Min:       int64(info.min),
			Max:       int64(info.max),
			ZeroMeans: C.GoString(info.zero_means),
			Summary:   C.GoString(info.summary),
		})
	}
}

// CheckOption checks value (in the option's Unit; 0 is accepted) for the C
// field name as Open would: nil, or ErrInvalidArgument with the library's
// message naming the field, the value and the accepted range.
func CheckOption(name string, value int64) error {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if rc := C.concert_options_check(cname, C.int64_t(value)); rc < 0 {
		return lastError(rc)
	}
	return nil
}

// optionValue is what Options asks of one C field: value, unless keep (a
// zero Options field whose C initialiser already holds the default, where
// the library's 0 means something else).
type optionValue struct {
	name  string
	value int64
	keep  bool
}

// cValues translates o into C values, field by field, in the binding's
// units (milliseconds for durations) and sentinels.
func (o Options) cValues() []optionValue {
	return []optionValue{
		{name: "max_active", value: o.MaxActive},
		{name: "active_ttl_ms", value: durationMs(o.ActiveTTL)},
		{name: "wait_ttl_ms", value: durationMs(o.WaitTTL)},
		{name: "hold_ttl_ms", value: durationMs(o.HoldTTL)},
		{name: "booking_cutoff_ms", value: durationMs(o.BookingCutoff)},
		{name: "pool_size", value: int64(o.PoolSize)},
		{name: "busy_timeout_ms", value: durationMs(o.BusyTimeout)},
		{name: "connect_timeout_ms", value: durationMs(o.ConnectTimeout)},
		{name: "admit_per_minute", value: o.AdmitPerMinute},
		sentinelValue("queue_refresh_ms", o.QueueRefresh == 0, o.QueueRefresh == QueueRefreshAlways,
			durationMs(o.QueueRefresh)),
		sentinelValue("max_holds_per_user", o.MaxHoldsPerUser == 0, o.MaxHoldsPerUser == NoHoldLimit,
			o.MaxHoldsPerUser),
		{name: "retention_ms", value: durationMs(o.Retention)},
	}
}

// sentinelValue: a zero field keeps the initialiser's default; the
// sentinel asks for the library's 0 (its own meaning); anything else goes
// as it is, for the library to check.
func sentinelValue(name string, zero, sentinel bool, v int64) optionValue {
	switch {
	case zero:
		return optionValue{name: name, keep: true}
	case sentinel:
		return optionValue{name: name, value: 0}
	}
	return optionValue{name: name, value: v}
}

// fillOptions checks every value with the library (before narrowing the
// 32-bit fields, so an int64 out of their range is refused, not wrapped)
// and writes it into copts.
func fillOptions(copts *C.concert_options, o Options) error {
	for _, v := range o.cValues() {
		if v.keep {
			continue
		}
		if err := CheckOption(v.name, v.value); err != nil {
			return err
		}
		x := C.int64_t(v.value)
		switch v.name {
		case "max_active":
			copts.max_active = x
		case "active_ttl_ms":
			copts.active_ttl_ms = x
		case "wait_ttl_ms":
			copts.wait_ttl_ms = x
		case "hold_ttl_ms":
			copts.hold_ttl_ms = x
		case "booking_cutoff_ms":
			copts.booking_cutoff_ms = x
		case "pool_size":
			copts.pool_size = C.int32_t(x)
		case "busy_timeout_ms":
			copts.busy_timeout_ms = C.int32_t(x)
		case "connect_timeout_ms":
			copts.connect_timeout_ms = C.int32_t(x)
		case "admit_per_minute":
			copts.admit_per_minute = x
		case "queue_refresh_ms":
			copts.queue_refresh_ms = x
		case "max_holds_per_user":
			copts.max_holds_per_user = x
		case "retention_ms":
			copts.retention_ms = x
		default:
			return newError(CodeInternal, "options: the binding cannot set "+v.name)
		}
	}
	return nil
}
