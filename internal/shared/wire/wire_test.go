package wire

import (
	"fmt"
	"syscall"
	"testing"
)

func TestExitStatusRoundTrip(t *testing.T) {
	for _, s := range []ExitStatus{
		{Code: 0}, {Code: 1}, {Code: 7}, {Code: 255},
		{Signal: syscall.SIGTERM}, {Signal: syscall.SIGKILL}, {Signal: syscall.SIGSEGV, Core: true}, {Signal: 64},
	} {
		got, err := UnmarshalExitStatus(s.Marshal())
		if err != nil || got != s {
			t.Errorf("UnmarshalExitStatus(Marshal(%v)) = %v, %v; want %v", s, got, err, s)
		}
	}
}

func TestExitStatusShell(t *testing.T) {
	for _, c := range []struct {
		s    ExitStatus
		want int
	}{{ExitStatus{Code: 7}, 7}, {ExitStatus{Signal: syscall.SIGKILL}, 137}, {ExitStatus{Signal: syscall.SIGSEGV, Core: true}, 139}} {
		if got := c.s.Shell(); got != c.want {
			t.Errorf("%v.Shell() = %d, want %d", c.s, got, c.want)
		}
	}
}

func TestExitStatusBadInput(t *testing.T) {
	for _, b := range [][]byte{nil, {0}, {0, 0, 0, 0, 0, 0, 1, 0}, {1, 0, 0, 0, 0, 0, 0, 0}, {3, 0, 0, 0, 0, 0, 0, 1}, {0, 1, 0, 0, 0, 0, 0, 1}} {
		if s, err := UnmarshalExitStatus(b); err == nil {
			t.Errorf("UnmarshalExitStatus(% x) = %v, nil; want an error", b, s)
		}
	}
}

func TestUser(t *testing.T) {
	for _, n := range []int{0, 7, 1023} {
		got, files, err := ParseUser(User(n))
		if err != nil || got != n || files {
			t.Errorf("ParseUser(User(%d)) = %d, %v, %v", n, got, files, err)
		}
		got, files, err = ParseUser(FilesUser(n))
		if err != nil || got != n || !files {
			t.Errorf("ParseUser(FilesUser(%d)) = %d, %v, %v", n, got, files, err)
		}
	}
	for _, u := range []string{"", "node", "node-1", "node01", "root", "node1x", "node99999999999999999999", "node+files", "node1+file", "node1+files+files"} {
		if _, _, err := ParseUser(u); err == nil {
			t.Errorf("ParseUser(%q) = nil error, want one", u)
		}
	}
}

func TestValidate(t *testing.T) {
	good := ProcStart{Command: Command{Path: "/bin/true", Argv: []string{"true"}, Dir: "/"}}
	if err := good.Validate(); err != nil {
		t.Fatalf("Validate(good) = %v", err)
	}
	for name, mod := range map[string]func(*ProcStart){
		"relative path": func(p *ProcStart) { p.Path = "true" },
		"empty argv":    func(p *ProcStart) { p.Argv = nil },
		"relative dir":  func(p *ProcStart) { p.Dir = "tmp" },
		"nul":           func(p *ProcStart) { p.Env = []string{"A=\x00"} },
		"negative pid":  func(p *ProcStart) { p.PID = -3 },
	} {
		p := good
		mod(&p)
		if err := p.Validate(); err == nil {
			t.Errorf("Validate(%s) = nil, want an error", name)
		}
	}
}

func FuzzUnmarshalExitStatus(f *testing.F) {
	f.Add(ExitStatus{Code: 3}.Marshal())
	f.Add(ExitStatus{Signal: 11, Core: true}.Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := UnmarshalExitStatus(b)
		if err != nil {
			return
		}
		again, err := UnmarshalExitStatus(s.Marshal())
		if err != nil || again != s {
			t.Fatalf("round trip of %v = %v, %v", s, again, err)
		}
	})
}

func TestSpeak(t *testing.T) {
	for _, tc := range []struct {
		v, want int
		err     string
	}{
		{0, 1, ""}, {1, 1, ""}, {Protocol, Protocol, ""},
		{Protocol + 1, 0, fmt.Sprintf("protocol version %d is newer than this binary speaks; upgrade the master first (it speaks 1 to %d)", Protocol+1, Protocol)},
	} {
		got, err := Speak(tc.v)
		if got != tc.want || (err == nil) != (tc.err == "") || err != nil && err.Error() != tc.err {
			t.Errorf("Speak(%d) = %d, %v; want %d, %q", tc.v, got, err, tc.want, tc.err)
		}
	}
}
