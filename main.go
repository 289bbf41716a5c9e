// Command bproc is the Beowulf Distributed Process Space in one binary.
//
// The applet comes from the name it was started as (bin/bpsh is a symlink to
// bin/bproc), or from the first name in the chain of symlinks that name
// leads through which is an applet (/usr/local/bin/bpsh -> /opt/bproc/bin/bpsh
// -> bproc), or, when none is, from the first argument (bproc bpsh ...).
// main only dispatches; every applet lives in applets/.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"syscall"

	"github.com/bproc/bproc/applets"
	"github.com/bproc/bproc/applets/bpcp"
	"github.com/bproc/bproc/applets/bpctl"
	"github.com/bproc/bproc/applets/bpmaster"
	"github.com/bproc/bproc/applets/bprsh"
	"github.com/bproc/bproc/applets/bpsh"
	"github.com/bproc/bproc/applets/bpslave"
	"github.com/bproc/bproc/applets/bpstat"
	"github.com/bproc/bproc/applets/initnode"
	"github.com/bproc/bproc/applets/manpages"
	"github.com/bproc/bproc/applets/mkimage"
	"github.com/bproc/bproc/applets/nodeview"
)

// stopSignals end a daemon cleanly: its context is cancelled.
var stopSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM}

// table is every applet, sorted by name: the one list of them (the
// Makefile's APPLETS repeats those with Link; main_test.go checks it).
var table = []applets.Applet{
	{Name: "bpcp", Summary: "copy files to, from and between nodes", Run: bpcp.Main, Manual: bpcp.Manual, Link: true},
	{Name: "bpctl", Summary: "change nodes: state, owner, group, mode; reboot, halt", Run: bpctl.Main, Manual: bpctl.Manual, Link: true},
	{Name: "bpmaster", Summary: "the master daemon: nodes, ghosts, the local API", Run: bpmaster.Main, StopOn: stopSignals, Manual: bpmaster.Manual, Link: true, ActsAsUser: true},
	{Name: "bprsh", Summary: "ssh's command line, run on a node (a drop-in for ssh and rsh)", Run: bprsh.Main, Manual: bprsh.Manual, Link: true},
	{Name: "bpsh", Summary: "run a command on nodes", Run: bpsh.Main, Manual: bpsh.Manual, Link: true},
	{Name: "bpslave", Summary: "the node daemon (PID 1 of a node)", Run: bpslave.Main, StopOn: stopSignals, Manual: bpslave.Manual, Link: true, ActsAsUser: true},
	{Name: "bpstat", Summary: "node and process status", Run: bpstat.Main, Manual: bpstat.Manual, Link: true},
	{Name: "init", Summary: "PID 1 of a netbooted node: set it up, then be its bpslave", Run: initnode.Main, StopOn: nil, ActsAsUser: true},
	{Name: "manpages", Summary: "write the manual pages (make man)", Hidden: true},
	{Name: "mkimage", Summary: "write the node image (initramfs) bpmaster serves", Run: mkimage.Main, Manual: mkimage.Manual},
	{Name: "nodeview", Summary: "a diskless node's view of the master's files (started by bpslave)", Run: nodeview.Main, StopOn: stopSignals, ActsAsUser: true},
}

// In an applet that acts as a user the main thread runs main alone. A
// thread that acts as a user (package asuser) must be one the runtime can
// end afterwards, which the main thread is not: the kernel's checks
// against the whole process (ptrace, kill, /proc/PID) look at it. The lock
// is taken here, in init, while the runtime still holds the main goroutine
// on the main thread; in main it could already have moved. Only those
// applets take it: the first LockOSThread starts the runtime's template
// thread, a clone that a bpsh or bpstat would pay for on every run.
func init() {
	if lockMainThread(os.Args) {
		runtime.LockOSThread()
	}
}

// lockMainThread says whether the applet argv starts needs the main
// thread to itself. An unknown one does not: it only prints an error.
func lockMainThread(argv []string) bool {
	a, _, err := pick(argv)
	return err == nil && a != nil && a.ActsAsUser
}

func main() {
	io := applets.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	a, args, err := pick(os.Args)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if a == nil {
		usage(io)
		os.Exit(0)
	}
	ctx := context.Background()
	if len(a.StopOn) > 0 {
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, a.StopOn...)
		defer stop()
	}
	err = a.Run(ctx, args, io)
	code := applets.ExitCode(a.Name, err, io.Stderr)
	if len(a.StopOn) > 0 {
		signal.Reset()
	}
	os.Exit(code)
}

// pick finds the applet from argv[0], else from argv[1]. A nil applet with a
// nil error means "print the list" (bproc, bproc --help).
func pick(argv []string) (*applets.Applet, []string, error) {
	if len(argv) == 0 {
		return nil, nil, fmt.Errorf("bproc: empty argument list")
	}
	if a := appletOf(argv[0]); a != nil {
		return a, argv[1:], nil
	}
	if len(argv) < 2 || argv[1] == "--help" || argv[1] == "-h" || argv[1] == "help" {
		return nil, nil, nil
	}
	if a := find(argv[1]); a != nil {
		return a, argv[2:], nil
	}
	return nil, nil, fmt.Errorf("bproc: unknown applet %q (bproc --help lists them)", argv[1])
}

func find(name string) *applets.Applet {
	i := sort.Search(len(table), func(i int) bool { return table[i].Name >= name })
	if i < len(table) && table[i].Name == name {
		return &table[i]
	}
	return nil
}

func usage(io applets.IO) {
	fmt.Fprintln(io.Stdout, "Usage: bproc APPLET [ARGS...]   (or run it through a symlink named APPLET)")
	fmt.Fprintln(io.Stdout, "\nApplets:")
	for _, a := range table {
		if a.Hidden {
			continue
		}
		fmt.Fprintf(io.Stdout, "  %-10s %s\n", a.Name, a.Summary)
	}
}

// writeManuals is the manpages applet: every applet's page that has a
// manual, from the table (set in init: the table cannot name a function
// that reads it in its own initializer).
func writeManuals(ctx context.Context, args []string, io applets.IO) error {
	var entries []manpages.Entry
	for _, a := range table {
		if a.Manual != nil {
			entries = append(entries, manpages.Entry{Name: a.Name, Summary: a.Summary, Manual: a.Manual})
		}
	}
	return manpages.Main(ctx, args, io, entries)
}

func init() {
	find("manpages").Run = writeManuals
	for i := 1; i < len(table); i++ {
		if table[i-1].Name >= table[i].Name {
			panic("applet table not sorted or has a duplicate: " + table[i].Name)
		}
	}
	applets.Register(table)
}
