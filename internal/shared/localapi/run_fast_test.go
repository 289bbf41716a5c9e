package localapi

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/bproc/bproc/internal/shared/wire"
)

// FuzzRunRequest: appendRunRequest writes what json.Marshal writes, byte
// for byte, or declines.
func FuzzRunRequest(f *testing.F) {
	f.Add("/usr/bin/true", "", "true", "PATH=/bin\x00HOME=/root", "/tmp", "", "", "", uint8(0), []byte{0, 3})
	f.Add("/a<b>&c", "fileserver", "\"q\"\\\n\t\b\f\r\x01\x7f", "X=\u2028\u2029ü", "", "in", "out", "err", uint8(0xff), []byte{})
	f.Add("/bad\xff", "", "", "", "", "", "", "", uint8(1), []byte(nil))
	f.Fuzz(func(t *testing.T, path, builtin, argv, env, dir, in, out, errf string, flags uint8, nodes []byte) {
		r := &Run{Command: wire.Command{Path: path, Builtin: builtin, Dir: dir, StdinFile: in, StdoutFile: out, StderrFile: errf,
			NoIO: flags&1 != 0}, Stub: flags&2 != 0, Detach: flags&4 != 0}
		if flags&8 == 0 {
			r.Argv = splitNUL(argv)
			r.Env = splitNUL(env)
		}
		if nodes != nil {
			r.Nodes = []int{}
			for _, n := range nodes {
				r.Nodes = append(r.Nodes, int(n)-100)
			}
		}
		if flags&16 != 0 {
			r.TTY = &wire.TTY{Term: "xterm"}
		}
		req := Request{Op: OpRun, Run: r}
		got, ok := appendRunRequest(nil, &req)
		want, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		if ok && string(got) != string(want) {
			t.Fatalf("appendRunRequest:\n%s\njson.Marshal:\n%s", got, want)
		}
		if !ok && r.TTY == nil && utf8Command(&r.Command) {
			t.Fatalf("declined a plain run: %s", want)
		}
	})
}

func splitNUL(s string) []string {
	out := []string{}
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// TestRunRequestFields fails when Request, Run or wire.Command gain a
// field: appendRunRequest must then learn it (or decline requests that
// set it), and this list with it.
func TestRunRequestFields(t *testing.T) {
	for _, c := range []struct {
		v    any
		want []string
	}{
		{Request{}, []string{"Op", "Run", "Signal", "Ctl", "MAC", "Node", "VRfork", "Attach", "PIDs"}},
		{Run{}, []string{"Nodes", "Command", "Stub", "Detach", "RankEnv"}},
		{wire.Command{}, []string{"Path", "Builtin", "Argv", "Env", "Dir", "TTY", "NoIO", "StdinFile", "StdoutFile", "StderrFile"}},
	} {
		typ := reflect.TypeOf(c.v)
		var got []string
		for i := 0; i < typ.NumField(); i++ {
			got = append(got, typ.Field(i).Name)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%v has fields %v; appendRunRequest (run_fast.go) knows %v: teach it the new ones", typ, got, c.want)
		}
	}
}
