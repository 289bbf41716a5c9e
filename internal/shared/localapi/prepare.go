package localapi

import (
	"encoding/json"

	"github.com/bproc/bproc/internal/shared/wire"
)

// Prepare makes encoding/json build its codecs for the frames of a run
// (a request, its reply, the events), which it otherwise does at their
// first use, in line: reflection over the types, about half a millisecond
// of a fresh bpsh. Run in a goroutine at the start of a short-lived
// client, it happens on another CPU while the client does other things.
func Prepare() {
	json.Marshal(Request{Run: &Run{Command: wire.Command{TTY: &wire.TTY{}}}})
	var reply Reply
	json.Unmarshal([]byte(`{"ranks":[{"node":0,"token":""}]}`), &reply)
	var ev Event
	json.Unmarshal([]byte(`{"rank":0,"status":{}}`), &ev)
}
