package pmi

import (
	"bufio"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
)

func TestParse1(t *testing.T) {
	m, err := parse1("cmd=put kvsname=kvs_1 key=-bcast-1-0 value=2F64=")
	if err != nil {
		t.Fatal(err)
	}
	want := &msg{cmd: "put", pairs: [][2]string{{"kvsname", "kvs_1"}, {"key", "-bcast-1-0"}, {"value", "2F64="}}}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("got %+v, want %+v", m, want)
	}
	for line, wantErr := range map[string]string{
		"":                                      "empty PMI-1 line",
		"get_maxes":                             `PMI-1 line "get_maxes": does not start with cmd=NAME`,
		"cmd=":                                  `PMI-1 line "cmd=": does not start with cmd=NAME`,
		"cmd=get key":                           `PMI-1 line "cmd=get key": word "key" is not key=value`,
		"cmd=get =x":                            `PMI-1 line "cmd=get =x": word "=x" is not key=value`,
		"cmd=x " + strings.Repeat("a", maxLine): "PMI-1 line of 65542 bytes: longer than 65536",
	} {
		if _, err := parse1(line); err == nil || err.Error() != wantErr {
			t.Errorf("parse1(%q): got %v, want %q", clip(line), err, wantErr)
		}
	}
}

// mpich2 is a PMI-2 command as MPICH 4.0.2's PMIi_WriteSimpleCommand
// writes it: the length field left-aligned and six too large, and six
// bytes of whatever its stack held after the command.
func mpich2(body, junk string) string {
	return fmt.Sprintf("%-6d", len(body)+6) + body + (junk + "??????")[:6]
}

func TestRead2(t *testing.T) {
	for _, c := range []struct {
		in, cmd string
		pairs   [][2]string
	}{
		{mpich2("cmd=kvs-put;key=a;value=x;;y;", "\x00\x01=;;;"), "kvs-put", [][2]string{{"key", "a"}, {"value", "x;y"}}},
		{mpich2("cmd=kvs-fence;", "key=z;"), "kvs-fence", [][2]string{{"key", "z"}}},
		{"    14cmd=job-getid;", "job-getid", nil},
		{format2("info-getjobattr-response", "found", "TRUE", "value", "(a;b)"), "info-getjobattr-response", [][2]string{{"found", "TRUE"}, {"value", "(a;b)"}}},
	} {
		m, err := read2(bufio.NewReader(strings.NewReader(c.in)))
		if err != nil {
			t.Errorf("read2(%q): %v", c.in, err)
			continue
		}
		if m.cmd != c.cmd || fmt.Sprintf("%q", m.pairs) != fmt.Sprintf("%q", c.pairs) {
			t.Errorf("read2(%q): got %q %q, want %q %q", c.in, m.cmd, m.pairs, c.cmd, c.pairs)
		}
	}
	for in, wantErr := range map[string]string{
		"abcdefcmd=x;": `PMI-2 length field "abcdef": want 1 to 65536`,
		"     0":       `PMI-2 length field "     0": want 1 to 65536`,
		"999999cmd=x;": `PMI-2 length field "999999": want 1 to 65536`,
		"    20cmd=x;": "PMI-2 command of 20 bytes: unexpected EOF",
		"     6key=x;": `PMI-2 command "key=x;": does not start with cmd=NAME;`,
		"     4cmd=":   `PMI-2 command "cmd=": does not start with cmd=NAME;`,
	} {
		if _, err := read2(bufio.NewReader(strings.NewReader(in))); err == nil || err.Error() != wantErr {
			t.Errorf("read2(%q): got %v, want %q", in, err, wantErr)
		}
	}
}

// TestPMI2Exchange: three ranks speak PMI-2 as MPICH's simple2pmi.c does
// (a PMI-1 init first, then its framing) and get hydra's answers; the
// third shows its PMI_ID as Slurm's libpmi2 does (srcid, not pmirank).
func TestPMI2Exchange(t *testing.T) {
	s, err := New([]int{5, 5, 6})
	if err != nil {
		t.Fatal(err)
	}
	addr := start(t, s)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := dial(t, addr)
			c.send("cmd=init pmi_version=2 pmi_subversion=0\n")
			if got := c.line(); got != "cmd=response_to_init pmi_version=2 pmi_subversion=0 rc=0" {
				t.Errorf("rank %d init: got %q", i, got)
				return
			}
			ask := func(body, want string) {
				c.send(mpich2(body, "junk;="))
				m, err := read2(c.r)
				if err != nil {
					t.Errorf("rank %d, after %q: %v", i, body, err)
					return
				}
				got := format2(m.cmd, flat(m.pairs)...)[lenField:]
				if got != want {
					t.Errorf("rank %d, %q: got %q, want %q", i, body, got, want)
				}
			}
			// MPICH sends the PMI_ID as pmirank, Slurm's libpmi2 as srcid.
			idKey := map[bool]string{false: "pmirank", true: "srcid"}[i == 2]
			ask("cmd=fullinit;"+idKey+"="+env(s, i, "PMI_ID")+";threaded=FALSE;",
				fmt.Sprintf("cmd=fullinit-response;pmi-version=2;pmi-subversion=0;rank=%d;size=3;appnum=0;debugged=FALSE;pmiverbose=FALSE;rc=0;", i))
			ask("cmd=job-getid;thrid=0x55;", "cmd=job-getid-response;thrid=0x55;jobid="+s.kvsName+";rc=0;")
			ask("cmd=info-getjobattr;key=PMI_process_mapping;", "cmd=info-getjobattr-response;found=TRUE;value=(vector,(0,1,2),(1,1,1));rc=0;")
			switch i {
			case 0:
				ask("cmd=info-putnodeattr;key=shm;value=/dev/shm/x;;y;", "cmd=info-putnodeattr-response;rc=0;")
			case 1: // waits for rank 0, on the same node
				ask("cmd=info-getnodeattr;key=shm;wait=TRUE;", "cmd=info-getnodeattr-response;found=TRUE;value=/dev/shm/x;;y;rc=0;")
			case 2: // another node
				ask("cmd=info-getnodeattr;key=shm;wait=FALSE;", "cmd=info-getnodeattr-response;found=FALSE;rc=0;")
			}
			ask(fmt.Sprintf("cmd=kvs-put;key=bc-%d;value=v%d;", i, i), "cmd=kvs-put-response;rc=0;")
			ask("cmd=kvs-fence;", "cmd=kvs-fence-response;rc=0;")
			next := (i + 1) % 3
			ask(fmt.Sprintf("cmd=kvs-get;jobid=%s;srcid=-1;key=bc-%d;", s.kvsName, next),
				fmt.Sprintf("cmd=kvs-get-response;found=TRUE;value=v%d;rc=0;", next))
			ask("cmd=kvs-get;key=none;", "cmd=kvs-get-response;found=FALSE;rc=0;")
			ask("cmd=name-publish;name=a;port=b;", "cmd=name-publish-response;rc=1;errmsg=unknown or unsupported command;")
			ask("cmd=finalize;", "cmd=finalize-response;rc=0;")
		}()
	}
	wg.Wait()
}

func flat(pairs [][2]string) []string {
	var out []string
	for _, p := range pairs {
		out = append(out, p[0], p[1])
	}
	return out
}

func TestProcessMapping(t *testing.T) {
	for _, c := range []struct {
		nodes []int
		want  string
	}{
		{[]int{0, 0, 1, 1}, "(vector,(0,2,2))"},
		{[]int{7}, "(vector,(0,1,1))"},
		{[]int{3, 3, 3, 1, 1, 1, 2}, "(vector,(0,2,3),(2,1,1))"},
		{[]int{0, 1, 0, 1}, "(vector,(0,2,1),(0,2,1))"},
	} {
		if got := processMapping(c.nodes); got != c.want {
			t.Errorf("processMapping(%v) = %q, want %q", c.nodes, got, c.want)
		}
	}
}

func FuzzParse1(f *testing.F) {
	for _, s := range []string{"cmd=put kvsname=k key=a value=b", "cmd=init pmi_version=1 pmi_subversion=1", "cmd= x", "mcmd=spawn", "cmd=get  key==="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		m, err := parse1(line)
		if err != nil {
			return
		}
		// What parses comes out again as it went in, but for spaces.
		again, err := parse1(strings.TrimSuffix(format1(m.cmd, flat(m.pairs)...), "\n"))
		if err != nil || !reflect.DeepEqual(again, m) {
			t.Errorf("%q: parsed %+v, formatted and parsed again %+v, %v", line, m, again, err)
		}
	})
}

func FuzzRead2(f *testing.F) {
	for _, s := range []string{mpich2("cmd=kvs-put;key=a;value=x;;y;", "\x00=;;;;"), "    14cmd=job-getid;", "     1;", "   -10cmd=x;", "    10cmd=x;;;;;;"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		m, err := read2(bufio.NewReader(strings.NewReader(in)))
		if err != nil {
			return
		}
		again, err := read2(bufio.NewReader(strings.NewReader(format2(m.cmd, flat(m.pairs)...))))
		if err != nil || again.cmd != m.cmd || !reflect.DeepEqual(again.pairs, m.pairs) {
			t.Errorf("%q: read %+v, formatted and read again %+v, %v", in, m, again, err)
		}
	})
}
