package localapi

import (
	"strconv"
	"unicode/utf8"

	"github.com/bproc/bproc/internal/shared/wire"
)

// appendRunRequest appends req's JSON as json.Marshal writes it, byte for
// byte, when req is a plain run request: one bpsh or program starting
// processes, with no terminal, no per-rank variables and UTF-8 strings.
// Otherwise it returns false and the caller marshals. encoding/json's
// first use of a type walks it by reflection and builds its encoder,
// about a millisecond of a fresh bpsh's CPU and the page faults of the
// type data it reads; a run is the request every bpsh sends first.
// FuzzRunRequest holds the two equal, and fails when a field is added to
// Request, Run or wire.Command without being added here.
func appendRunRequest(b []byte, req *Request) ([]byte, bool) {
	r := req.Run
	if r == nil || req.Signal != nil || req.Ctl != nil || req.MAC != "" || req.Node != nil || req.VRfork != nil || req.Attach != nil || req.PIDs != nil ||
		r.TTY != nil || r.RankEnv != nil || !utf8Command(&r.Command) {
		return b, false
	}
	c := &r.Command
	b = append(b, `{"op":`...)
	b = appendString(b, req.Op)
	b = append(b, `,"run":{"nodes":`...)
	if r.Nodes == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, n := range r.Nodes {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, int64(n), 10)
		}
		b = append(b, ']')
	}
	b = append(b, `,"path":`...)
	b = appendString(b, c.Path)
	if c.Builtin != "" {
		b = append(b, `,"builtin":`...)
		b = appendString(b, c.Builtin)
	}
	b = append(b, `,"argv":`...)
	b = appendStrings(b, c.Argv)
	b = append(b, `,"env":`...)
	b = appendStrings(b, c.Env)
	b = append(b, `,"dir":`...)
	b = appendString(b, c.Dir)
	if c.NoIO {
		b = append(b, `,"noio":true`...)
	}
	for _, f := range [...]struct{ key, v string }{{`,"stdin_file":`, c.StdinFile}, {`,"stdout_file":`, c.StdoutFile}, {`,"stderr_file":`, c.StderrFile}} {
		if f.v != "" {
			b = append(b, f.key...)
			b = appendString(b, f.v)
		}
	}
	if r.Stub {
		b = append(b, `,"stub":true`...)
	}
	if r.Detach {
		b = append(b, `,"detach":true`...)
	}
	return append(b, "}}"...), true
}

// utf8Command says whether every string of c is UTF-8: then Run's
// MarshalJSON sends them as they are (no raw), and json.Marshal changes no
// byte of them.
func utf8Command(c *wire.Command) bool {
	for _, s := range [...]string{c.Path, c.Builtin, c.Dir, c.StdinFile, c.StdoutFile, c.StderrFile} {
		if !utf8.ValidString(s) {
			return false
		}
	}
	for _, l := range [...][]string{c.Argv, c.Env} {
		for _, s := range l {
			if !utf8.ValidString(s) {
				return false
			}
		}
	}
	return true
}

func appendStrings(b []byte, l []string) []byte {
	if l == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range l {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

// appendString quotes s as encoding/json does (HTML-safe) for a valid
// UTF-8 s: \" \\ \b \f \n \r \t, other control characters and < > & as
// \u00XX, U+2028 and U+2029 as \u2028 and \u2029.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			start = i + size
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
