package bpsh

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/bproc/bproc/applets"
)

// kongOnly parses args the slow way, as every command line with flags is.
func kongOnly(t testing.TB, args []string) (cli, bool) {
	var c cli
	dev, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	if err := c.kong(args, applets.IO{Stdin: dev, Stdout: dev, Stderr: dev}); err != nil {
		return c, false
	}
	return c, true
}

// sameAsKong fails t when quick takes args and ends with another cli than
// kong would.
func sameAsKong(t testing.TB, args []string) {
	var fast cli
	if !fast.quick(args) {
		return
	}
	slow, ok := kongOnly(t, args)
	if !ok {
		t.Fatalf("%q: quick took what kong refuses", args)
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("%q: quick gave\n%+v\nkong gave\n%+v", args, fast, slow)
	}
}

func TestQuickIsKong(t *testing.T) {
	lines := [][]string{
		{"0", "true"},
		{"0-3,7", "ls", "-l", "--color=never"},
		{"all", "sh", "-c", "echo $BPROC_RANK"},
		{"0", "bpsh", "-a", "true"},
		{"0", "--help"},
		{"0", "-p", "true"},
		{"n3", "--", "x"},
		{"", "true"},
		{"0"},
		{"-a", "true"},
		{"-a", "-N", "--per-node", "32", "./prog", "-a"},
		{"--per-node=3", "-p", "-s", "0-3", "sh", "-c", "x"},
		{"-A", "-n", "-L", "-d", "-t", "--gather", "--pmi", "-1", "true"},
		{"--per-node", "1", "0", "true"},
		{"--per-node", "100000", "-a", "true"},
	}
	for _, env := range []string{"", "/tmp/x.sock", "unset"} {
		if env == "unset" {
			os.Unsetenv("BPROC_SOCKET")
		} else {
			t.Setenv("BPROC_SOCKET", env)
		}
		for _, args := range lines {
			sameAsKong(t, args)
		}
	}
	// Lines with other flags, flags run together or given twice, odd
	// numbers, or nothing after the flags are kong's alone.
	var c cli
	for _, args := range [][]string{
		{"-an", "true"}, {"-a", "-a", "true"}, {"--per-node", "010", "0", "true"}, {"--per-node", "+3", "0", "true"},
		{"--per-node", "3", "--per-node", "4", "0", "true"}, {"--per-node"}, {"-a"}, {"-b", "10", "0", "true"},
		{"--", "0", "true"}, {"-T", "0", "sh"}, {"-"}, {},
	} {
		if c.quick(args) {
			t.Errorf("%q: quick took a line that is kong's", args)
		}
		if !reflect.DeepEqual(c, cli{}) {
			t.Errorf("%q: quick refused the line but left %+v", args, c)
		}
	}
	// The launches quick is for.
	if !c.quick([]string{"--per-node", "32", "-a", "./mpiprog"}) || !c.All || c.PerNode != 32 || !reflect.DeepEqual(c.Args, []string{"./mpiprog"}) {
		t.Errorf("quick(--per-node 32 -a ./mpiprog) gave %+v", c)
	}
}

func FuzzQuickIsKong(f *testing.F) {
	f.Add("0\x00true")
	f.Add("0-3\x00ls\x00-l")
	f.Add("x\x00--socket=/y")
	f.Add("0\x00cat\x00caf\xe9")
	f.Add("-a\x00--per-node\x009\x00true")
	f.Add("--per-node=12\x00-N\x00-p\x000\x00x")
	f.Fuzz(func(t *testing.T, line string) {
		sameAsKong(t, strings.Split(line, "\x00"))
	})
}
