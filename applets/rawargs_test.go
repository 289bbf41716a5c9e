package applets

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

type rawCLI struct {
	Out  string   `short:"O"`
	Name string   `name:"name"`
	Many []string `name:"many"`
	Args []string `arg:"" optional:"" passthrough:"partial"`
}

func TestParseKeepsBytes(t *testing.T) {
	dev, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	io := IO{Stdin: dev, Stdout: dev, Stderr: dev}
	var c rawCLI
	args := []string{"-O\xe9", "--name=caf\xe9", "--many", "a\xff", "0", "cat", "caf\xe9.txt", "-x\xfe"}
	if _, err := Parse("t", &Doc{}, &c, args, io); err != nil {
		t.Fatal(err)
	}
	want := rawCLI{Out: "\xe9", Name: "caf\xe9", Many: []string{"a\xff"}, Args: []string{"0", "cat", "caf\xe9.txt", "-x\xfe"}}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got %+q\nwant %+q", c, want)
	}
	if !reflect.DeepEqual(args[0], "-O\xe9") {
		t.Errorf("Parse changed the caller's args: %q", args)
	}
	err = func() error { var c rawCLI; _, err := Parse("t", &Doc{}, &c, []string{"--bogus\xe9"}, io); return err }()
	if err == nil || !strings.Contains(err.Error(), "\xe9") || strings.Contains(err.Error(), "\x00") {
		t.Errorf("error for an unknown flag with a Latin-1 byte: %q, want it quoted as given", err)
	}
}
