package concert

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestOptionsTableCovered: every option of the library's table is set by
// an Options field, and every numeric Options field sets one of them, so a
// new library option cannot go unnoticed by the binding.
func TestOptionsTableCovered(t *testing.T) {
	infos := OptionsInfo()
	if len(infos) == 0 {
		t.Fatal("OptionsInfo() is empty")
	}
	seen := map[string]bool{}
	for _, info := range infos {
		if info.Field == "" {
			t.Errorf("library option %q has no Options field", info.Name)
			continue
		}
		if _, ok := reflect.TypeOf(Options{}).FieldByName(info.Field); !ok {
			t.Errorf("option %q maps to Options.%s, which does not exist", info.Name, info.Field)
		}
		if info.Min > info.Max || info.Default < 0 || info.Summary == "" || info.ZeroMeans == "" ||
			(info.Unit != "ms" && info.Unit != "count") {
			t.Errorf("odd table entry: %+v", info)
		}
		seen[info.Field] = true
	}
	typ := reflect.TypeOf(Options{})
	for i := 0; i < typ.NumField(); i++ {
		if f := typ.Field(i); f.Name != "Clock" && !seen[f.Name] {
			t.Errorf("Options.%s sets no option of the library's table", f.Name)
		}
	}
}

// withOption returns Options with only the field of info set to v, in the
// entry's unit (milliseconds for a duration).
func withOption(t *testing.T, info OptionInfo, v int64) Options {
	var o Options
	f := reflect.ValueOf(&o).Elem().FieldByName(info.Field)
	switch {
	case info.Unit == "ms":
		f.Set(reflect.ValueOf(time.Duration(v) * time.Millisecond))
	case f.Kind() == reflect.Int:
		f.SetInt(v)
	case f.Kind() == reflect.Int64:
		f.SetInt(v)
	default:
		t.Fatalf("Options.%s: unexpected kind %v", info.Field, f.Kind())
	}
	return o
}

// TestOptionsRanges: for every entry of the library's table, Open refuses
// min-1 (or -1 when min-1 is 0, the default; -2 where the binding reads -1
// as a sentinel) and max+1 with ErrInvalidArgument and the library's own
// message (the one CheckOption gives), naming the C field; min and max open
// a store.
func TestOptionsRanges(t *testing.T) {
	for _, info := range OptionsInfo() {
		info := info
		t.Run(info.Name, func(t *testing.T) {
			below := info.Min - 1
			if below == 0 {
				below = -1
				if info.Field == "MaxHoldsPerUser" {
					below = -2 // -1 is NoHoldLimit
				}
			}
			for _, bad := range []int64{below, info.Max + 1} {
				db, err := Open("memory:", withOption(t, info, bad))
				if err == nil {
					db.Close()
					t.Errorf("Open(%s = %d) succeeded, want ErrInvalidArgument", info.Field, bad)
					continue
				}
				var e *Error
				if !errors.As(err, &e) || !errors.Is(err, ErrInvalidArgument) {
					t.Errorf("Open(%s = %d): %v, want ErrInvalidArgument", info.Field, bad, err)
					continue
				}
				want := CheckOption(info.Name, bad)
				var we *Error
				if !errors.As(want, &we) || we.Message != e.Message {
					t.Errorf("Open(%s = %d) says %q; the library's check says %v",
						info.Field, bad, e.Message, want)
				}
				if !strings.Contains(e.Message, "options."+info.Name+":") {
					t.Errorf("Open(%s = %d): message %q does not name options.%s",
						info.Field, bad, e.Message, info.Name)
				}
			}
			for _, good := range []int64{info.Min, info.Max} {
				db, err := Open("memory:", withOption(t, info, good))
				if err != nil {
					t.Errorf("Open(%s = %d): %v", info.Field, good, err)
					continue
				}
				db.Close()
				if err := CheckOption(info.Name, good); err != nil {
					t.Errorf("CheckOption(%s, %d): %v", info.Name, good, err)
				}
			}
		})
	}
}

// TestCheckOptionUnknown: a name the library does not know is refused.
func TestCheckOptionUnknown(t *testing.T) {
	err := CheckOption("no_such_option", 1)
	expectCode(t, "CheckOption(no_such_option)", err, ErrInvalidArgument)
	if err != nil && !strings.Contains(err.Error(), "no_such_option") {
		t.Errorf("message does not name the option: %v", err)
	}
}
