package wire

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestProcStartKeepsBytes(t *testing.T) {
	for _, p := range []ProcStart{
		{Command: Command{Path: "/bin/cat", Argv: []string{"cat", "caf\xe9.txt"}, Env: []string{"A=\xff\xfe"}, Dir: "/home/\xe9"}},
		{Command: Command{Path: "/bin/\x80", Argv: []string{"x"}, StdinFile: "in\xc3", StdoutFile: "out\xc3(", StderrFile: "\xed\xa0\x80"}},
		{Command: Command{Path: "/bin/true", Argv: []string{"true", "ünïcödé"}, Env: []string{"LANG=C.UTF-8"}}},
	} {
		argv := append([]string(nil), p.Argv...)
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var got ProcStart
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if !reflect.DeepEqual(got, p) {
			t.Errorf("sent %+v\ngot %+v\nas %s", p, got, b)
		}
		if !reflect.DeepEqual(p.Argv, argv) {
			t.Errorf("marshal changed the caller's argv: %q", p.Argv)
		}
	}
	var p ProcStart
	if err := json.Unmarshal([]byte(`{"path":"not base64!","raw":true}`), &p); err == nil {
		t.Error("raw strings that are not base64: no error")
	}
}

func FuzzProcStartBytes(f *testing.F) {
	f.Add("/bin/x", "a\xe9", "K=\xff", "/")
	f.Fuzz(func(t *testing.T, path, arg, env, dir string) {
		p := ProcStart{Command: Command{Path: path, Argv: []string{arg, arg}, Env: []string{env}, Dir: dir}}
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var got ProcStart
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if !reflect.DeepEqual(got, p) {
			t.Fatalf("sent %+v, got %+v", p, got)
		}
	})
}
