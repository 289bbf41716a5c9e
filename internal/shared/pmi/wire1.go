package pmi

import (
	"errors"
	"fmt"
	"strings"
)

// PMI-1 ("simple" PMI, MPICH's src/pmi/simple/simple_pmi.c): one command a
// line, "cmd=NAME key=value key=value\n", words split on spaces, each word
// split on its first '='. Values hold no spaces (the client never sends
// one, and the answer could not carry it).

// maxLine bounds one PMI-1 line and one PMI-2 command: the client's own
// buffers are 1 kB (PMIU_MAXLINE) and 64 kB (PMII_MAX_COMMAND_LEN).
const maxLine = 64 << 10

// msg is one parsed command or answer of either version: its name and its
// pairs in order (PMI-2 repeats no key, PMI-1 neither).
type msg struct {
	cmd   string
	pairs [][2]string
}

// get is the value of key, and whether it was there.
func (m *msg) get(key string) (string, bool) {
	for _, p := range m.pairs {
		if p[0] == key {
			return p[1], true
		}
	}
	return "", false
}

// parse1 reads one PMI-1 line, without its newline.
func parse1(line string) (*msg, error) {
	if len(line) > maxLine {
		return nil, fmt.Errorf("PMI-1 line of %d bytes: longer than %d", len(line), maxLine)
	}
	words := strings.Fields(line)
	if len(words) == 0 {
		return nil, errors.New("empty PMI-1 line")
	}
	name, ok := strings.CutPrefix(words[0], "cmd=")
	if !ok || name == "" {
		return nil, fmt.Errorf("PMI-1 line %q: does not start with cmd=NAME", clip(line))
	}
	m := &msg{cmd: name}
	for _, w := range words[1:] {
		k, v, ok := strings.Cut(w, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("PMI-1 line %q: word %q is not key=value", clip(line), clip(w))
		}
		m.pairs = append(m.pairs, [2]string{k, v})
	}
	return m, nil
}

// format1 is an answer line: "cmd=NAME k=v ...\n".
func format1(cmd string, pairs ...string) string {
	var b strings.Builder
	b.WriteString("cmd=")
	b.WriteString(cmd)
	for i := 0; i+1 < len(pairs); i += 2 {
		b.WriteByte(' ')
		b.WriteString(pairs[i])
		b.WriteByte('=')
		b.WriteString(pairs[i+1])
	}
	b.WriteByte('\n')
	return b.String()
}

// clip shortens what a peer sent for an error message.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
