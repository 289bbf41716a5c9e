package wire

import (
	"encoding/json"
	"reflect"
	"testing"
)

// starts are representative process starts: a rank of bpsh's, one with a
// terminal and pushed files, bpcp's server, one with bytes that are not
// UTF-8, and a move.
var starts = []ProcStart{
	{PID: 4242, Node: 3, Rank: 1, Command: Command{Path: "/bin/echo", Argv: []string{"echo", "a b"}, Env: []string{"PATH=/bin", "BPROC_RANK=0000001", "BPROC_NODE=3"}, Dir: "/home/u", StdoutFile: "/dev/null", StderrFile: "/dev/null"},
		UID: 1000, GID: 100, Groups: []uint32{100, 27}, MaxProcs: 4096},
	{PID: 7, Command: Command{Path: "/usr/bin/vi", Argv: []string{"vi"}, Env: []string{}, Dir: "/", TTY: &TTY{Term: "xterm", Window: Window{Rows: 24, Cols: 80}}}, Groups: []uint32{},
		Push: []PushFile{{Path: "/usr/bin/vi", Kind: "file", Size: 3, Mode: 0o755, MTime: 5, Sum: "ab"}}, PushSetID: true},
	{Node: 1, Command: Command{Builtin: BuiltinFileServer, Argv: []string{"bpcp", "--server"}, Env: []string{"PATH=/usr/bin:/bin"}, Dir: "/tmp", NoIO: true, StdinFile: "in"}},
	{PID: 9, Node: 2, Command: Command{Path: "/bin/c\xe0t", Argv: []string{"cat", "caf\xe9.txt"}, Env: []string{"X=\xff"}, Dir: "/d\xe9", StdoutFile: "o\xe9"}, UID: 5, GID: 5},
	{PID: 11, Node: 0, Command: Command{Path: "/a.out", Argv: []string{"a.out"}, Dir: "/w"}, UID: 1, GID: 1, Groups: []uint32{1}, Move: &Move{ImageSize: 4096, ImageFile: "/tmp/img", Return: 0x4250524f}},
}

// TestProcStartUnchanged: a process start carries what it carried when
// ProcStart had its own copy of the command's fields (the golden payloads
// were written by that code): the same names with the same values, so
// that a node of either version reads the other's, and such a payload
// reads as the same ProcStart. Only the order of the names differs (the
// command's fields are together now, before uid, gid and groups), which
// no JSON reader minds.
func TestProcStartUnchanged(t *testing.T) {
	golden := []string{
		"{\"pid\":4242,\"node\":3,\"rank\":1,\"path\":\"/bin/echo\",\"argv\":[\"echo\",\"a b\"],\"env\":[\"PATH=/bin\",\"BPROC_RANK=0000001\",\"BPROC_NODE=3\"],\"dir\":\"/home/u\",\"uid\":1000,\"gid\":100,\"groups\":[100,27],\"stdout_file\":\"/dev/null\",\"stderr_file\":\"/dev/null\",\"max_procs\":4096}",
		"{\"pid\":7,\"node\":0,\"rank\":0,\"path\":\"/usr/bin/vi\",\"argv\":[\"vi\"],\"env\":[],\"dir\":\"/\",\"uid\":0,\"gid\":0,\"groups\":[],\"tty\":{\"term\":\"xterm\",\"rows\":24,\"cols\":80},\"push\":[{\"path\":\"/usr/bin/vi\",\"kind\":\"file\",\"size\":3,\"mode\":493,\"mtime\":5,\"uid\":0,\"gid\":0,\"sum\":\"ab\"}],\"push_setid\":true}",
		"{\"pid\":0,\"node\":1,\"rank\":0,\"path\":\"\",\"builtin\":\"file-server\",\"argv\":[\"bpcp\",\"--server\"],\"env\":[\"PATH=/usr/bin:/bin\"],\"dir\":\"/tmp\",\"uid\":0,\"gid\":0,\"groups\":null,\"noio\":true,\"stdin_file\":\"in\"}",
		"{\"pid\":9,\"node\":2,\"rank\":0,\"path\":\"L2Jpbi9j4HQ=\",\"argv\":[\"Y2F0\",\"Y2Fm6S50eHQ=\"],\"env\":[\"WD3/\"],\"dir\":\"L2Tp\",\"uid\":5,\"gid\":5,\"groups\":null,\"stdout_file\":\"b+k=\",\"raw\":true}",
		"{\"pid\":11,\"node\":0,\"rank\":0,\"path\":\"/a.out\",\"argv\":[\"a.out\"],\"env\":null,\"dir\":\"/w\",\"uid\":1,\"gid\":1,\"groups\":[1],\"move\":{\"image_size\":4096,\"image_file\":\"/tmp/img\",\"return\":1112560207}}",
	}
	for i, p := range starts {
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var now, was map[string]any
		if err := json.Unmarshal(b, &now); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(golden[i]), &was); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(now, was) {
			t.Errorf("start %d is\n%s, was\n%s", i, b, golden[i])
		}
		var got ProcStart
		if err := Decode(ChanProc, []byte(golden[i]), &got); err != nil {
			t.Fatalf("start %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, p) {
			t.Errorf("start %d's old payload reads as %+v, want %+v", i, got, p)
		}
	}
}
