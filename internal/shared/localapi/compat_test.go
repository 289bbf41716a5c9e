package localapi

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/bproc/bproc/internal/shared/wire"
)

// runs are representative run requests: bpsh's, one with a terminal and
// a stub (bproc_rexec), bpcp's, and ones with bytes that are not UTF-8.
var runs = []Run{
	{Nodes: []int{0, 2, 2}, Command: wire.Command{Path: "/bin/echo", Argv: []string{"echo", "a,b", "\n"}, Env: []string{"HOME=/root", "TERM=xterm"}, Dir: "/root", StdoutFile: "out.txt"}},
	{Nodes: []int{1}, Command: wire.Command{Path: "/usr/bin/vi", Argv: []string{"vi", "f"}, Env: []string{}, Dir: "/", TTY: &wire.TTY{Term: "xterm-256color", Window: wire.Window{Rows: 50, Cols: 132}}}, Stub: true},
	{Nodes: []int{4}, Command: wire.Command{Builtin: wire.BuiltinFileServer, Argv: []string{"bpcp", "--server"}, Env: []string{"PATH=/usr/bin:/bin"}, Dir: "/tmp", NoIO: true, StdinFile: "i", StderrFile: "e"}},
	{Nodes: []int{0}, Command: wire.Command{Path: "/bin/c\xe0t", Argv: []string{"cat", "caf\xe9.txt"}, Env: []string{"X=\xff"}, Dir: "/d\xe9", StdoutFile: "o\xe9"}},
	{Nodes: []int{3}, Command: wire.Command{Path: "/bin/\x80", Argv: []string{"x"}, Dir: "/"}, Stub: true},
}

// TestRunFramesUnchanged: a run request is the frame it was when Run had
// its own copy of the command's fields (the golden frames were written by
// that code), byte for byte, and such a frame reads as the same Run: the
// master and its clients (libbproc, older binaries) still understand each
// other.
func TestRunFramesUnchanged(t *testing.T) {
	golden := []string{
		"\x00\x00\x00\x9a{\"op\":\"run\",\"run\":{\"nodes\":[0,2,2],\"path\":\"/bin/echo\",\"argv\":[\"echo\",\"a,b\",\"\\n\"],\"env\":[\"HOME=/root\",\"TERM=xterm\"],\"dir\":\"/root\",\"stdout_file\":\"out.txt\"}}",
		"\x00\x00\x00\x9b{\"op\":\"run\",\"run\":{\"nodes\":[1],\"path\":\"/usr/bin/vi\",\"argv\":[\"vi\",\"f\"],\"env\":[],\"dir\":\"/\",\"tty\":{\"term\":\"xterm-256color\",\"rows\":50,\"cols\":132},\"stub\":true}}",
		"\x00\x00\x00\xb6{\"op\":\"run\",\"run\":{\"nodes\":[4],\"path\":\"\",\"builtin\":\"file-server\",\"argv\":[\"bpcp\",\"--server\"],\"env\":[\"PATH=/usr/bin:/bin\"],\"dir\":\"/tmp\",\"noio\":true,\"stdin_file\":\"i\",\"stderr_file\":\"e\"}}",
		"\x00\x00\x00\x91{\"op\":\"run\",\"run\":{\"nodes\":[0],\"path\":\"L2Jpbi9j4HQ=\",\"argv\":[\"Y2F0\",\"Y2Fm6S50eHQ=\"],\"env\":[\"WD3/\"],\"dir\":\"L2Tp\",\"stdout_file\":\"b+k=\",\"raw\":true}}",
		"\x00\x00\x00q{\"op\":\"run\",\"run\":{\"nodes\":[3],\"path\":\"L2Jpbi+A\",\"argv\":[\"eA==\"],\"env\":null,\"dir\":\"Lw==\",\"stub\":true,\"raw\":true}}",
	}
	for i, r := range runs {
		var buf bytes.Buffer
		if err := WriteFrame(&buf, Request{Op: OpRun, Run: &r}); err != nil {
			t.Fatal(err)
		}
		if buf.String() != golden[i] {
			t.Errorf("run %d is the frame\n%q, was\n%q", i, buf.Bytes(), golden[i])
		}
		var got Request
		if err := ReadFrame(bytes.NewReader([]byte(golden[i])), &got); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		if got.Run == nil || !reflect.DeepEqual(*got.Run, r) {
			t.Errorf("run %d's old frame reads as %+v, want %+v", i, got.Run, r)
		}
	}
}
