package node

import "testing"

// TestSpaceMirrorPolled is TestSpaceMirror with every blocking reader
// taken: its listener is read from Go's poller (pollListener).
func TestSpaceMirrorPolled(t *testing.T) {
	blockingReaders.Add(maxBlockingReaders)
	defer blockingReaders.Add(-maxBlockingReaders)
	TestSpaceMirror(t)
}
