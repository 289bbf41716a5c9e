package bprsh

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// parseTests are command lines as launchers build them, and every form
// ssh's getopt takes.
var parseTests = []struct {
	name string
	args []string
	want Options
}{
	{"host only", []string{"n0"}, Options{Host: "n0"}},
	{"command words", []string{"n1", "echo", "a b", "-l"}, Options{Host: "n1", Command: []string{"echo", "a b", "-l"}}},
	// clush's ssh_path.
	{"clush", []string{"-oForwardAgent=no", "-oForwardX11=no", "-oConnectTimeout=15", "-oBatchMode=yes", "n0", "hostname"},
		Options{Host: "n0", Command: []string{"hostname"}}},
	// GNU parallel --ssh.
	{"parallel", []string{"-l", "root", "--", "n0", "exec", "hostname"}, Options{User: "root", Host: "n0", Command: []string{"exec", "hostname"}}},
	{"dashdash after host", []string{"n0", "--", "-t", "x"}, Options{Host: "n0", Command: []string{"-t", "x"}}},
	{"dashdash before host stops options", []string{"--", "n0", "-t", "x"}, Options{Host: "n0", Command: []string{"-t", "x"}}},
	// Open MPI's plm_rsh: options after the host, as ssh allows.
	{"options after host", []string{"n0", "-x", "-T", "orted", "-mca", "x"}, Options{Host: "n0", TTY: TTYNo, Command: []string{"orted", "-mca", "x"}}},
	// sftp -S: "-oKey Value" in one word, -s, --, host, subsystem.
	{"sftp", []string{"-oForwardX11 no", "-oPermitLocalCommand no", "-oClearAllForwardings yes", "-oForwardAgent no", "-s", "--", "n0", "sftp"},
		Options{Host: "n0", Subsystem: true, Command: []string{"sftp"}}},
	// scp's default (sftp) mode.
	{"scp", []string{"-x", "-oPermitLocalCommand=no", "-oClearAllForwardings=yes", "-oRemoteCommand=none", "-oRequestTTY=no", "-oForwardAgent=no", "-s", "--", "n1", "sftp"},
		Options{Host: "n1", Subsystem: true, TTY: TTYNo, Command: []string{"sftp"}}},
	{"-o separate", []string{"-o", "User=root", "n0"}, Options{User: "root", Host: "n0"}},
	{"-o spaces", []string{"-o", " User = root ", "n0"}, Options{User: "root", Host: "n0"}},
	{"-o key case", []string{"-o", "requesttty=force", "n0"}, Options{Host: "n0", TTY: TTYForce}},
	{"RemoteCommand", []string{"-oRemoteCommand=uptime", "n0"}, Options{Host: "n0", remoteCommand: "uptime"}},
	{"SessionType none", []string{"-oSessionType=none", "n0"}, Options{Host: "n0", NoCommand: true}},
	{"LogLevel quiet", []string{"-oLogLevel=QUIET", "n0"}, Options{Host: "n0", Quiet: true}},
	{"attached argument", []string{"-lroot", "-p22", "n0"}, Options{User: "root", Host: "n0"}},
	{"grouped flags", []string{"-nqTx", "n0"}, Options{Host: "n0", NullStdin: true, Quiet: true, TTY: TTYNo}},
	{"grouped flags, argument last", []string{"-nl", "root", "n0"}, Options{Host: "n0", NullStdin: true, User: "root"}},
	{"grouped flags, attached argument", []string{"-nlroot", "n0"}, Options{Host: "n0", NullStdin: true, User: "root"}},
	{"-t", []string{"-t", "n0"}, Options{Host: "n0", TTY: TTYYes}},
	{"-tt", []string{"-tt", "n0"}, Options{Host: "n0", TTY: TTYForce}},
	{"-t -t", []string{"-t", "-t", "n0"}, Options{Host: "n0", TTY: TTYForce}},
	{"-T after -t", []string{"-t", "-T", "n0"}, Options{Host: "n0", TTY: TTYNo}},
	{"user@", []string{"root@n2", "true"}, Options{User: "root", Host: "n2", Command: []string{"true"}}},
	{"user with @", []string{"a@b@n2"}, Options{User: "a@b", Host: "n2"}},
	{"uri", []string{"ssh://root@n3:22"}, Options{User: "root", Host: "n3"}},
	{"uri without port", []string{"ssh://n3"}, Options{Host: "n3"}},
	{"bracketed address", []string{"[10.0.0.3]"}, Options{Host: "10.0.0.3"}},
	{"forwards", []string{"-L", "80:x:80", "-R80:y:80", "-D", "1080", "-w", "0:1", "n0"},
		Options{Host: "n0", Forwards: []string{"-L 80:x:80", "-R 80:y:80", "-D 1080", "-w 0:1"}}},
	{"-W", []string{"-W", "h:22", "n0"}, Options{Host: "n0", Stdio: "h:22"}},
	{"-O", []string{"-O", "check", "n0"}, Options{Host: "n0", Control: "check"}},
	{"-Q", []string{"-Q", "cipher", "n0"}, Options{Host: "n0", Query: true}},
	{"-V -G -N", []string{"-V", "-G", "-N", "n0"}, Options{Host: "n0", Version: true, Config: true, NoCommand: true}},
	{"ignored flags", []string{"-1246AaCfgKkMsvXYy", "n0", "sftp"}, Options{Host: "n0", Subsystem: true, Command: []string{"sftp"}}},
	{"ignored arguments", []string{"-B", "eth0", "-b", "1.2.3.4", "-c", "aes", "-E", "log", "-e", "none", "-F", "/dev/null",
		"-I", "lib", "-i", "id", "-J", "jump", "-m", "mac", "-P", "tag", "-S", "none", "n0"}, Options{Host: "n0"}},
	{"argument that looks like an option", []string{"-l", "-x", "n0"}, Options{User: "-x", Host: "n0"}},
	{"dash alone is the host", []string{"-"}, Options{Host: "-"}},
	{"command stops options", []string{"n0", "ls", "-t"}, Options{Host: "n0", Command: []string{"ls", "-t"}}},
}

func TestParse(t *testing.T) {
	for _, tc := range parseTests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.args)
			if err != nil {
				t.Fatalf("Parse(%q) = %v", tc.args, err)
			}
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("Parse(%q) =\n%+v, want\n%+v", tc.args, *got, tc.want)
			}
		})
	}
}

// TestEveryLetter: each of ssh's letters parses, in its own word and
// grouped, with its argument attached and apart.
func TestEveryLetter(t *testing.T) {
	args := map[byte]string{'p': "22", 'o': "BatchMode=yes", 'l': "u"}
	for _, l := range letters {
		val := args[l.c]
		if val == "" {
			val = "v"
		}
		forms := [][]string{{"-" + string(l.c)}}
		if l.arg != "" {
			forms = [][]string{{"-" + string(l.c), val}, {"-" + string(l.c) + val}, {"-n" + string(l.c), val}}
		}
		for _, f := range forms {
			in := append(append([]string{}, f...), "n0", "cmd")
			o, err := Parse(in)
			if err != nil || o.Host != "n0" || !reflect.DeepEqual(o.Command, []string{"cmd"}) {
				t.Errorf("Parse(%q) = %+v, %v; want host n0, command [cmd]", in, o, err)
			}
			// And after the host, as ssh takes them.
			in = append(append([]string{"n0"}, f...), "cmd")
			if o, err = Parse(in); err != nil || o.Host != "n0" || !reflect.DeepEqual(o.Command, []string{"cmd"}) {
				t.Errorf("Parse(%q) = %+v, %v; want host n0, command [cmd]", in, o, err)
			}
		}
	}
	// ssh's getopt string, letter by letter: the table holds every one.
	const getopt = "1246ab:c:e:fgi:kl:m:no:p:qstvxAB:CD:E:F:GI:J:KL:MNO:P:Q:R:S:TVw:W:XYy"
	n := 0
	for i := 0; i < len(getopt); i++ {
		if getopt[i] == ':' {
			continue
		}
		n++
		l := findLetter(getopt[i])
		takes := i+1 < len(getopt) && getopt[i+1] == ':'
		if l == nil || (l.arg != "") != takes {
			t.Errorf("letter %c: table has %+v, want an argument: %v", getopt[i], l, takes)
		}
	}
	if n != len(letters) {
		t.Errorf("table has %d letters, ssh %d", len(letters), n)
	}
}

var badArgs = []struct {
	args []string
	want string
}{
	{nil, "no destination"},
	{[]string{"-n"}, "no destination"},
	{[]string{"-z", "n0"}, "unknown option -- z"},
	{[]string{"-\x01", "n0"}, `unknown option -- \x01`},
	{[]string{"n0", "-h"}, "unknown option -- h"},
	{[]string{"-l"}, "option requires an argument -- l"},
	{[]string{"n0", "-o"}, "option requires an argument -- o"},
	{[]string{"-l", "", "n0"}, "-l: empty user name"},
	{[]string{"-o", "BatchMode", "n0"}, "want KEY=VALUE"},
	{[]string{"-o", "BatchMode=", "n0"}, "no value after BatchMode"},
	{[]string{"-o", "=yes", "n0"}, "want KEY=VALUE"},
	{[]string{"-o", "Bad-Key=1", "n0"}, "bad option name"},
	{[]string{"-o", "RequestTTY=maybe", "n0"}, "want yes, no, force or auto"},
	{[]string{"-o", "SessionType=x", "n0"}, "want none, subsystem or default"},
	{[]string{"-p", "http", "n0"}, "Bad port 'http'"},
	{[]string{"-p", "0", "n0"}, "Bad port '0'"},
	{[]string{"-oPort=70000", "n0"}, "Bad port '70000'"},
	{[]string{"ssh://n0:x"}, "Bad port 'x'"},
	{[]string{"@n0"}, "empty user name"},
	{[]string{"root@"}, "empty host name"},
	{[]string{""}, "empty host name"},
}

func TestParseErrors(t *testing.T) {
	for _, tc := range badArgs {
		_, err := Parse(tc.args)
		var pe *ParseError
		if err == nil || !errors.As(err, &pe) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want a ParseError containing %q", tc.args, err, tc.want)
		}
	}
}

func TestRemoteCommand(t *testing.T) {
	o, err := Parse([]string{"n0", "echo", "a  b", "$HOME"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := o.RemoteCommand(), "echo a  b $HOME"; got != want {
		t.Errorf("RemoteCommand() = %q, want %q (joined with single spaces, as ssh sends it)", got, want)
	}
	o, _ = Parse([]string{"-oRemoteCommand=uptime", "n0", "date"})
	if got := o.RemoteCommand(); got != "date" {
		t.Errorf("RemoteCommand() with words = %q, want the words: date", got)
	}
}
