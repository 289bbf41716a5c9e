package localapi

import "encoding/json"

// Prepare makes encoding/json build its decoders for the replies of a run
// (its reply, the events), which it otherwise does at their first use, in
// line: reflection over the types, about half a millisecond of a fresh
// bpsh. Run in a goroutine at the start of a short-lived client, it
// happens on another CPU while the client does other things. (A plain run
// request is written without encoding/json, run_fast.go; one with a
// terminal or per-rank variables builds its encoder when sent.)
func Prepare() {
	var reply Reply
	json.Unmarshal([]byte(`{"ranks":[{"node":0,"token":""}]}`), &reply)
	var ev Event
	json.Unmarshal([]byte(`{"rank":0,"status":{}}`), &ev)
}
