package elfclosure

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// printArgvEnv makes the test binary print its argv as JSON and exit:
// as a #! interpreter it shows what the kernel made of the line.
const printArgvEnv = "ELFCLOSURE_PRINT_ARGV"

func TestMain(m *testing.M) {
	if os.Getenv(printArgvEnv) == "1" {
		json.NewEncoder(os.Stdout).Encode(os.Args)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

var shebangTests = []struct {
	line        string
	interp, arg string
	noexec      bool
}{
	{line: "#!/bin/sh\n", interp: "/bin/sh"},
	{line: "#!/bin/sh", interp: "/bin/sh"},
	{line: "#! /bin/sh -e\n", interp: "/bin/sh", arg: "-e"},
	{line: "#!\t/usr/bin/env   python3 -u  \t\nprint()\n", interp: "/usr/bin/env", arg: "python3 -u"},
	{line: "#!/bin/sh\r\n", interp: "/bin/sh\r"},
	{line: "#!/bin/sh -x\r\n", interp: "/bin/sh", arg: "-x\r"},
	{line: "#!/bin/sh\x00-x\n", interp: "/bin/sh"},
	{line: "#!/bin/sh -\x00x\n", interp: "/bin/sh", arg: "-"},
	{line: "#!/bin/sh \x00\n", interp: "/bin/sh"},
	{line: "#!\n", noexec: true},
	{line: "#!   \t \n", noexec: true},
	// The kernel's name is then "", which opens the working directory:
	// execve fails with EACCES, not ENOEXEC.
	{line: "#!", interp: ""},
	{line: "#!\x00/bin/sh\n", interp: ""},
	{line: "#\n", noexec: true},
	{line: "", noexec: true},
	{line: "\x7fELF", noexec: true},
	// A line longer than the buffer: the argument may be cut, the
	// interpreter not.
	{line: "#!/bin/sh " + strings.Repeat("x", 300) + "\n", interp: "/bin/sh", arg: strings.Repeat("x", 255-10)},
	{line: "#!/" + strings.Repeat("x", 300) + "\n", noexec: true},
	{line: "#!" + strings.Repeat(" ", 300) + "\n", noexec: true},
}

func TestParseShebang(t *testing.T) {
	for _, tc := range shebangTests {
		interp, arg, err := parseShebang([]byte(tc.line))
		if tc.noexec {
			if !errors.Is(err, syscall.ENOEXEC) {
				t.Errorf("parseShebang(%q) = %q, %q, %v; want ENOEXEC", tc.line, interp, arg, err)
			}
			continue
		}
		if err != nil || interp != tc.interp || arg != tc.arg {
			t.Errorf("parseShebang(%q) = %q, %q, %v; want %q, %q", tc.line, interp, arg, err, tc.interp, tc.arg)
		}
	}
}

// TestShebangMatchesKernel runs scripts whose interpreter is this test
// binary, which prints the argv the kernel built: the kernel is the
// oracle. Lines of random spaces, tabs, NULs, CRs and newlines around
// the interpreter and its argument, some longer than the kernel reads.
func TestShebangMatchesKernel(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	if len(self) > 150 {
		t.Skipf("test binary path %d bytes: too long to leave room on a #! line", len(self))
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "s")
	rnd := rand.New(rand.NewPCG(1, 2))
	pieces := []string{" ", "\t", "\x00", "\r", "\n", "-x", "a b", "=", "#!", strings.Repeat("y", 60)}
	n := 300
	if testing.Short() {
		n = 50
	}
	for i := 0; i < n; i++ {
		var b strings.Builder
		b.WriteString("#!")
		for j := rnd.IntN(3); j > 0; j-- {
			b.WriteString(pieces[rnd.IntN(2)]) // spaces and tabs before the interpreter
		}
		b.WriteString(self)
		for j := rnd.IntN(8); j > 0; j-- {
			b.WriteString(pieces[rnd.IntN(len(pieces))])
		}
		line := b.String()
		os.WriteFile(script, []byte(line), 0o755)
		cmd := exec.Command(script)
		cmd.Env = []string{printArgvEnv + "=1"}
		out, runErr := cmd.Output()
		interp, arg, err := parseShebang([]byte(line))

		if runErr != nil {
			// The kernel refused: so must we, or name another file.
			if err == nil && interp == self {
				t.Errorf("%q: kernel: %v; parseShebang = %q, %q", line, runErr, interp, arg)
			}
			continue
		}
		var argv []string
		if err := json.Unmarshal(out, &argv); err != nil {
			t.Fatalf("%q: interpreter printed %q: %v", line, out, err)
		}
		want := []string{argv[0], ""}
		if len(argv) == 3 {
			want[1] = argv[1]
		}
		if err != nil || interp != want[0] || arg != want[1] {
			t.Errorf("%q: parseShebang = %q, %q, %v; kernel gave argv %q", line, interp, arg, err, argv)
		}
	}
}

// FuzzParseShebang: any input is a script with an interpreter or is
// refused as ENOEXEC; an interpreter has no space, tab or NUL, neither
// has the argument a NUL or a leading space, and nothing comes from past
// the kernel's 256 bytes.
func FuzzParseShebang(f *testing.F) {
	for _, tc := range shebangTests {
		f.Add([]byte(tc.line))
	}
	f.Fuzz(func(t *testing.T, head []byte) {
		interp, arg, err := parseShebang(head)
		if err != nil {
			if !errors.Is(err, syscall.ENOEXEC) {
				t.Fatalf("parseShebang(%q) error %v is not ENOEXEC", head, err)
			}
			return
		}
		if strings.ContainsAny(interp, " \t\x00") {
			t.Fatalf("parseShebang(%q) interpreter %q", head, interp)
		}
		if strings.ContainsRune(arg, 0) || strings.HasPrefix(arg, " ") || strings.HasPrefix(arg, "\t") {
			t.Fatalf("parseShebang(%q) argument %q", head, arg)
		}
		if len(interp)+len(arg) > binprmBufSize-2 {
			t.Fatalf("parseShebang(%q) = %q, %q: more than the kernel reads", head, interp, arg)
		}
		if len(head) > binprmBufSize {
			i2, a2, err2 := parseShebang(head[:binprmBufSize])
			if i2 != interp || a2 != arg || err2 != nil {
				t.Fatalf("parseShebang(%q) depends on bytes past %d", head, binprmBufSize)
			}
		}
	})
}

func TestEnvCommand(t *testing.T) {
	tests := []struct {
		arg       string
		cmd, path string
		ok        bool
	}{
		{"python3", "python3", "/p", true},
		{"python3 -u", "python3 -u", "/p", true}, // one word without -S
		{"-S python3 -u", "python3", "/p", true},
		{"-Spython3", "python3", "/p", true},
		{"--split-string=perl -w", "perl", "/p", true},
		{"-S -i PATH=/opt/bin FOO=1 tool", "tool", "/opt/bin", true},
		{"-S -u HOME -C /tmp tool", "tool", "/p", true},
		{"-S -i tool", "tool", defaultPath, true},
		{"-S PATH=$HOME/bin tool", "tool", "/p", true},
		{"-S -- -weird", "-weird", "/p", true},
		{"", "", "", false},
		{"-i", "", "", false},
		{"-S", "", "", false},
		{"A=1", "", "", false},
	}
	for _, tc := range tests {
		cmd, path, ok := envCommand(tc.arg, "/p")
		if cmd != tc.cmd || path != tc.path || ok != tc.ok {
			t.Errorf("envCommand(%q) = %q, %q, %v; want %q, %q, %v", tc.arg, cmd, path, ok, tc.cmd, tc.path, tc.ok)
		}
	}
}
