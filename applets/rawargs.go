package applets

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"unicode/utf8"
)

// kong reads arguments as text and turns every byte that is not UTF-8
// into U+FFFD, so `bpcp caf\xe9 1:` would name another file. shield hands
// kong a stand-in for each such argument (or flag value), which cannot be
// a real argument since it holds a NUL, and restore puts the bytes back
// into the fields kong filled.

// shield returns args with stand-ins, and the bytes behind each.
func shield(args []string) ([]string, map[string]string) {
	var raw map[string]string
	out := args
	for i, a := range args {
		if utf8.ValidString(a) {
			continue
		}
		if raw == nil {
			raw = map[string]string{}
			out = append([]string(nil), args...)
		}
		// A flag stays a flag: --name=VALUE, --NAME, -xVALUE.
		prefix, value := "", a
		switch k := strings.IndexByte(a, '='); {
		case strings.HasPrefix(a, "--") && k > 0 && utf8.ValidString(a[:k+1]):
			prefix, value = a[:k+1], a[k+1:]
		case strings.HasPrefix(a, "--"):
			prefix, value = "--", a[2:]
		case len(a) > 2 && a[0] == '-' && a[1] < utf8.RuneSelf:
			prefix, value = a[:2], a[2:]
		}
		stand := fmt.Sprintf("\x00raw%d\x00", i)
		raw[stand] = value
		out[i] = prefix + stand
	}
	return out, raw
}

// unshield puts the bytes back into a message that quotes an argument.
func unshield(err error, raw map[string]string) error {
	if len(raw) == 0 {
		return err
	}
	return errors.New(unstand(err.Error(), raw))
}

func unstand(s string, raw map[string]string) string {
	for stand, b := range raw {
		s = strings.ReplaceAll(s, stand, b)
	}
	return s
}

// restore replaces the stand-ins in the string fields (and lists of
// strings) of the struct cli points to, and of the structs within it.
func restore(cli any, raw map[string]string) {
	if len(raw) == 0 {
		return
	}
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer:
			if !v.IsNil() {
				walk(v.Elem())
			}
		case reflect.Struct:
			for i := 0; i < v.NumField(); i++ {
				if v.Type().Field(i).IsExported() {
					walk(v.Field(i))
				}
			}
		case reflect.Slice:
			for i := 0; i < v.Len(); i++ {
				walk(v.Index(i))
			}
		case reflect.String:
			// A stand-in may be the end of a passed-through flag.
			if s := v.String(); strings.IndexByte(s, 0) >= 0 && v.CanSet() {
				v.SetString(unstand(s, raw))
			}
		}
	}
	walk(reflect.ValueOf(cli))
}
