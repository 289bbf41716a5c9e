package localapi

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
)

// libbproc repeats in C what this package says in Go: the socket, the
// frame bound, BProc's error numbers and texts. These tests read its
// source and hold the two equal.

func libbprocSource(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "libbproc", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// cDefine is the body of #define name in src.
func cDefine(t *testing.T, src, file, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^#define ` + name + `\s+(.*?)\s*(/\*.*)?$`).FindStringSubmatch(src)
	if m == nil {
		t.Fatalf("%s: no #define %s", file, name)
	}
	return m[1]
}

func TestLibbprocSocketAndFrame(t *testing.T) {
	call := libbprocSource(t, "call.c")
	if got, want := cDefine(t, call, "call.c", "DEFAULT_SOCKET"), strconv.Quote(DefaultSocket); got != want {
		t.Errorf("libbproc/call.c: DEFAULT_SOCKET %s, localapi.DefaultSocket %s", got, want)
	}
	h := libbprocSource(t, "call.h")
	m := regexp.MustCompile(`^\((\d+)u << (\d+)\)$`).FindStringSubmatch(cDefine(t, h, "call.h", "BPI_MAXFRAME"))
	if m == nil {
		t.Fatalf("libbproc/call.h: BPI_MAXFRAME is not (Nu << M)")
	}
	n, _ := strconv.Atoi(m[1])
	s, _ := strconv.Atoi(m[2])
	if n<<s != MaxFrame {
		t.Errorf("libbproc/call.h: BPI_MAXFRAME %d, localapi.MaxFrame %d", n<<s, MaxFrame)
	}
}

// beCodes reads bproc.h's BE_* numbers and the texts in their comments.
func beCodes(t *testing.T) (codes map[string]Code, texts map[Code]string) {
	t.Helper()
	h := libbprocSource(t, "bproc.h")
	base, err := strconv.Atoi(cDefine(t, h, "bproc.h", "BE_BASE"))
	if err != nil {
		t.Fatalf("libbproc/bproc.h: BE_BASE: %v", err)
	}
	codes, texts = map[string]Code{}, map[Code]string{}
	re := regexp.MustCompile(`(?m)^#define (BE_\w+) \(BE_BASE \+ (\d+)\)\s*(?:/\* (".*") \*/)?$`)
	for _, m := range re.FindAllStringSubmatch(h, -1) {
		off, _ := strconv.Atoi(m[2])
		code := Code(base + off)
		codes[m[1]] = code
		if m[1] == "BE_END" {
			continue
		}
		text, err := strconv.Unquote(m[3])
		if err != nil {
			t.Fatalf("libbproc/bproc.h: %s: comment %q is not its text", m[1], m[3])
		}
		texts[code] = text
	}
	return codes, texts
}

// bprocErrors are BProc's own errors: those with a number from 300 on, the
// first of each number.
func bprocErrors() map[Code]*Error {
	out := map[Code]*Error{}
	for _, e := range Errors {
		if e.Code >= CodeInvalidNode && out[e.Code] == nil {
			out[e.Code] = e
		}
	}
	return out
}

func TestLibbprocErrorNumbers(t *testing.T) {
	codes, texts := beCodes(t)
	own := bprocErrors()
	if got, want := codes["BE_END"], CodeInvalidProcess+1; got != want {
		t.Errorf("libbproc/bproc.h: BE_END %d, want %d (one past CodeInvalidProcess)", got, want)
	}
	if len(texts) != len(own) {
		t.Errorf("libbproc/bproc.h has %d BE_* numbers, localapi %d", len(texts), len(own))
	}
	for code, e := range own {
		if texts[code] != e.Text {
			t.Errorf("libbproc/bproc.h: %d is %q, localapi %q", code, texts[code], e.Text)
		}
	}
	// bproc_strerror's table.
	src := libbprocSource(t, "errors.c")
	re := regexp.MustCompile(`\[(BE_\w+) - BE_BASE\] = (".*"),`)
	found := 0
	for _, m := range re.FindAllStringSubmatch(src, -1) {
		found++
		text, _ := strconv.Unquote(m[2])
		code, ok := codes[m[1]]
		if !ok || own[code] == nil || own[code].Text != text {
			t.Errorf("libbproc/errors.c: texts[%s] = %q; localapi has %v", m[1], text, own[code])
		}
	}
	if found != len(own) {
		t.Errorf("libbproc/errors.c: %d texts for bproc_strerror, localapi %d", found, len(own))
	}
}

// errnoNames are the system errors localapi.Errors uses, by their C names.
var errnoNames = map[string]Code{
	"EACCES": Code(syscall.EACCES), "EPERM": Code(syscall.EPERM),
	"ENOEXEC": Code(syscall.ENOEXEC), "ENOSYS": Code(syscall.ENOSYS),
	"ESTALE": Code(syscall.ESTALE), "ENOENT": Code(syscall.ENOENT),
}

func TestLibbprocErrorTexts(t *testing.T) {
	codes, _ := beCodes(t)
	src := libbprocSource(t, "errors.c")
	block := regexp.MustCompile(`(?s)\} known\[\] = \{(.*?)\n\};`).FindStringSubmatch(src)
	if block == nil {
		t.Fatal("libbproc/errors.c: no known[] table")
	}
	re := regexp.MustCompile(`\{(".*?"), (\w+)\},`)
	rows := re.FindAllStringSubmatch(block[1], -1)
	if len(rows) != len(Errors) {
		t.Errorf("libbproc/errors.c: known[] has %d texts, localapi.Errors %d", len(rows), len(Errors))
	}
	for i, m := range rows {
		text, _ := strconv.Unquote(m[1])
		code, ok := codes[m[2]]
		if !ok {
			code, ok = errnoNames[m[2]]
		}
		if !ok {
			t.Errorf("libbproc/errors.c: known[%d]: unknown number %s", i, m[2])
			continue
		}
		if i >= len(Errors) {
			t.Errorf("libbproc/errors.c: known[%d] = {%q, %s}: localapi.Errors has no such entry", i, text, m[2])
			continue
		}
		if e := Errors[i]; e.Text != text || e.Code != code {
			t.Errorf("libbproc/errors.c: known[%d] = {%q, %s (%d)}, localapi.Errors[%d] = {%q, %d}", i, text, m[2], code, i, e.Text, e.Code)
		}
	}
}
