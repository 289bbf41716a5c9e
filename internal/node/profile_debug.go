//go:build bprocprofile

package node

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"syscall"

	"golang.org/x/sys/unix"
)

// A bpslave built with -tags bprocprofile profiles its CPU between two
// SIGWINCHs, into slave-cpu-N.pprof in profileDir if that directory
// exists when it starts: how its CPU per fork of the process space is
// measured. A directory, not an environment variable: a namespace node
// gets none of bpmaster's but BPROC_SPACE and GOTRACEBACK. SIGWINCH, as
// bpslave has no terminal and the master's debug build takes SIGUSR2.
// Only a debug build has it, and only whoever may signal bpslave (root)
// can ask.
const profileDir = "/var/tmp/bproc-slave-profile"

func init() {
	if !isSlave() {
		return
	}
	// Opened now: a namespace node then mounts its own /var/tmp.
	dir, err := unix.Open(profileDir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGWINCH)
	go func() {
		for n := 0; ; n++ {
			<-c
			name := fmt.Sprintf("slave-cpu-%d.pprof", n)
			fd, err := unix.Openat(dir, name, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_CLOEXEC, 0o600)
			if err != nil {
				fmt.Fprintf(os.Stderr, "bpslave: profile: %s: %v\n", name, err)
				continue
			}
			f := os.NewFile(uintptr(fd), name)
			if err := pprof.StartCPUProfile(f); err != nil {
				fmt.Fprintf(os.Stderr, "bpslave: profile: %v\n", err)
				f.Close()
				continue
			}
			<-c
			pprof.StopCPUProfile()
			f.Close()
		}
	}()
}

// isSlave: this process runs the bpslave applet (the binary's every
// applet runs this package's init).
func isSlave() bool {
	for _, a := range os.Args[:min(len(os.Args), 2)] {
		if filepath.Base(a) == "bpslave" {
			return true
		}
	}
	return false
}
