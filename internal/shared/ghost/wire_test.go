package ghost

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestToken(t *testing.T) {
	a, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Errorf("NewToken twice = %v, %v, want different", a, b)
	}
	s := a.String()
	if len(s) != 32 || strings.ToLower(s) != s {
		t.Errorf("Token.String() = %q, want 32 lowercase hex digits", s)
	}
	if got, err := ParseToken(s); err != nil || got != a {
		t.Errorf("ParseToken(%q) = %v, %v, want %v", s, got, err, a)
	}

	for _, bad := range []string{
		"",
		"0123456789abcdef0123456789abcde",   // 31
		"0123456789abcdef0123456789abcdef0", // 33
		"0123456789ABCDEF0123456789abcdef",  // upper case
		"0123456789abcdef0123456789abcdeg",
		"0x23456789abcdef0123456789abcdef",
		" 123456789abcdef0123456789abcdef",
	} {
		if got, err := ParseToken(bad); err == nil {
			t.Errorf("ParseToken(%q) = %v, nil, want error", bad, got)
		}
	}
}

func TestParseHello(t *testing.T) {
	tok := Token{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	good := MarshalHello(tok, 5)
	with := func(off int, v uint32) []byte {
		b := good
		binary.LittleEndian.PutUint32(b[off:], v)
		return b[:]
	}
	for _, tc := range []struct {
		name    string
		b       []byte
		nfds    int
		wantErr string // "" for success
	}{
		{"ok", good[:], 2, ""},
		{"no fds", func() []byte { b := MarshalHello(tok, 0); return b[:] }(), 0, ""},
		{"empty", nil, 0, "short read: 0 of 32"},
		{"short", good[:31], 2, "short read: 31 of 32"},
		{"long", append(good[:], 0), 2, "33 bytes"},
		{"magic", append([]byte("BPG2"), good[4:]...), 2, "magic"},
		{"version", with(24, 2), 2, "version 2"},
		{"reserved", with(28, 1), 2, "reserved"},
		{"fdmask beyond 2", with(4, 8|5), 2, "beyond"},
		{"missing fd", good[:], 1, "announces 2 fds, got 1"},
		{"extra fd", good[:], 3, "announces 2 fds, got 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gotTok, mask, err := ParseHello(tc.b, tc.nfds)
			if tc.wantErr == "" {
				if err != nil || gotTok != tok {
					t.Fatalf("ParseHello = %v, %#x, %v, want %v, nil error", gotTok, mask, err, tok)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ErrBadHello) {
				t.Fatalf("ParseHello = %v, want ErrBadHello mentioning %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q is more than one line", err)
			}
		})
	}
}

func FuzzParseHello(f *testing.F) {
	good := MarshalHello(Token{0xde, 0xad}, 7)
	f.Add(good[:], 3)
	f.Add(good[:10], 3)
	f.Add([]byte("BPG1\x00\x00\x00\x00"), 0)
	f.Fuzz(func(t *testing.T, b []byte, nfds int) {
		tok, mask, err := ParseHello(b, nfds)
		if err != nil {
			if !errors.Is(err, ErrBadHello) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("ParseHello error %q: not a one-line ErrBadHello", err)
			}
			return
		}
		// Whatever is accepted must be exactly what a ghost would send.
		if again := MarshalHello(tok, mask); !bytes.Equal(again[:], b) {
			t.Fatalf("ParseHello(%x) = %v, %#x: re-marshals to %x", b, tok, mask, again)
		}
		if mask > 7 {
			t.Fatalf("ParseHello(%x) accepted fdmask %#x", b, mask)
		}
	})
}

// socketPair returns a connected pair: the master's end as a
// *net.UnixConn and the ghost's end as a raw fd.
func socketPair(t *testing.T) (*net.UnixConn, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	unix.CloseOnExec(fds[0])
	unix.CloseOnExec(fds[1])
	f := os.NewFile(uintptr(fds[0]), "master")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); unix.Close(fds[1]) })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c.(*net.UnixConn), fds[1]
}

func TestReadHello(t *testing.T) {
	tok := Token{0xaa, 0xbb}
	good := MarshalHello(tok, 7)
	bad := func(off int, v uint32) []byte {
		b := good
		binary.LittleEndian.PutUint32(b[off:], v)
		return b[:]
	}
	// Each case sends parts, each with nfds fds (write ends of one pipe,
	// so that the reader sees EOF only if ReadHello closed them all).
	type part struct {
		b    []byte
		nfds int
	}
	for _, tc := range []struct {
		name    string
		parts   []part
		wantErr string
	}{
		{"ok", []part{{good[:], 3}}, ""},
		{"split", []part{{good[:5], 0}, {good[5:], 3}}, ""},
		{"split fds", []part{{good[:5], 2}, {good[5:], 1}}, ""},
		{"no fds", []part{{func() []byte { b := MarshalHello(tok, 0); return b[:] }(), 0}}, ""},
		{"short", []part{{good[:20], 3}}, "short read: 20 of 32"},
		{"nothing", nil, "short read: 0 of 32"},
		{"magic", []part{{append([]byte("XPG1"), good[4:]...), 3}}, "magic"},
		{"version", []part{{bad(24, 9), 3}}, "version 9"},
		{"missing fd", []part{{good[:], 2}}, "got 2"},
		{"extra fds", []part{{good[:], 4}}, "got 4"},
		{"too many fds", []part{{good[:], maxFDs + 4}}, "more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, g := socketPair(t)
			var pr, pw *os.File
			var err error
			if pr, pw, err = os.Pipe(); err != nil {
				t.Fatal(err)
			}
			defer pr.Close()
			for _, p := range tc.parts {
				var oob []byte
				if p.nfds > 0 {
					fds := make([]int, p.nfds)
					for i := range fds {
						fds[i] = int(pw.Fd())
					}
					oob = unix.UnixRights(fds...)
				}
				if err := unix.Sendmsg(g, p.b, oob, nil, 0); err != nil {
					t.Fatal(err)
				}
			}
			unix.Shutdown(g, unix.SHUT_WR)

			h, err := ReadHello(c)
			pw.Close()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("ReadHello = %v, want no error", err)
				}
				if h.Token != tok {
					t.Errorf("ReadHello token = %v, want %v", h.Token, tok)
				}
				wantFiles := tc.name != "no fds"
				for i, f := range h.Files {
					if (f != nil) != wantFiles {
						t.Errorf("ReadHello Files[%d] = %v, want a file: %v", i, f, wantFiles)
					}
				}
				h.Close()
			} else if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("ReadHello = %v, want error mentioning %q", err, tc.wantErr)
			}
			// Every write end is closed now (ours, and all received
			// ones: by ReadHello on error, by h.Close otherwise).
			pr.SetReadDeadline(time.Now().Add(5 * time.Second))
			if n, err := pr.Read(make([]byte, 1)); err != io.EOF {
				t.Errorf("pipe read = %d, %v, want EOF: ReadHello left an fd open", n, err)
			}
		})
	}
}

func TestCommands(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteExit(&buf, 7); err != nil {
		t.Fatal(err)
	}
	if err := WriteSignal(&buf, syscall.SIGSEGV); err != nil {
		t.Fatal(err)
	}
	want := []byte{1, 0, 0, 0, 7, 0, 0, 0, 2, 0, 0, 0, 11, 0, 0, 0}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("WriteExit(7), WriteSignal(SIGSEGV) wrote %x, want %x", buf.Bytes(), want)
	}
	for _, code := range []int{-1, 256} {
		if err := WriteExit(io.Discard, code); err == nil {
			t.Errorf("WriteExit(%d) = nil, want error", code)
		}
	}
	for _, sig := range []syscall.Signal{0, 65} {
		if err := WriteSignal(io.Discard, sig); err == nil {
			t.Errorf("WriteSignal(%d) = nil, want error", sig)
		}
	}
}

func TestReadEvent(t *testing.T) {
	for _, tc := range []struct {
		in       []byte
		typ, arg uint32
		err      error
	}{
		{[]byte{1, 0, 0, 0, 10, 0, 0, 0}, EventSignal, 10, nil},
		{[]byte{9, 8, 7, 6, 5, 4, 3, 2}, 0x06070809, 0x02030405, nil},
		{nil, 0, 0, io.EOF},
		{[]byte{1, 0, 0}, 0, 0, io.ErrUnexpectedEOF},
	} {
		typ, arg, err := ReadEvent(bytes.NewReader(tc.in))
		if typ != tc.typ || arg != tc.arg || err != tc.err {
			t.Errorf("ReadEvent(%x) = %d, %d, %v, want %d, %d, %v", tc.in, typ, arg, err, tc.typ, tc.arg, tc.err)
		}
	}
}

// TestStubFresh checks that stub_amd64.bin was rebuilt after stub.c last
// changed (go generate records stub.c's hash beside the binary).
func TestStubFresh(t *testing.T) {
	src, err := os.ReadFile("stub.c")
	if err != nil {
		t.Fatal(err)
	}
	rec, err := os.ReadFile("stub_amd64.bin.sha256")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(src)
	if got, want := strings.Fields(string(rec))[0], hex.EncodeToString(sum[:]); got != want {
		t.Errorf("stub_amd64.bin.sha256 = %s, stub.c hashes to %s: run go generate ./internal/shared/ghost", got, want)
	}
}

func TestResumeHello(t *testing.T) {
	for _, r := range []Resume{
		{Version: 1, FDMask: 5, Node: 3, NodePID: 4711, Out: [2]int64{1 << 40, 7}},
		{Version: 2, FDMask: 5, Node: 3, NodePID: 4711, Out: [2]int64{1 << 40, 7}, HaveIn: true, In: 1 << 35, KeptBase: 1 << 40, KeptLen: KeepMax},
	} {
		b := MarshalResume(r)
		if n := ResumeLen(b); n != len(b) {
			t.Errorf("ResumeLen of version %d: %d, want %d", r.Version, n, len(b))
		}
		got, err := ParseResume(b, 2)
		if err != nil || got != r {
			t.Fatalf("ParseResume(MarshalResume(%+v)) = %+v, %v", r, got, err)
		}
		if _, err := ParseResume(b, 3); err == nil {
			t.Errorf("3 fds for fdmask 5 accepted")
		}
		if _, err := ParseResume(b[:len(b)-1], 2); err == nil {
			t.Errorf("a short resume hello accepted")
		}
	}
	b := MarshalResume(Resume{Version: 3})
	if _, err := ParseResume(b, 0); err == nil || !strings.Contains(err.Error(), "version 3") {
		t.Errorf("a resume hello of version 3: %v, want refused for its version", err)
	}
}

func TestData(t *testing.T) {
	for _, c := range []struct{ stream, n int }{{1, 1}, {2, DataMax}} {
		b, err := MarshalData(c.stream, c.n)
		if err != nil {
			t.Fatal(err)
		}
		if typ, arg := binary.LittleEndian.Uint32(b[0:4]), binary.LittleEndian.Uint32(b[4:8]); typ != CmdData || int(arg>>24) != c.stream || int(arg&(1<<24-1)) != c.n {
			t.Errorf("MarshalData(%d, %d) = %x", c.stream, c.n, b)
		}
		if s, n, ok := ParseWrote(uint32(c.stream<<24 | c.n)); !ok || s != c.stream || n != c.n {
			t.Errorf("ParseWrote of stream %d, %d bytes: %d, %d, %v", c.stream, c.n, s, n, ok)
		}
	}
	for _, c := range []struct{ stream, n int }{{0, 1}, {3, 1}, {1, 0}, {1, DataMax + 1}} {
		if _, err := MarshalData(c.stream, c.n); err == nil {
			t.Errorf("MarshalData(%d, %d) taken", c.stream, c.n)
		}
	}
	for _, arg := range []uint32{0, 1, 3<<24 | 1, 1<<24 | DataMax + 1} {
		if _, _, ok := ParseWrote(arg); ok {
			t.Errorf("ParseWrote(%#x) taken", arg)
		}
	}
}

func FuzzParseResume(f *testing.F) {
	f.Add(MarshalResume(Resume{FDMask: 7, Node: 1, NodePID: 2}), 3)
	f.Add(MarshalResume(Resume{Version: 1, FDMask: 7, Node: 1, NodePID: 2}), 3)
	f.Add([]byte("BPGR"), 0)
	f.Fuzz(func(t *testing.T, b []byte, nfds int) {
		r, err := ParseResume(b, nfds)
		if err != nil {
			return
		}
		again := MarshalResume(r)
		if string(again) != string(b) {
			t.Errorf("%x parsed as %+v, which marshals as %x", b, r, again)
		}
	})
}
