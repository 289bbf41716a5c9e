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
// whose Command's byte strings are all UTF-8 (nearly all are) goes as it
// is; one that has any other holds all of them in base64, marked "raw" at
// the message's end. This is the one codec of those bytes: each message
// that carries a Command (localapi.Run, ProcStart) calls EncodeBytes on
// its copy before encoding and DecodeBytes after decoding.

// byteStrings are the fields of c that hold bytes: single strings and
// lists of them.
func (c *Command) byteStrings() ([]*string, []*[]string) {
	return []*string{&c.Path, &c.Dir, &c.StdinFile, &c.StdoutFile, &c.StderrFile},
		[]*[]string{&c.Argv, &c.Env}
}

// EncodeBytes puts c as JSON can carry it: unchanged when every byte
// string is UTF-8, else each in base64, and then it says raw. Lists are
// replaced, not written to: they may be the caller's.
func (c *Command) EncodeBytes() (raw bool) {
	strs, lists := c.byteStrings()
	if utf8Strings(strs, lists) {
		return false
	}
	for _, s := range strs {
		*s = base64.StdEncoding.EncodeToString([]byte(*s))
	}
	for _, l := range lists {
		if *l == nil {
			continue
		}
		out := make([]string, len(*l))
		for i, s := range *l {
			out[i] = base64.StdEncoding.EncodeToString([]byte(s))
		}
		*l = out
	}
	return true
}

// DecodeBytes undoes EncodeBytes for a message that said raw; what is
// not base64 is an error naming it.
func (c *Command) DecodeBytes(raw bool) error {
	if !raw {
		return nil
	}
	dec := func(s *string) error {
		v, err := base64.StdEncoding.DecodeString(*s)
		if err != nil {
			return fmt.Errorf("raw string %q: %w", *s, err)
		}
		*s = string(v)
		return nil
	}
	strs, lists := c.byteStrings()
	for _, s := range strs {
		if err := dec(s); err != nil {
			return err
		}
	}
	for _, l := range lists {
		for i := range *l {
			if err := dec(&(*l)[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

func utf8Strings(strs []*string, lists []*[]string) bool {
	for _, s := range strs {
		if !utf8.ValidString(*s) {
			return false
		}
	}
	for _, l := range lists {
		for _, s := range *l {
			if !utf8.ValidString(s) {
				return false
			}
		}
	}
	return true
}
