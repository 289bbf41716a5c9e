package node

import "testing"

// TestSpaceMirrorPolled is TestSpaceMirror with every blocking reader
// taken: its listener is read from Go's poller (pollListener).
func TestSpaceMirrorPolled(t *testing.T) {
	n := 0
	for ; n < cap(blockingReaders); n++ {
		select {
		case blockingReaders <- struct{}{}:
			continue
		default:
		}
		break
	}
	defer func() {
		for range n {
			<-blockingReaders
		}
	}()
	TestSpaceMirror(t)
}
