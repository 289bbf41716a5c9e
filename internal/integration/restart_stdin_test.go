package integration

import (
	"fmt"
	"regexp"
	"testing"
	"time"
)

// TestMasterPauseStdin: stdin streamed into a remote cat through a master
// paused past the ping timeout arrives once, every byte: what the master
// wrote into the connection its node had given up is sent again on the
// resumed channel, from what the node acknowledged (wire.ReqStdinAck).
func TestMasterPauseStdin(t *testing.T) {
	c := startCluster(t, 1, "--no-diskless", "--node-grace", "60s")
	var out, errb syncBuffer
	cmd := c.command("bpsh", "0", "cat")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	startRecorded(t, cmd, &out, &errb)
	const n = 500
	wrote := make(chan error, 1)
	go func() {
		defer in.Close()
		for i := range n {
			if _, err := fmt.Fprintln(in, i); err != nil {
				wrote <- err
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		wrote <- nil
	}()
	waitOutput(t, &out, "\n30\n")
	pauseMaster(t, c, 5*time.Second) // the writes go on meanwhile
	if err := <-wrote; err != nil {
		t.Fatalf("writing to bpsh's stdin: %v", err)
	}
	if err := waitCmd(cmd, 40*time.Second); err != nil {
		t.Fatalf("bpsh cat: %v; stderr %q; output %q", err, errb.String(), out.String())
	}
	wantCount(t, out.String(), n)
	c.waitLog(t, regexp.MustCompile(`remote process taken back`))
}
