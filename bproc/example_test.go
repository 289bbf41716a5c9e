package bproc_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"syscall"
	"time"

	"github.com/bproc/bproc/bproc"
)

// Without a master on the socket, Dial says so.
func ExampleDial() {
	_, err := bproc.Dial("/nonexistent/master.sock")
	fmt.Println(err)
	fmt.Println(errors.Is(err, bproc.ErrNoMaster))
	// Output:
	// bpmaster is not running (no one listens on /nonexistent/master.sock)
	// true
}

// A node given to one user, as bpctl -u 1000 -m 0100 leaves it.
func ExampleMayRun() {
	node := bproc.NodeStatus{Num: 1, State: bproc.StateUp, UID: 1000, GID: 1000, Mode: 0o100}
	fmt.Println(bproc.MayRun(node, bproc.Identity{UID: 1000, GID: 1000}))
	fmt.Println(bproc.MayRun(node, bproc.Identity{UID: 1001, GID: 1001}))
	node.State = bproc.StateDown
	fmt.Println(bproc.MayRun(node, bproc.Identity{UID: 1000, GID: 1000}))
	// Output:
	// <nil>
	// Permission denied
	// Node is down
}

// A rank's Status as an error: why it did not run, which errors.Is
// knows, or how it ended.
func ExampleStatus_Error() {
	down := bproc.Status{Rank: 1, Node: 3, Done: true, Err: bproc.ErrNodeDown}
	fmt.Println(down.Error(), errors.Is(down.Error(), bproc.ErrNodeDown))
	exit := bproc.Status{Rank: 0, Node: 2, PID: 4242, Done: true, Ran: true, ExitCode: 3}
	var ee *bproc.ExitError
	fmt.Println(exit.Error(), errors.As(exit.Error(), &ee) && ee.ExitCode == 3)
	// Output:
	// rank 1 (node 3): Node is down true
	// rank 0 (node 2): exit status 3 true
}

// hostname on nodes 0 and 2, its output this program's, waited for at
// most a minute. (Not run here: it needs a master with nodes.)
func ExampleClient_Start() {
	c, err := bproc.Dial("")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	job, err := c.Start(ctx, bproc.Command{Path: "hostname", Stdout: os.Stdout, Stderr: os.Stderr}, 0, 2)
	if err != nil {
		log.Fatal(err) // no master, no such program: nothing started
	}
	defer job.Close()
	if err := job.Wait(ctx); errors.Is(err, bproc.ErrNodeDown) {
		log.Print("a node is down: ", err)
	} else if err != nil {
		log.Print(err) // "rank 1 (node 2): exit status 1", or the deadline
	}
	for _, s := range job.Statuses() {
		fmt.Println(s.Rank, s.Node, s.PID, s.ExitCode)
	}
}

// A job's ranks, one at a time: signal rank 1, wait for rank 0.
func ExampleJob_WaitRank() {
	c, err := bproc.Dial("")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	job, err := c.Start(ctx, bproc.Command{Path: "/bin/sleep", Args: []string{"sleep", "60"}, NoIO: true}, 0, 1)
	if err != nil {
		log.Fatal(err)
	}
	defer job.Close()
	if err := job.Signal(ctx, 1, syscall.SIGTERM); err != nil {
		log.Print(err)
	}
	st, err := job.WaitRank(ctx, 1)
	fmt.Println(st.Signal, err) // terminated rank 1 (node 1): killed by signal 15 (terminated)
	job.Kill()
	job.Wait(ctx)
}
