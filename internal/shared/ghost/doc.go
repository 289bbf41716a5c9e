// Package ghost starts and speaks to ghosts: the processes on the master
// that stand in for processes running on compute nodes.
//
// A ghost is a real process, a child of whoever started the remote
// process (bpsh, or a program calling bproc_rfork), so that the usual
// Unix machinery works on it unchanged: its PID is the PID the remote
// process gets, `ps` shows the remote argv and command name, every signal
// sent to it is relayed to the remote process, job control stops it, and
// it exits with exactly the remote status, so a plain wait() works.
//
// When a ghost starts it connects to the master daemon's unix socket,
// authenticates with a one-time token from its environment and hands the
// master its fds 0, 1 and 2 with SCM_RIGHTS; the master reads stdin from
// them. What is left for the ghost is a loop over two fds: a signalfd,
// whose signals it reports to the master, and the socket, on which the
// master eventually says how to die. A ghost whose process may outlive
// the master (told a grace time) also writes its process's output, which
// the master sends it (wire_data.go), and keeps a copy of the stdin the
// node has not acknowledged (wire_keep.go): what a master killed at any
// moment must not lose or repeat is the ghost's. If the socket closes (the master is gone) the ghost waits for the
// next master on the same path for the grace time CmdWhere told it, and
// says a resume hello there (wire_resume.go); never told one, or with no
// master back in time, it kills itself with SIGKILL, as BProc's ghosts
// died with their master.
//
// # Why C
//
// There is one ghost per remote process, thousands of them on a busy
// master, so each must cost almost nothing. BProc's in-kernel ghosts cost
// about 17 kB each. A minimal Go process costs about 600 kB PSS and five
// threads; a libc-free static C program costs one or two pages of its own
// plus page tables, and its code pages are shared by all ghosts because
// they are all exec'd from the same sealed memfd. So the ghost is stub.c,
// a few kB of C making raw syscalls, built by go generate into
// stub_amd64.bin, which is embedded in the Go binary and written once per
// process into a memfd.
//
// # One address space per job
//
// Even so, an exec'd ghost costs about 16 kB: a page of its own for its
// argv, environment and stack, and 12 kB of page tables (a PUD, a PMD and
// a PTE page), once it has moved its stack next to its code and unmapped
// the rest (stub.c's settle; 31 kB in the kernel's layout, with a stack
// far from the code). The ghosts of one job all run the same argv, so a
// Group gives them one address space: the first is exec'd as a template
// holding a control socket to the caller, and each later one is a
// sibling the template clones (CLONE_VM|CLONE_PARENT, so a child of the
// caller) on a 1 kB stack slice of an arena it reserves. A sibling is a
// process of its own in all but memory: PID, fds, signal handlers,
// pending signals, signalfd, process group, wait status. It costs its
// kilobyte of stack and the kernel's task. Nothing written in memory may
// belong to more than one ghost, so the stub writes no globals: each
// ghost's state is on its own stack, the template's arena bookkeeping on
// the template's.
//
// StartMany sends the template a window of requests before it reads their
// answers, so that a launch's siblings are cloned back to back rather
// than each after a round trip to the caller.
//
// What the shared address space brings along, checked on this kernel
// (6.18) by TestGroup and integration's TestSharedCoreDump: a ghost dying
// by a core-dumping signal takes no sibling with it (since 5.16 a core
// dump stops only its own thread group, and a ghost turns itself
// undumpable before it dies, so no dump starts at all: the dumpable flag
// is the address space's, which all ghosts want cleared anyway). The OOM
// killer, picking a ghost, kills every process of its address space,
// that is its whole job; ghosts are small, so it seldom picks one.
// /proc/PID/cmdline and environ are the address space's: every ghost of
// a job shows the job's argv, as it should, and the template's
// environment.
//
// # Control socket
//
// SOCK_SEQPACKET, little endian, between the caller and a template (its
// fd 4, named by BPROC_GHOST_GROUP=1 in its environment):
//
//	request  caller->template  32 bytes: uint32 type (1: start), uint32 fdmask,
//	                                     token [16]byte, uint32 flags (1: setpgid, 2: forwarded),
//	                                     uint32 reserved (0)
//	reply    ->caller           8 bytes: uint32 type, uint32 arg
//
// A request carries, in one SCM_RIGHTS message, a reply socket of its own
// and then the new ghost's fds among 0-2 in fdmask. Replies go on the
// reply socket: "cloned" (arg: PID) from the template as soon as clone
// returns, "running" (arg: PID) from the sibling before it does anything
// else, or "failed" (arg: errno) from the template. The reply socket's
// only holders are the template and the sibling, so if it closes with no
// PID on it, no ghost was made (the template had exited: a queued request
// is dropped with it); if one of them dies after the clone, the other
// still tells the PID. A template reads the master's commands before
// requests, so told to exit it exits at once.
//
// # Wire format
//
// Little endian, over a SOCK_STREAM unix socket:
//
//	hello   ghost->master 32 bytes: magic "BPG1", uint32 fdmask,
//	                               token [16]byte, uint32 version (1), uint32 reserved (0)
//	resume  ghost->master 64 bytes: magic "BPGR", uint32 fdmask, uint32 version (2),
//	                               uint32 node, uint32 node PID, uint32 flags (1: stdin offset told),
//	                               uint64 stdout written, uint64 stderr written,
//	                               uint64 stdin's file offset, uint64 node offset of stdin kept,
//	                               uint32 bytes of stdin kept, uint32 reserved (0)
//	                               (to the next master, with fds 0-2 as a hello's;
//	                               the stdin kept follows; version 1 was the first 40
//	                               bytes, with reserved (0) for flags)
//	event   ghost->master  8 bytes: uint32 type, uint32 arg   (EventSignal: arg is the signal;
//	                                                          EventChildStopped: arg is the PID of a child
//	                                                          ghost that SIGSTOP stopped;
//	                                                          EventWrote: stream << 24 | bytes of a CmdData done;
//	                                                          EventForked: the PID of the child ghost a CmdFork
//	                                                            made (0: none), with the master's end of its
//	                                                            socket pair in SCM_RIGHTS; ForkedDrains beside
//	                                                            it if the CmdFork said ForkAsk)
//	command master->ghost  8 bytes: uint32 type, uint32 arg   (CmdExit: exit(arg);
//	                                                          CmdSignal: die by signal arg;
//	                                                          CmdFork: arg ForkAsk, ForkShort; 16 bytes of
//	                                                            token follow but with ForkShort (see below);
//	                                                          CmdExec: arg bytes of argv follow;
//	                                                          CmdSetpgid: setpgid(0, arg);
//	                                                          CmdSetsid: setsid();
//	                                                          CmdWhere: node arg, then uint32 node PID,
//	                                                            uint32 grace seconds;
//	                                                          CmdOut: stream arg, then uint64 written
//	                                                            (stream 0: stdin's file offset, 3: stdin acknowledged);
//	                                                          CmdData: stream << 24 | n, then n bytes of output;
//	                                                          CmdKeep: n, then uint64 node offset, n bytes of stdin)
//
// CmdExec makes the ghost show a new argv (its process exec'd): it execs
// its own program again (/proc/self/exe) with that argv and takes up its
// connection from BPROC_GHOST_FD without a new hello, the same process
// for the master and its parent. A group sibling leaves the job's shared
// address space so. CmdSetpgid and CmdSetsid mirror its process's group
// and session where the kernel lets the ghost (see wire_change.go).
//
// CmdFork makes the ghost fork a child ghost (its own child, as the
// remote process's child is its own, not a group sibling; sharing its
// memory, on a slice of its arena, as siblings share their template's)
// that keeps no fd of its parent's (not even 0-2: its process's stdio is
// on the node) but one end of a socket pair the parent made before the
// fork: its connection to the master. The parent sends the other end to
// the master on its own connection, with the child's PID (EventForked),
// as soon as clone returns: the master has the new ghost's connection
// without waiting for it to run, connect and say hello, and it writes
// CmdWhere into it before anything else (a ghost reads what its socket
// holds before it sees the master gone), so a master killed meanwhile
// leaves no ghost without its place: an fd in flight to a dead master is
// closed with it, and the child, told no grace, dies. (A ghost of before
// EventForked, come back from an older master, forks a child that
// connects with the CmdFork's token and hands no fd.) A
// ghost reaps its ghost children and does not relay the kernel's SIGCHLD
// for them: the remote parent gets its own on the node. The child keeps
// its parent's signalfd, which reads the signals of whoever reads it.
//
// A write to the master that fails does not end a ghost's connection:
// it reads what the master wrote before it closed its end (its status,
// when its process ended as it relayed a signal), and only the end of the
// stream makes it look for the next master. A ghost that asked for it
// (ForkAsk) says so in EventForked (ForkedDrains), for itself and its
// child: the master then closes their connections as soon as it has told
// them how to die, and writes them CmdFork without its token (ForkShort).
// Older ghosts ignore CmdFork's arg; the master lets their connections
// linger until they hang up.
//
// The hello carries the ghost's open fds among 0, 1, 2 in one SCM_RIGHTS
// message, in that order; bit i of fdmask is set when fd i is among them.
//
// # Caveats
//
// The token is in the ghost's environment (/proc/PID/environ, readable by
// its owner and root), so the master should accept each token once. The
// ghost cannot dump core: a remote death with a core dump shows up as the
// same signal without WCOREDUMP. SIGSTOP stops the ghost before it can
// relay anything; the master learns of it only through the SIGCONT that
// follows. SIGTSTP, SIGTTIN and SIGTTOU are relayed first and then stop
// the ghost the default way, so the shell sees it stopped.
package ghost
