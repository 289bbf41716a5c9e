// Package bpctl is the bpctl applet: change nodes' state, owner, group and
// mode, and reboot, halt or power them off.
//
// Synopsis:
//
//	bpctl -S NODESPEC [-s STATE] [-R|-H|-P] [-m MODE] [-u USER] [-g GROUP] ...
//
// As in BProc, options are applied left to right, each to the nodes
// selected so far: bpctl -S 0-3 -u alice -S 4 -s unavailable.
package bpctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/user"
	"strconv"

	"github.com/bproc/bproc/applets"
	"github.com/bproc/bproc/internal/shared/apiclient"
	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/nodeset"
)

// Main runs bpctl.
func Main(ctx context.Context, args []string, io applets.IO) error {
	p, err := parseArgs(args)
	if err != nil {
		return &applets.UsageError{Err: err}
	}
	if p.help {
		fmt.Fprint(io.Stdout, usage())
		return nil
	}
	if len(p.steps) == 0 {
		return &applets.UsageError{Err: errors.New("nothing to do (bpctl --help)")}
	}
	if p.socket == "" {
		p.socket = localapi.SocketPath()
	}
	client, err := apiclient.Dial(p.socket)
	if err != nil {
		return err
	}
	defer client.Close()
	table, err := client.Nodes()
	if err != nil {
		return err
	}
	return run(client, table, p.steps, io.Stdout, io.Stderr)
}

// change is a step that asks the master for something, with the nodes it
// applies to.
type change struct {
	s        step
	ctl      localapi.Ctl
	onMaster bool // the master was selected too: not changed with bpctl
}

// plan resolves every step (node specs, user and group names) before
// anything is changed, so that a bad one changes nothing.
func plan(table []localapi.NodeStatus, steps []step) ([]change, error) {
	view := make([]nodeset.Node, len(table))
	for i, n := range table {
		view[i] = nodeset.Node{Num: n.Num, State: n.State, Addr: n.Addr}
	}
	var selected []int
	var out []change
	for _, s := range steps {
		switch s.kind {
		case "select":
			nums, err := nodeset.Parse(s.arg, view)
			if err != nil {
				return nil, applets.Exit(2, "%s", err)
			}
			selected = nums
			continue
		case "master":
			selected = []int{nodeset.Master}
			continue
		case "add-node", "node-token":
			out = append(out, change{s: s})
			continue
		}
		if selected == nil {
			return nil, &applets.UsageError{Err: fmt.Errorf("%s: no nodes selected (use -S NODES first)", s.flag)}
		}
		ctl, err := s.ctl()
		if err != nil {
			return nil, applets.Exit(2, "%s", err)
		}
		ctl.Nodes = without(selected, nodeset.Master)
		out = append(out, change{s: s, ctl: ctl, onMaster: len(ctl.Nodes) < len(selected)})
	}
	return out, nil
}

// run applies the steps; a node that could not be changed is a line on
// stderr and makes the exit status 1.
func run(client *apiclient.Client, table []localapi.NodeStatus, steps []step, stdout, stderr io.Writer) error {
	changes, err := plan(table, steps)
	if err != nil {
		return err
	}
	failed := false
	for _, c := range changes {
		if c.s.kind == "add-node" {
			num, err := client.AddNode(c.s.arg)
			if err != nil {
				fmt.Fprintf(stderr, "%s\n", err)
				failed = true
			} else {
				fmt.Fprintf(stdout, "%s: node %d\n", c.s.arg, num)
			}
			continue
		}
		if c.s.kind == "node-token" {
			num, _ := strconv.Atoi(c.s.arg) // checked when parsed
			tok, err := client.NodeToken(num)
			if err != nil {
				fmt.Fprintf(stderr, "%s\n", err)
				failed = true
			} else {
				fmt.Fprintln(stdout, tok)
			}
			continue
		}
		if c.onMaster {
			fmt.Fprintf(stderr, "master: %s: the master is not changed with bpctl\n", c.s.flag)
			failed = true
		}
		if len(c.ctl.Nodes) == 0 {
			continue
		}
		errs, err := client.Ctl(c.ctl)
		if err != nil {
			return err
		}
		for _, e := range errs {
			fmt.Fprintf(stderr, "%d: %s\n", e.Node, e.Error)
			failed = true
		}
	}
	if failed {
		return applets.Status(1)
	}
	return nil
}

// ctl turns a step into a request; user and group names are looked up
// here, numbers are taken as they are.
func (s step) ctl() (localapi.Ctl, error) {
	var c localapi.Ctl
	switch s.kind {
	case "state":
		switch s.arg {
		case "reboot", "halt", "pwroff":
			c.Action = s.arg
		default:
			c.State, c.Reason = s.arg, s.reason
		}
	case "action":
		c.Action = s.arg
	case "mode":
		m, _ := parseMode(s.arg) // checked when parsed
		c.Mode = &m
	case "user":
		id, err := lookupID(s.arg, func(n string) (string, error) {
			u, err := user.Lookup(n)
			if err != nil {
				return "", err
			}
			return u.Uid, nil
		})
		if err != nil {
			return c, fmt.Errorf("%s %s: %w", s.flag, s.arg, err)
		}
		c.UID = &id
	case "group":
		id, err := lookupID(s.arg, func(n string) (string, error) {
			g, err := user.LookupGroup(n)
			if err != nil {
				return "", err
			}
			return g.Gid, nil
		})
		if err != nil {
			return c, fmt.Errorf("%s %s: %w", s.flag, s.arg, err)
		}
		c.GID = &id
	}
	return c, nil
}

func lookupID(name string, lookup func(string) (string, error)) (uint32, error) {
	if n, err := strconv.ParseUint(name, 10, 32); err == nil {
		return uint32(n), nil
	}
	s, err := lookup(name)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(s, 10, 32)
	return uint32(n), err
}

func without(nums []int, drop int) []int {
	out := make([]int, 0, len(nums))
	for _, n := range nums {
		if n != drop {
			out = append(out, n)
		}
	}
	return out
}
