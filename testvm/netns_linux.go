package testvm

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Net is a private Ethernet segment: a named network namespace holding a
// bridge with the master's address and one tap per VM. Nothing of it is
// visible outside the namespace, so the machine's own interfaces are
// never touched, and deleting the namespace removes the bridge and taps.
type Net struct {
	NS     string       // network namespace name
	Bridge string       // bridge inside NS
	Addr   netip.Prefix // the bridge's (the master's) address
	MAC    net.HardwareAddr
	Taps   []string // one per VM, ports of Bridge
}

// ErrExists: the namespace is there already, a cluster runs or a crashed
// one was not taken down.
var ErrExists = errors.New("network namespace exists")

// Create makes the namespace, the bridge and the taps. On failure what
// was made is removed again.
func (n *Net) Create() (err error) {
	if NSExists(n.NS) {
		return fmt.Errorf("%s: %w", n.NS, ErrExists)
	}
	if err := ip("netns", "add", n.NS); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			ip("netns", "delete", n.NS)
		}
	}()
	steps := [][]string{
		{"link", "set", "lo", "up"},
		// A fixed MAC: a bridge otherwise takes the lowest of its ports',
		// changing as taps come and go, and the master's router
		// advertisements carry the MAC it saw at start.
		// forward_delay 0: a port forwards as soon as its VM is there.
		{"link", "add", n.Bridge, "address", n.MAC.String(), "type", "bridge", "forward_delay", "0"},
		{"addr", "add", n.Addr.String(), "dev", n.Bridge},
	}
	for _, s := range steps {
		if err := ip(append([]string{"-n", n.NS}, s...)...); err != nil {
			return err
		}
	}
	for _, tap := range n.Taps {
		if err := n.addTap(tap); err != nil {
			return err
		}
	}
	// Without duplicate address detection the bridge's link-local address
	// is usable the moment the first VM gives it a carrier: router
	// advertisements are sent from it, and iPXE waits 13 s without one.
	if err := n.Sysctl("net/ipv6/conf/"+n.Bridge+"/accept_dad", "0"); err != nil {
		return err
	}
	return ip("-n", n.NS, "link", "set", n.Bridge, "up")
}

// AddTap adds one more tap to the bridge, for a VM started later.
func (n *Net) AddTap(tap string) error {
	if err := n.addTap(tap); err != nil {
		return err
	}
	n.Taps = append(n.Taps, tap)
	return nil
}

// addTap makes a persistent tap (QEMU opens it by name, no helper
// script) and plugs it into the bridge.
func (n *Net) addTap(tap string) error {
	if err := ip("-n", n.NS, "tuntap", "add", "dev", tap, "mode", "tap"); err != nil {
		return err
	}
	return ip("-n", n.NS, "link", "set", tap, "master", n.Bridge, "up")
}

// Sysctl sets /proc/sys/KEY inside the namespace: /proc/sys/net shows
// the namespace of whoever opens it, so the write runs in there.
func (n *Net) Sysctl(key, value string) error {
	cmd := NSCommand(n.NS, "sh", "-c", `echo "$2" > "/proc/sys/$1"`, "sh", key, value)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("sysctl %s=%s in %s: %v: %s", key, value, n.NS, err, bytes.TrimSpace(out))
	}
	return nil
}

// NSCommand is name with args run inside the namespace ns. "ip netns
// exec" execs the command in its own process, so the PID of the Cmd is
// the command's.
func NSCommand(ns, name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// InNS runs f on an OS thread in the named namespace ns. Sockets f opens
// stay in that namespace wherever they are used later; f must not start
// goroutines that open sockets. The thread is never unlocked: a
// goroutine that exits locked takes its thread with it, so no other
// goroutine ever runs in the wrong namespace. A child another goroutine
// started with Pdeathsig may have been forked by that thread, and gets
// the signal when it exits.
func InNS(ns string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("open netns %s: %w", ns, err)
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// NSExists says whether the named namespace is there.
func NSExists(ns string) bool {
	_, err := os.Stat("/run/netns/" + ns)
	return err == nil
}

// NSPIDs lists the processes inside the namespace: after a crash, what
// pidfiles no longer name is still found here.
func NSPIDs(ns string) ([]int, error) {
	out, err := exec.Command("ip", "netns", "pids", ns).Output()
	if err != nil {
		return nil, fmt.Errorf("ip netns pids %s: %w", ns, err)
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// DeleteNS removes the namespace, and with it the bridge and taps (the
// kernel frees them when the last process in it is gone). A missing
// namespace is not an error.
func DeleteNS(ns string) error {
	if !NSExists(ns) {
		return nil
	}
	return ip("netns", "delete", ns)
}

// ip runs the ip command, the error carrying its message.
func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}
