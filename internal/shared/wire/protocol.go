package wire

import "fmt"

// The protocol's versions, said in the hello (NodeHello.Protocol, and the
// master's choice in HelloReply.Protocol), so that a newer binary can take
// over from an older master or older nodes. Each side speaks the lower of
// the two versions when it speaks it; a version it cannot speak is refused
// with ProtocolError's one line, and nothing else is disturbed.
//
//  1. the protocol before versions (a hello without the field): a node
//     that loses its master ends its processes at once.
//  2. a node keeps its processes through a lost connection for the
//     master's grace time (HelloReply.Grace), lists them in its next hello
//     (NodeHello.Kept), and the master takes them back on ChanResume
//     channels; output is acknowledged (ReqAck) so that none is lost.
//  3. stdin is acknowledged too (ReqStdinAck): the master keeps what the
//     node has not written into the process's stdin, and sends it again
//     after a resume from the node's offset.
//  4. the relays of descendants (what remote processes fork) go on one
//     ChanSpace per connection instead of a ChanAdopt each; with a node
//     or master of 3 the master opens ChanAdopt channels as before.
const (
	Protocol    = 4 // the newest this binary speaks
	MinProtocol = 1 // the oldest
)

// ProtocolOf is the version a hello says: 0, a hello from before
// versions, is 1.
func ProtocolOf(v int) int {
	if v <= 0 {
		return 1
	}
	return v
}

// Speak is the version to speak with a peer that said v, or the one-line
// reason why there is none. The master upgrades first: it speaks every
// version from MinProtocol to Protocol, and refuses a newer node (it
// cannot know what such a node expects); a node speaks what the master
// chose, if it can.
func Speak(v int) (int, error) {
	v = ProtocolOf(v)
	if v < MinProtocol || v > Protocol {
		how := "newer than this binary speaks; upgrade the master first"
		if v < MinProtocol {
			how = "older than this binary speaks; upgrade the node"
		}
		return 0, fmt.Errorf("protocol version %d is %s (it speaks %d to %d)", v, how, MinProtocol, Protocol)
	}
	return v, nil
}
