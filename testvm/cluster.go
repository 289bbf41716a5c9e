// Package testvm runs a bproc cluster of QEMU machines on this one: a
// network namespace with a bridge and a tap per machine, bpmaster in it
// serving DHCP, TFTP and HTTP on the bridge, and VMs that PXE-boot from
// it into bproc's /init. make cluster and make vmtest use it, through
// testvm/cmd/cluster and the test beside this file.
//
// Only the namespace's own addresses are used; the machine's interfaces
// are never touched. Every process is found again by pidfile or by
// namespace, so Down works after the program that called Up is gone,
// also after a crash.
package testvm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bproc/bproc/internal/shared/apiclient"
	"github.com/bproc/bproc/internal/shared/localapi"
)

// DefaultName is make cluster's namespace; its files go in
// /run/DefaultName.
const DefaultName = "bproc-cluster"

// bridge is the bridge's name inside the namespace, and so the config's
// interface line.
const bridge = "br0"

// Options describe a cluster.
type Options struct {
	Name   string // network namespace (DefaultName)
	Dir    string // logs, pidfiles, config, socket, master state (/run/Name)
	Nodes  int
	Binary string // the bproc binary bpmaster runs (and builds the node image from)
	Kernel string // FindKernel's when empty
	Memory int    // per VM, MiB
	// Cmdline is the config's kernelcommandline, after what the master
	// puts there itself (console=ttyS0 bproc.master= bproc.node=).
	Cmdline     string
	PingTimeout int // seconds; 0 for bpmaster's default
	// Spare nodes have addresses in the config's iprange but no MAC:
	// room for machines added with bpctl --add-node.
	Spare      int
	MasterArgs []string
}

// Cluster is the namespace, the master and the node VMs.
type Cluster struct {
	Options
	Net    Net
	Master Master
	VMs    []*VM // node n's is VMs[n]
	// Strangers are VMs whose MAC is in no node line.
	Strangers []*VM
}

// New works out names and paths; it starts nothing. Nodes may be 0 for
// a Cluster that is only to be taken down.
func New(o Options) (*Cluster, error) {
	if o.Name == "" {
		o.Name = DefaultName
	}
	if o.Dir == "" {
		o.Dir = filepath.Join("/run", o.Name)
	}
	if !filepath.IsAbs(o.Dir) {
		return nil, fmt.Errorf("cluster dir %q: want an absolute path", o.Dir)
	}
	if o.Nodes < 0 || o.Nodes > MaxNodes {
		return nil, fmt.Errorf("%d nodes: want 1 to %d", o.Nodes, MaxNodes)
	}
	if o.Spare < 0 || o.Nodes+o.Spare > MaxNodes {
		return nil, fmt.Errorf("%d spare nodes: want 0 to %d beside %d", o.Spare, MaxNodes-o.Nodes, o.Nodes)
	}
	c := &Cluster{
		Options: o,
		Net:     Net{NS: o.Name, Bridge: bridge, Addr: masterAddr, MAC: bridgeMAC},
		Master:  Master{Binary: o.Binary, Dir: o.Dir, Args: o.MasterArgs},
	}
	for n := range o.Nodes {
		v := &VM{Name: fmt.Sprintf("node%d", n), MAC: NodeMAC(n), Tap: fmt.Sprintf("tap%d", n), Dir: o.Dir, Memory: o.Memory}
		c.VMs = append(c.VMs, v)
		c.Net.Taps = append(c.Net.Taps, v.Tap)
	}
	return c, nil
}

// Socket is the master's local API socket, for BPROC_SOCKET.
func (c *Cluster) Socket() string { return c.Master.Socket() }

// Up creates the network, starts the master and boots every node's VM.
// It does not wait for the nodes: see WaitUp. On failure everything
// started is taken down again.
func (c *Cluster) Up(ctx context.Context) (err error) {
	if c.Nodes < 1 {
		return fmt.Errorf("%d nodes: want 1 to %d", c.Nodes, MaxNodes)
	}
	if _, err := os.Stat(c.Binary); err != nil {
		return fmt.Errorf("bproc binary: %w (run make)", err)
	}
	if c.Kernel == "" {
		if c.Kernel, err = FindKernel(); err != nil {
			return err
		}
	} else if err := checkKernel(c.Kernel); err != nil {
		return err
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return err
	}
	if err := c.Net.Create(); err != nil {
		if errors.Is(err, ErrExists) {
			return fmt.Errorf("%w: a cluster runs, or one was not taken down (make cluster-down)", err)
		}
		return err
	}
	defer func() {
		if err != nil {
			c.Down()
		}
	}()
	// Consoles of a bigger cluster that ran here before would look like
	// nodes of this one. (Only now: had the namespace been there, they
	// would be a running cluster's.)
	old, _ := filepath.Glob(filepath.Join(c.Dir, "*.console"))
	for _, f := range old {
		os.Remove(f)
	}
	conf := MasterConfig{
		Interface: bridge, Nodes: c.Nodes, Spare: c.Spare, Kernel: c.Kernel,
		// virtio_pci finds the NIC, virtio_net drives it; the image
		// builder adds what they depend on.
		Modules:     []string{"virtio_pci", "virtio_net"},
		Cmdline:     c.Cmdline,
		PingTimeout: c.PingTimeout,
	}
	if err := os.WriteFile(c.Master.Config(), []byte(conf.Text()), 0o644); err != nil {
		return err
	}
	if err := c.Master.Start(ctx, c.Name); err != nil {
		return err
	}
	for _, v := range c.VMs {
		if err := v.Start(c.Name); err != nil {
			return err
		}
	}
	return nil
}

// StartStranger boots one more VM, on a tap of its own, with a MAC that
// no node line has: the master must not give it a lease.
func (c *Cluster) StartStranger() (*VM, error) {
	k := len(c.Strangers)
	v := &VM{Name: fmt.Sprintf("stranger%d", k), MAC: StrangerMAC(k), Tap: fmt.Sprintf("tapx%d", k), Dir: c.Dir, Memory: c.Memory}
	if err := c.Net.AddTap(v.Tap); err != nil {
		return nil, err
	}
	c.Strangers = append(c.Strangers, v)
	return v, v.Start(c.Name)
}

// Down stops every VM and the master, kills whatever else still runs in
// the namespace, and deletes it with the bridge and taps. It needs only
// Name and Dir, so it also takes down a cluster whose Up ran in another
// process, or crashed; with nothing there it does nothing.
func (c *Cluster) Down() error {
	var errs []error
	// The VMs together: each takes a moment to be reaped by init.
	pidfiles, _ := filepath.Glob(filepath.Join(c.Dir, "*.pid"))
	var vms []int
	for _, p := range pidfiles {
		if p == c.Master.PIDFile() {
			continue
		}
		pid, err := readPID(p)
		// The pidfile's path is on QEMU's command line: a PID that
		// lacks it is not (or no longer) that VM.
		if err == nil && alive(pid) && cmdlineHas(pid, p) {
			vms = append(vms, pid)
		}
	}
	if err := stopAll(vms, 5*time.Second); err != nil {
		errs = append(errs, fmt.Errorf("VMs: %w", err))
	}
	for _, p := range pidfiles {
		if p != c.Master.PIDFile() {
			os.Remove(p)
		}
	}
	if err := c.Master.Stop(); err != nil {
		errs = append(errs, err)
	}
	if NSExists(c.Name) {
		if err := killNS(c.Name); err != nil {
			errs = append(errs, err)
		}
		if err := DeleteNS(c.Name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// killNS ends every process left in the namespace (a crash lost their
// pidfiles).
func killNS(ns string) error {
	pids, err := NSPIDs(ns)
	if err != nil {
		return err
	}
	if err := stopAll(pids, 5*time.Second); err != nil {
		return fmt.Errorf("namespace %s: %w", ns, err)
	}
	return nil
}

// ErrPanic is wrapped by WaitUp's error when a node's kernel panicked:
// that node will not come up, and waiting longer would only hide why.
var ErrPanic = errors.New("kernel panic")

// WaitUp waits until the master shows every listed node up (all nodes
// when none are listed), and returns when each was first seen up. A
// timeout names the nodes that are not, with the end of their consoles;
// so does a node whose VM's kernel panicked, at once, whatever the master
// still believes of it (a node that dies silently stays up there until
// its ping timeout).
func (c *Cluster) WaitUp(ctx context.Context, nodes ...int) ([]time.Time, error) {
	if len(nodes) == 0 {
		for n := range c.VMs {
			nodes = append(nodes, n)
		}
	}
	upAt := make([]time.Time, len(nodes))
	states := make(map[int]string)
	for {
		st, err := nodeStates(c.Socket())
		if err == nil {
			states = st
		}
		done := true
		for i, n := range nodes {
			if n < len(c.VMs) {
				if p := c.VMs[n].Console().BootPanic(); p != "" {
					upAt[i] = time.Time{}
					states[n] = "down (its kernel panicked)"
					return upAt, c.notUp(fmt.Errorf("%w: node %d: %s", ErrPanic, n, p), nodes, upAt, states)
				}
			}
			if upAt[i].IsZero() && states[n] == localapi.StateUp {
				upAt[i] = time.Now()
			}
			done = done && !upAt[i].IsZero()
		}
		if done {
			return upAt, nil
		}
		select {
		case <-ctx.Done():
			return upAt, c.notUp(ctx.Err(), nodes, upAt, states)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// notUp is WaitUp's error: each node not up, its state and its console.
func (c *Cluster) notUp(cause error, nodes []int, upAt []time.Time, states map[int]string) error {
	if errors.Is(cause, context.DeadlineExceeded) {
		cause = ErrTimeout
	}
	var b strings.Builder
	for i, n := range nodes {
		if !upAt[i].IsZero() {
			continue
		}
		state := states[n]
		if state == "" {
			state = "unknown"
		}
		fmt.Fprintf(&b, "\nnode %d is %s", n, state)
		if n < len(c.VMs) {
			fmt.Fprintf(&b, "; the end of its console (%s):\n%s", c.VMs[n].Console().Path, c.VMs[n].Console().Tail(3000))
		}
	}
	fmt.Fprintf(&b, "\nthe end of the master's log (%s):\n%s", c.Master.Log().Path, c.Master.Log().Tail(3000))
	return fmt.Errorf("waiting for nodes up: %w%s", cause, b.String())
}

// nodeStates asks the master for every node's state.
func nodeStates(socket string) (map[int]string, error) {
	cl, err := apiclient.Dial(socket)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	table, err := cl.Nodes()
	if err != nil {
		return nil, err
	}
	m := make(map[int]string, len(table))
	for _, n := range table {
		m[n.Num] = n.State
	}
	return m, nil
}
