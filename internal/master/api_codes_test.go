package master

import (
	"encoding/binary"
	"encoding/json"
	"strings"
	"syscall"
	"testing"

	"github.com/bproc/bproc/internal/shared/localapi"
)

// TestReplyCodes: the master's errors carry BProc's texts, unchanged, and
// beside them their codes, for clients that should not read the text.
func TestReplyCodes(t *testing.T) {
	s := newAPIServer(t) // nodes 0 and 1, down; the client is nobody
	for _, tc := range []struct {
		req  string
		want string // the reply, in JSON
	}{
		{`{"op":"run","run":{"nodes":[0,7],"path":"/bin/true","argv":["true"],"env":[],"dir":"/"}}`,
			`{"ranks":[{"node":0,"error":"Node is down","code":301},{"node":7,"error":"Invalid node number","code":300}]}`},
		{`{"op":"signal","signal":{"pid":1,"signal":9}}`, `{"error":"signal 1: Invalid process ID","code":304}`},
		{`{"op":"ctl","ctl":{"nodes":[0,9],"state":"up"}}`,
			`{"failed":[{"node":0,"error":"Operation not permitted","code":1},{"node":9,"error":"Invalid node number","code":300}]}`},
		{`{"op":"move","node":7}`, `{"error":"Invalid node number","code":300}`},
		{`{"op":"nosuch"}`, `{"error":"unknown operation \"nosuch\"","code":38}`},
		// An error with no code of its own says none.
		{`{"op":"run"}`, `{"error":"run: missing request"}`},
	} {
		in := append(binary.BigEndian.AppendUint32(nil, uint32(len(tc.req))), tc.req...)
		rs := replies(t, in, s.exchange(t, in))
		if len(rs) == 0 {
			t.Errorf("%s: no reply", tc.req)
			continue
		}
		got, _ := json.Marshal(rs[0])
		var want map[string]any
		json.Unmarshal([]byte(tc.want), &want)
		wantJSON, _ := json.Marshal(want)
		if string(got) != string(wantJSON) {
			t.Errorf("%s:\n got %s\nwant %s", tc.req, got, wantJSON)
		}
	}
}

// A move to a CPU that lacks what the process may use is ENOEXEC, with
// the text it always had.
func TestCPURefusal(t *testing.T) {
	err := cpuRefusal(1, []string{"rtm"})
	if !strings.HasPrefix(err.Error(), "Exec format error: node 1's CPU lacks rtm, ") {
		t.Errorf("cpuRefusal = %q", err)
	}
	if c := localapi.CodeOf(err); c != localapi.Code(syscall.ENOEXEC) {
		t.Errorf("cpuRefusal's code %d, want ENOEXEC", c)
	}
}
