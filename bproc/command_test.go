package bproc

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestCommandWire: a Command's defaults, and the ones no node should try.
func TestCommandWire(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", "/usr/bin:/bin")
	w, err := Command{Path: "sh"}.wire()
	if err != nil || !filepath.IsAbs(w.Path) || !strings.HasSuffix(w.Path, "/sh") || !reflect.DeepEqual(w.Argv, []string{"sh"}) ||
		w.Dir != wd || len(w.Env) == 0 {
		t.Errorf("Command{Path: sh} = %+v, %v: want sh from $PATH, argv [sh], here, this environment", w, err)
	}
	w, err = Command{Path: "/bin/echo", Args: []string{"echo", "hi"}, Env: []string{}, Dir: "/tmp", NoIO: true}.wire()
	if err != nil || w.Path != "/bin/echo" || len(w.Argv) != 2 || len(w.Env) != 0 || w.Dir != "/tmp" || !w.NoIO {
		t.Errorf("a full Command = %+v, %v", w, err)
	}
	for _, bad := range []Command{
		{},
		{Path: "no-such-program-here"},
		{Path: "/bin/echo", Dir: "relative"},
		{Path: "/bin/echo", Args: []string{"echo", "a\x00b"}},
	} {
		if w, err := bad.wire(); err == nil || !strings.HasPrefix(err.Error(), "command: ") {
			t.Errorf("%+v: %+v, %v, want an error", bad, w, err)
		}
	}
}
