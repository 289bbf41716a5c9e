package pmi

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// PMI-2 (MPICH's src/pmi/pmi2/simple/simple2pmi.c, hydra's pmip_pmi_v2.c):
// after a PMI-1 "cmd=init pmi_version=2" each command is a 6-byte decimal
// length, space padded, then that many bytes of "cmd=NAME;key=value;...;"
// with a ';' inside a value doubled.

const lenField = 6

// read2 reads one PMI-2 command.
func read2(r *bufio.Reader) (*msg, error) {
	var hdr [lenField]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(hdr[:])))
	if err != nil || n <= 0 || n > maxLine {
		return nil, fmt.Errorf("PMI-2 length field %q: want 1 to %d", hdr[:], maxLine)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, fmt.Errorf("PMI-2 command of %d bytes: %w", n, err)
	}
	return parse2(string(body))
}

// parse2 splits a PMI-2 command's body. MPICH 4.0's client counts its
// length field into the length it sends, so a body may end in bytes after
// the last ';' that belong to nothing: they are ignored, as hydra's strtok
// on ';' ignores them.
func parse2(body string) (*msg, error) {
	var pairs [][2]string
	for rest := body; rest != ""; {
		eq := strings.IndexByte(rest, '=')
		if eq < 0 {
			break // the trailing bytes
		}
		key := rest[:eq]
		if !isName(key) {
			break // the trailing bytes
		}
		val, after, ok := unescape2(rest[eq+1:])
		if !ok {
			break // no ';' closes it: the trailing bytes
		}
		pairs = append(pairs, [2]string{key, val})
		rest = after
	}
	if len(pairs) == 0 || pairs[0][0] != "cmd" || !isName(pairs[0][1]) {
		return nil, fmt.Errorf("PMI-2 command %q: does not start with cmd=NAME;", clip(body))
	}
	return &msg{cmd: pairs[0][1], pairs: pairs[1:]}, nil
}

// isName says whether s can be a key or a command's name: printable
// ASCII, no space, no '=' or ';' (MPICH's keys are like "-bcast-1-0",
// "PMI_process_mapping", "P3-businesscard").
func isName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' || c == '=' || c == ';' {
			return false
		}
	}
	return true
}

// unescape2 takes a value up to its closing ';' (";;" is a ';' of the
// value) and returns it and what follows; ok is false when nothing closes it.
func unescape2(s string) (val, rest string, ok bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != ';' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == ';' {
			b.WriteByte(';')
			i++
			continue
		}
		return b.String(), s[i+1:], true
	}
	return "", "", false
}

// format2 is an answer: the length field, then "cmd=NAME;k=v;...;".
func format2(cmd string, pairs ...string) string {
	var b strings.Builder
	b.WriteString("cmd=")
	b.WriteString(cmd)
	b.WriteByte(';')
	for i := 0; i+1 < len(pairs); i += 2 {
		b.WriteString(pairs[i])
		b.WriteByte('=')
		b.WriteString(strings.ReplaceAll(pairs[i+1], ";", ";;"))
		b.WriteByte(';')
	}
	return fmt.Sprintf("%*d", lenField, b.Len()) + b.String()
}
