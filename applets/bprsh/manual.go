package bprsh

import (
	"fmt"
	"strings"

	"github.com/bproc/bproc/applets"
	"github.com/bproc/bproc/applets/manpage"
)

// doc is bprsh's --help description and manual page.
var doc = &applets.Doc{
	Synopsis: []string{"[OPTIONS] [USER@]NODE [--] [COMMAND [ARGS...]]"},
	Description: `Run a command on a node, taking ssh's command line: a drop-in for ssh and
rsh in programs that start their remote work through one (Open MPI's
plm_rsh_agent, clush's ssh_path, pdsh, GNU parallel's --ssh, rsync -e,
scp -S, sftp -S).

NODE is a node's number (3, n3, .3), its address, or a host name that
resolves to its address. USER (user@, -l, -o User=) must be the caller:
bprsh runs as the caller, as bpsh does. Every option letter of ssh is
accepted, options may come after NODE as with ssh, and "--" ends them.

The command's words are joined with single spaces and run by the caller's
login shell with -c on the node, as sshd runs them, in the caller's home
directory, with HOME, USER, LOGNAME and SHELL set from the passwd entry and
the rest of the caller's environment; without a command, the login shell
runs on a pseudo-terminal. With -s, the
command names a subsystem: sftp is the node's SFTP server (the one bpcp
uses), so that sftp, scp and rsync work to and from nodes. Like any bpsh
process, the remote process has a ghost here.`,
	Exit: `The remote command's exit status. 255 when bprsh itself failed (a bad
command line, no such node, a node that is down, no master, another user
asked for) or the remote command was killed by a signal, as ssh.`,
	Examples: []manpage.Example{
		{Command: "mpirun --mca plm_rsh_agent bprsh -H n0,n1 -np 2 ./hello", Text: "Open MPI, its daemons started on the nodes through bprsh:"},
		{Command: "rsync -a -e bprsh results/ n2:/tmp/results/", Text: "Copy a directory to node 2:"},
	},
	SeeAlso: []string{"bpsh(1)", "bpcp(1)", "ssh(1)"},
}

// tag is the option as --help shows it: "-l USER".
func (l letter) tag() string {
	if l.arg == "" {
		return "-" + string(l.c)
	}
	return "-" + string(l.c) + " " + l.arg
}

// usage is bprsh's --help.
func usage() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: bprsh %s\n\n%s\n\nOptions:\n", doc.Synopsis[0], doc.Description)
	for _, l := range letters {
		fmt.Fprintf(&b, "  %-14s %s\n", l.tag(), l.help)
	}
	return b.String()
}

// Manual is what bprsh's manual page is made from.
func Manual() applets.Manual {
	m := applets.Manual{Doc: doc}
	for _, l := range letters {
		m.Flags = append(m.Flags, manpage.Item{Tag: l.tag(), Text: l.help})
	}
	return m
}
