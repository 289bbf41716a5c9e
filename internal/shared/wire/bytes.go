package wire

import (
	"encoding/base64"
	"fmt"
	"unicode/utf8"
)

// Any byte but NUL may be in a file name, an argument or an environment
// entry, and a file name in Latin-1 is still a file name. JSON strings
// are UTF-8: encoding/json turns every other byte into U+FFFD, so such an
// argument would reach the node changed, and name another file. A message
// whose byte strings are all UTF-8 (nearly all are) goes as it is; one
// that has any other holds all of them in base64, marked "raw".

// ByteStrings are the fields of a message that hold bytes: single strings
// and lists of them.
type ByteStrings struct {
	Strings []*string
	Lists   []*[]string
}

// UTF8 says whether every one of them is UTF-8, as JSON can carry it.
func (b ByteStrings) UTF8() bool {
	for _, s := range b.Strings {
		if !utf8.ValidString(*s) {
			return false
		}
	}
	for _, l := range b.Lists {
		for _, s := range *l {
			if !utf8.ValidString(s) {
				return false
			}
		}
	}
	return true
}

// ToBase64 replaces each by its base64. Lists are replaced, not written
// to: they may be the caller's.
func (b ByteStrings) ToBase64() {
	for _, s := range b.Strings {
		*s = base64.StdEncoding.EncodeToString([]byte(*s))
	}
	for _, l := range b.Lists {
		if *l == nil {
			continue
		}
		out := make([]string, len(*l))
		for i, s := range *l {
			out[i] = base64.StdEncoding.EncodeToString([]byte(s))
		}
		*l = out
	}
}

// FromBase64 undoes ToBase64; what is not base64 is an error naming it.
func (b ByteStrings) FromBase64() error {
	dec := func(s *string) error {
		v, err := base64.StdEncoding.DecodeString(*s)
		if err != nil {
			return fmt.Errorf("raw string %q: %w", *s, err)
		}
		*s = string(v)
		return nil
	}
	for _, s := range b.Strings {
		if err := dec(s); err != nil {
			return err
		}
	}
	for _, l := range b.Lists {
		for i := range *l {
			if err := dec(&(*l)[i]); err != nil {
				return err
			}
		}
	}
	return nil
}
