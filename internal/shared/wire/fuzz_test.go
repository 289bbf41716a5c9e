package wire

import (
	"encoding/json"
	"strings"
	"testing"
)

// zeroSum is a well-formed sum.
const zeroSum = "0000000000000000000000000000000000000000000000000000000000000000"

// FuzzProcStart: whatever a node is sent as a process to start is refused
// with an error or is one it can start: a clean program, and pushed files
// and a moved image within bounds.
func FuzzProcStart(f *testing.F) {
	f.Add([]byte(`{"pid":7,"path":"/bin/true","argv":["true"],"dir":"/"}`))
	f.Add([]byte(`{"pid":7,"path":"/x","argv":["x"],"push":[{"path":"/usr/bin/x","kind":"file","size":3,"mode":493,"sum":"` + zeroSum + `"}]}`))
	f.Add([]byte(`{"pid":7,"path":"/x","argv":["x"],"move":{"image_size":4096,"return":1112560207}}`))
	f.Add([]byte(`{"pid":7,"path":"/x","argv":["x"],"push":[{"path":"/proc/1/mem","kind":"file"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var p ProcStart
		if err := Decode(ChanProc, b, &p); err != nil {
			return
		}
		if p.Validate() != nil {
			return
		}
		if len(p.Argv) == 0 || p.PID < 0 {
			t.Fatalf("accepted %+v", p)
		}
		if p.Move != nil && (p.Move.ImageSize <= 0 || p.Move.ImageSize > maxImage) {
			t.Fatalf("accepted a move of %d bytes", p.Move.ImageSize)
		}
		for _, f := range p.Push {
			if f.Kind == "file" && (len(f.Sum) != 64 || strings.ContainsAny(f.Sum, "/.")) {
				t.Fatalf("accepted a push with sum %q", f.Sum)
			}
			if !strings.HasPrefix(f.Path, "/") || strings.Contains(f.Path, "/../") || strings.HasPrefix(f.Path, "/proc") {
				t.Fatalf("accepted a push to %q", f.Path)
			}
		}
	})
}

// FuzzVersion: a version a node asks about, or is given a ticket for, is
// a clean absolute path with a size, or refused.
func FuzzVersion(f *testing.F) {
	f.Add([]byte(`{"path":"/usr/lib/big","size":1048576,"sum":"` + zeroSum + `"}`))
	f.Add([]byte(`{"path":"/usr/lib/big","size":1048576,"sum":"../../etc/passwd"}`))
	f.Add([]byte(`{"path":"../etc","size":-1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var v Version
		if json.Unmarshal(b, &v) != nil || v.Validate() != nil {
			return
		}
		if !strings.HasPrefix(v.Path, "/") || strings.Contains(v.Path, "..") && strings.Contains(v.Path, "/../") || v.Size < 0 || !validSum(v.Sum) || strings.ContainsAny(v.Sum, "/.ABCDEF") {
			t.Fatalf("accepted %+v", v)
		}
	})
}
