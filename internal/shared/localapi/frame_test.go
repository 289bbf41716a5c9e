package localapi

import (
	"bytes"
	"encoding/binary"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/bproc/bproc/internal/shared/wire"
)

func TestFrameRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	in := Request{Op: OpRun, Run: &Run{Nodes: []int{0, 2, 2}, Command: wire.Command{Path: "/bin/echo", Argv: []string{"echo", "a,b", "\n"}}}}
	if err := WriteFrame(&buf, in); err != nil {
		t.Fatal(err)
	}
	var out Request
	if err := ReadFrame(&buf, &out); err != nil {
		t.Fatal(err)
	}
	if out.Op != in.Op || len(out.Run.Argv) != 3 || out.Run.Argv[1] != "a,b" || out.Run.Nodes[2] != 2 {
		t.Errorf("ReadFrame = %+v, want %+v", out.Run, in.Run)
	}
	if err := ReadFrame(&buf, &out); err != io.EOF {
		t.Errorf("ReadFrame at end = %v, want io.EOF", err)
	}
}

func TestFrameBadInput(t *testing.T) {
	huge := binary.BigEndian.AppendUint32(nil, MaxFrame+1)
	for name, b := range map[string][]byte{
		"short header": {0, 0},
		"too long":     huge,
		"short body":   append(binary.BigEndian.AppendUint32(nil, 10), "{}"...),
		"not json":     append(binary.BigEndian.AppendUint32(nil, 3), "abc"...),
	} {
		var r Request
		err := ReadFrame(bytes.NewReader(b), &r)
		if err == nil || err == io.EOF || strings.Contains(err.Error(), "\n") {
			t.Errorf("ReadFrame(%s) = %v, want a one-line error", name, err)
		}
	}
}

func FuzzReadFrame(f *testing.F) {
	var buf bytes.Buffer
	WriteFrame(&buf, Request{Op: OpNodes})
	f.Add(buf.Bytes())
	f.Add([]byte{0, 0, 0, 2, '{', '}'})
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Request
		_ = ReadFrame(bytes.NewReader(b), &r)
	})
}

func TestRunKeepsBytes(t *testing.T) {
	r := Run{Nodes: []int{0}, Command: wire.Command{Path: "/bin/c\xe0t", Argv: []string{"cat", "caf\xe9.txt"}, Env: []string{"X=\xff"}, Dir: "/d\xe9", StdoutFile: "o\xe9"}}
	var buf bytes.Buffer
	if err := WriteFrame(&buf, Request{Op: OpRun, Run: &r}); err != nil {
		t.Fatal(err)
	}
	var got Request
	if err := ReadFrame(&buf, &got); err != nil {
		t.Fatal(err)
	}
	if got.Run == nil || !reflect.DeepEqual(*got.Run, r) {
		t.Errorf("sent %+v, got %+v", r, got.Run)
	}
}
