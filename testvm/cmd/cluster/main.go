// Cluster starts and stops a bproc cluster of QEMU machines on this one:
// bpmaster in a network namespace of its own, serving network boot on a
// bridge there, and VMs that PXE-boot from it. It is what make cluster
// and make cluster-down run; it needs root.
//
// Synopsis:
//
//	cluster up [--nodes N] [--bin FILE] [--kernel FILE] [--name NS] [--dir DIR] [--timeout D]
//	cluster down [--name NS] [--dir DIR]
//	cluster deps
//
// up installs the Debian packages it needs if they are missing (deps does
// only that), starts everything, waits until every node is up, and prints
// how to reach the cluster. Everything keeps running after it returns,
// also when a node did not come up (to look at its console); down stops
// it all and removes the namespace with its bridge and taps.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kong"

	"github.com/bproc/bproc/testvm"
)

type where struct {
	Name string `default:"${name}" help:"Network namespace of the cluster."`
	Dir  string `placeholder:"DIR" help:"Config, logs, consoles, pidfiles and socket (default /run/NAME)."`
}

type upCmd struct {
	where
	Nodes   int           `short:"n" default:"4" help:"Number of node VMs."`
	Bin     string        `default:"bin/bproc" help:"The bproc binary the master runs and builds the node image from."`
	Kernel  string        `placeholder:"FILE" help:"Node kernel (default: the newest /boot/vmlinuz-*-cloud-amd64)."`
	Memory  int           `default:"256" help:"RAM per VM, MiB."`
	Cmdline string        `help:"The config's kernelcommandline (netboot puts console=ttyS0 there itself)."`
	Timeout time.Duration `default:"3m" help:"How long to wait for every node to be up."`
}

type downCmd struct {
	where
}

type depsCmd struct{}

type cli struct {
	Up   upCmd   `cmd:"" help:"Start the master and boot the nodes."`
	Down downCmd `cmd:"" help:"Stop every VM and the master; remove the namespace."`
	Deps depsCmd `cmd:"" help:"Install the Debian packages a cluster needs, if missing."`
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Stdout, os.Stderr, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	var c cli
	p, err := kong.New(&c, kong.Name("cluster"), kong.Writers(stdout, stderr),
		kong.Vars{"name": testvm.DefaultName},
		kong.Description("A bproc cluster of QEMU VMs that network-boot from bpmaster."),
		kong.BindTo(ctx, (*context.Context)(nil)), kong.BindTo(stdout, (*io.Writer)(nil)))
	if err != nil {
		return err
	}
	k, err := p.Parse(args)
	if err != nil {
		return err
	}
	return k.Run()
}

func (d *depsCmd) Run(stdout io.Writer) error {
	return testvm.InstallPackages(stdout)
}

func (d *downCmd) Run() error {
	c, err := testvm.New(testvm.Options{Name: d.Name, Dir: d.Dir})
	if err != nil {
		return err
	}
	return c.Down()
}

func (u *upCmd) Run(ctx context.Context, stdout io.Writer) error {
	if err := testvm.InstallPackages(stdout); err != nil {
		return err
	}
	bin, err := filepath.Abs(u.Bin)
	if err != nil {
		return err
	}
	c, err := testvm.New(testvm.Options{
		Name: u.Name, Dir: u.Dir, Nodes: u.Nodes, Binary: bin,
		Kernel: u.Kernel, Memory: u.Memory, Cmdline: u.Cmdline,
	})
	if err != nil {
		return err
	}
	start := time.Now()
	if err := c.Up(ctx); err != nil {
		return err
	}
	booted := time.Now()
	fmt.Fprintf(stdout, "master serving after %.1fs; %d VMs booting\n", booted.Sub(start).Seconds(), c.Nodes)
	wctx, cancel := context.WithTimeout(ctx, u.Timeout)
	defer cancel()
	upAt, err := c.WaitUp(wctx)
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted; the cluster keeps running (nodes may still be booting): %s; make cluster-down removes it", c.Socket())
	}
	if err != nil {
		return fmt.Errorf("%w\nthe cluster is still running, to look at; make cluster-down removes it", err)
	}
	for n, t := range upAt {
		fmt.Fprintf(stdout, "node %d up %.1fs after its VM started\n", n, t.Sub(c.VMs[n].Started).Seconds())
	}
	tool := func(name string) string { return shortPath(filepath.Join(filepath.Dir(bin), name)) }
	fmt.Fprintf(stdout, `
%d nodes up. Use them with:

  export BPROC_SOCKET=%s
  %s -l
  %s -a -p uname -r
  %s -S 0 -R        # reboot node 0

Consoles: %s/node*.console. Master log: %s
Take it all down: make cluster-down
`, c.Nodes, c.Socket(), tool("bpstat"), tool("bpsh"), tool("bpctl"), c.Dir, c.Master.Log().Path)
	return nil
}

// shortPath is path relative to the working directory when it is below
// it (bin/bpstat after make cluster), else path.
func shortPath(path string) string {
	wd, err := os.Getwd()
	if err != nil {
		return path
	}
	if r, err := filepath.Rel(wd, path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}
