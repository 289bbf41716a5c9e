package bench

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// listenPerSSHD is how many addresses one sshd listens on: OpenSSH's
// MAX_LISTEN_SOCKS is 16, so 256 targets take 16 sshds.
const listenPerSSHD = 16

// SSHFarm is n ssh targets on this machine, each a loopback address of its
// own (127.0.0.1, 127.0.0.2, ...), with one warm ControlMaster per address:
// what pdsh and clush fan out to when they stand in for bpsh -a. The sshds
// are configured as SSHPeer's, and so is the client, but from an
// ssh_config file (ControlPath ctl-%h), since pdsh and clush start ssh
// with arguments of their own.
type SSHFarm struct {
	Addrs []string
	// SetupTime is how long the ControlMasters took to come up: the
	// connections every later command is spared.
	SetupTime time.Duration

	dir     string
	port    int
	sshds   []*daemon
	masters []*daemon
	undo    []func() error // newest last
}

// farmAddrs are n distinct loopback addresses: 127.0.0.1 to 127.0.0.254,
// then 127.0.1.1 on (127.0.0.255 would do for Linux, but reads as a
// broadcast address to a person).
func farmAddrs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("127.0.%d.%d", i/254, i%254+1)
	}
	return out
}

// Hostlist is the first n targets as a pdsh and clush host range,
// "127.0.0.[1-8]", "127.0.0.[1-254],127.0.1.[1-2]".
func (f *SSHFarm) Hostlist(n int) string {
	var parts []string
	for lo := 0; lo < n; lo += 254 {
		hi := min(n, lo+254)
		parts = append(parts, fmt.Sprintf("127.0.%d.[%d-%d]", lo/254, 1, hi-lo))
	}
	return strings.Join(parts, ",")
}

// StartSSHFarm starts the sshds and a ControlMaster to each of n addresses.
// On failure nothing it started or changed is left.
func StartSSHFarm(logf func(string, ...any), n int) (f *SSHFarm, err error) {
	if err := ensureOpenSSH(logf); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "bproc-bench-farm-")
	if err != nil {
		return nil, fmt.Errorf("start ssh farm: %w", err)
	}
	f = &SSHFarm{Addrs: farmAddrs(n), dir: dir}
	defer func() {
		if err != nil {
			if stopErr := f.Stop(); stopErr != nil {
				err = fmt.Errorf("%w (and cleaning up: %v)", err, stopErr)
			}
			f = nil
		}
	}()
	if err := os.Chmod(dir, 0o711); err != nil { // see StartSSHPeer
		return f, fmt.Errorf("start ssh farm: %w", err)
	}
	// The account and sshd's privsep directory, made (and undone) as
	// SSHPeer makes them.
	var acct SSHPeer
	err = errors.Join(acct.ensureUser(), acct.ensurePrivsepDir())
	f.undo = append(f.undo, acct.undo...)
	if err != nil {
		return f, err
	}
	for _, k := range []string{"host_key", "id"} {
		out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", f.path(k)).CombinedOutput()
		if err != nil {
			return f, fmt.Errorf("ssh-keygen %s: %w: %s", k, err, out)
		}
	}
	hostPub, err := os.ReadFile(f.path("host_key.pub"))
	if err != nil {
		return f, fmt.Errorf("start ssh farm: %w", err)
	}
	idPub, err := os.ReadFile(f.path("id.pub"))
	if err != nil {
		return f, fmt.Errorf("start ssh farm: %w", err)
	}
	if f.port, err = freePort(); err != nil {
		return f, err
	}
	var known strings.Builder
	for _, a := range f.Addrs {
		fmt.Fprintf(&known, "[%s]:%d %s", a, f.port, hostPub)
	}
	files := map[string]string{
		"authorized_keys": string(idPub),
		"known_hosts":     known.String(),
		"ssh_config":      f.sshConfig(),
	}
	for name, text := range files {
		if err := os.WriteFile(f.path(name), []byte(text), 0o644); err != nil {
			return f, fmt.Errorf("start ssh farm: %w", err)
		}
	}
	for i := 0; i < n; i += listenPerSSHD {
		cfg := f.path(fmt.Sprintf("sshd_config.%d", i/listenPerSSHD))
		if err := os.WriteFile(cfg, []byte(f.sshdConfig(f.Addrs[i:min(n, i+listenPerSSHD)])), 0o644); err != nil {
			return f, fmt.Errorf("start ssh farm: %w", err)
		}
		if out, err := exec.Command(sshdPath, "-t", "-f", cfg).CombinedOutput(); err != nil {
			return f, fmt.Errorf("sshd -t %s: %w: %s", cfg, err, out)
		}
		d, err := startDaemon("sshd "+cfg, sshdPath, "-D", "-e", "-f", cfg)
		if err != nil {
			return f, err
		}
		f.sshds = append(f.sshds, d)
	}
	if err := f.waitListening(10 * time.Second); err != nil {
		return f, err
	}
	began := time.Now()
	if err := f.startMasters(); err != nil {
		return f, err
	}
	f.SetupTime = time.Since(began)
	return f, nil
}

func (f *SSHFarm) path(name string) string { return filepath.Join(f.dir, name) }

// ConfigFile is the ssh_config every client of the farm is given.
func (f *SSHFarm) ConfigFile() string { return f.path("ssh_config") }

// sshConfig is SSHPeer's client options as a file: its ControlPath has
// the target's address in it, so each address has its ControlMaster.
// The user is left to the caller: pdsh passes -l of its own.
func (f *SSHFarm) sshConfig() string {
	return fmt.Sprintf(`Host *
	Port %d
	IdentityFile %s
	IdentitiesOnly yes
	UserKnownHostsFile %s
	GlobalKnownHostsFile /dev/null
	StrictHostKeyChecking yes
	BatchMode yes
	ControlMaster no
	ControlPath %s
	LogLevel ERROR
`, f.port, f.path("id"), f.path("known_hosts"), f.path("ctl-%h"))
}

// sshdConfig is SSHPeer's, listening on addrs. MaxStartups is raised so
// that ControlMasters coming up side by side are not dropped as a flood.
func (f *SSHFarm) sshdConfig(addrs []string) string {
	var b strings.Builder
	for _, a := range addrs {
		fmt.Fprintf(&b, "ListenAddress %s:%d\n", a, f.port)
	}
	b.WriteString(sshdSettings(f.path("host_key"), f.path("authorized_keys"), "MaxStartups 100:30:200", "LogLevel ERROR"))
	return b.String()
}

func (f *SSHFarm) waitListening(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for i, a := range f.Addrs {
		addr := net.JoinHostPort(a, strconv.Itoa(f.port))
		sshd := f.sshds[i/listenPerSSHD]
		for {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
				break
			}
			if !sshd.running() || time.Now().After(deadline) {
				return fmt.Errorf("sshd on %s: not listening (%v); log:\n%s", addr, err, sshd.log)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return nil
}

// startMasters brings up a ControlMaster to every address, a few at a time:
// each costs a key exchange, and all at once would only queue on the two
// cores.
func (f *SSHFarm) startMasters() error {
	f.masters = make([]*daemon, len(f.Addrs))
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex // guards errs
		errs []error
	)
	sem := make(chan struct{}, 8)
	for i, a := range f.Addrs {
		d, err := startDaemon("ssh ControlMaster "+a, "ssh", "-F", f.ConfigFile(), "-l", sshUser,
			"-M", "-N", "-o", "ControlPersist=no", a)
		if err != nil {
			return err // those started are stopped by Stop
		}
		f.masters[i] = d
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := f.waitMaster(a, d, 20*time.Second); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (f *SSHFarm) waitMaster(addr string, d *daemon, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		out, err := exec.Command("ssh", "-F", f.ConfigFile(), "-O", "check", addr).CombinedOutput()
		if err == nil {
			return nil
		}
		if !d.running() || time.Now().After(deadline) {
			return fmt.Errorf("ssh ControlMaster to %s:%d: not up (%v: %s); its log:\n%s", addr, f.port, err, out, d.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop ends the ControlMasters, then the sshds, waits until no process of
// theirs is left, undoes the machine changes and removes the temp dir; as
// SSHPeer.Stop, which says why each step is there.
func (f *SSHFarm) Stop() error {
	var errs []error
	var left []int
	for _, d := range f.sshds {
		left = append(left, descendants(d.cmd.Process.Pid)...)
	}
	if len(f.sshds) > 0 {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err == nil {
			defer unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex // guards errs while the masters stop
	for _, d := range f.masters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.stop(); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for _, d := range f.sshds {
		for len(children(d.cmd.Process.Pid)) > 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
	for _, d := range f.sshds {
		if err := d.stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := waitGone(left, 5*time.Second); err != nil {
		errs = append(errs, fmt.Errorf("sshd: %w", err))
	}
	for i := len(f.undo) - 1; i >= 0; i-- {
		if err := f.undo[i](); err != nil {
			errs = append(errs, err)
		}
	}
	f.undo = nil
	if f.dir != "" {
		if err := os.RemoveAll(f.dir); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", f.dir, err))
		}
	}
	return errors.Join(errs...)
}
