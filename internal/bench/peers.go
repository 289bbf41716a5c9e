package bench

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// sshUser is the account the private sshd lets in. Not root: root's shell
// is bash, which Debian builds to read ~/.bashrc and /etc/bash.bashrc when
// sshd starts it even for `ssh host true`, and that would be time charged
// to ssh that a tuned site would not pay. This one's shell is /bin/sh
// (dash), which reads no rc file for `sh -c`.
const sshUser = "bpbench"

// sshdPath is where Debian's openssh-server puts sshd; sshd must be started
// by its absolute path, since it re-execs itself for each connection.
const sshdPath = "/usr/sbin/sshd"

// SSHPeer is the strongest form of ssh this machine has for running one
// command: a private OpenSSH server on loopback, and a ControlMaster
// connection to it that is already authenticated, so that each
// `ssh -S ctl host cmd` only opens a session on it (no TCP handshake, no
// key exchange, no authentication). It is what bpsh is held against.
type SSHPeer struct {
	dir  string
	port int

	sshd   *daemon
	master *daemon
	// undo reverts what was changed on the machine (an account, a
	// directory), newest first.
	undo []func() error
}

// StartSSHPeer installs OpenSSH if it is missing, then starts the sshd and
// the ControlMaster. On failure nothing it started or changed is left.
func StartSSHPeer(logf func(format string, args ...any)) (p *SSHPeer, err error) {
	if err := ensureOpenSSH(logf); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "bproc-bench-ssh-")
	if err != nil {
		return nil, fmt.Errorf("start sshd: %w", err)
	}
	p = &SSHPeer{dir: dir}
	defer func() {
		if err != nil {
			if stopErr := p.Stop(); stopErr != nil {
				err = fmt.Errorf("%w (and cleaning up: %v)", err, stopErr)
			}
			p = nil
		}
	}()
	// sshd reads authorized_keys as the user it authenticates, so that
	// user must get through the (root-owned, private) temp dir.
	if err := os.Chmod(dir, 0o711); err != nil {
		return p, fmt.Errorf("start sshd: %w", err)
	}
	if err := p.ensureUser(); err != nil {
		return p, err
	}
	if err := p.ensurePrivsepDir(); err != nil {
		return p, err
	}
	for _, k := range []string{"host_key", "id"} {
		out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", p.path(k)).CombinedOutput()
		if err != nil {
			return p, fmt.Errorf("ssh-keygen %s: %w: %s", k, err, out)
		}
	}
	hostPub, err := os.ReadFile(p.path("host_key.pub"))
	if err != nil {
		return p, fmt.Errorf("start sshd: %w", err)
	}
	idPub, err := os.ReadFile(p.path("id.pub"))
	if err != nil {
		return p, fmt.Errorf("start sshd: %w", err)
	}
	if err := os.WriteFile(p.path("authorized_keys"), idPub, 0o644); err != nil {
		return p, fmt.Errorf("start sshd: %w", err)
	}
	if p.port, err = freePort(); err != nil {
		return p, err
	}
	known := fmt.Sprintf("[127.0.0.1]:%d %s", p.port, hostPub)
	if err := os.WriteFile(p.path("known_hosts"), []byte(known), 0o644); err != nil {
		return p, fmt.Errorf("start sshd: %w", err)
	}
	if err := os.WriteFile(p.path("sshd_config"), []byte(p.sshdConfig()), 0o644); err != nil {
		return p, fmt.Errorf("start sshd: %w", err)
	}
	if out, err := exec.Command(sshdPath, "-t", "-f", p.path("sshd_config")).CombinedOutput(); err != nil {
		return p, fmt.Errorf("sshd -t %s: %w: %s", p.path("sshd_config"), err, out)
	}
	if p.sshd, err = startDaemon("sshd", sshdPath, "-D", "-e", "-f", p.path("sshd_config")); err != nil {
		return p, err
	}
	if err := p.waitListening(10 * time.Second); err != nil {
		return p, err
	}
	master := append([]string{"ssh"}, p.clientOptions()...)
	master = append(master, "-M", "-N", "-o", "ControlPersist=no", "-i", p.path("id"), "-o", "IdentitiesOnly=yes",
		"-o", "UserKnownHostsFile="+p.path("known_hosts"), "-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "127.0.0.1")
	if p.master, err = startDaemon("ssh ControlMaster", master...); err != nil {
		return p, err
	}
	if err := p.waitMaster(10 * time.Second); err != nil {
		return p, err
	}
	return p, nil
}

func (p *SSHPeer) path(name string) string { return filepath.Join(p.dir, name) }

// sshdConfig lets in sshUser by key and nothing else, and leaves out what
// a login would cost and a remote command does not need (DNS, motd,
// lastlog, ~/.ssh/rc). StrictModes is off because the key file lives under
// /tmp, which is world-writable; the sshd listens on loopback only.
func (p *SSHPeer) sshdConfig() string {
	return fmt.Sprintf("ListenAddress 127.0.0.1:%d\n", p.port) + sshdSettings(p.path("host_key"), p.path("authorized_keys"), "LogLevel INFO")
}

// sshdSettings is what every sshd of the benchmarks runs with, beside its
// addresses; extra lines go at the end.
func sshdSettings(hostKey, authorizedKeys string, extra ...string) string {
	return fmt.Sprintf(`HostKey %s
PidFile none
AuthorizedKeysFile %s
AllowUsers %s
PermitRootLogin no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitUserRC no
PermitUserEnvironment no
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowTcpForwarding no
`, hostKey, authorizedKeys, sshUser) + strings.Join(extra, "\n") + "\n"
}

// clientOptions are the options every ssh here starts with. -F /dev/null:
// no ssh_config is read, which is cheaper than any site's.
func (p *SSHPeer) clientOptions() []string {
	return []string{"-F", "/dev/null", "-o", "ControlPath=" + p.path("ctl"), "-o", "LogLevel=ERROR",
		"-p", strconv.Itoa(p.port), "-l", sshUser}
}

// Command is the argv that runs cmd through the ControlMaster.
func (p *SSHPeer) Command(cmd ...string) []string {
	argv := append([]string{"ssh"}, p.clientOptions()...)
	argv = append(argv, "-o", "ControlMaster=no", "127.0.0.1")
	return append(argv, cmd...)
}

func (p *SSHPeer) waitListening(timeout time.Duration) error {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port))
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if !p.sshd.running() || time.Now().After(deadline) {
			return fmt.Errorf("sshd on %s: not listening (%v); log:\n%s", addr, err, p.sshd.log)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitMaster waits until the ControlMaster has authenticated and answers
// on its socket.
func (p *SSHPeer) waitMaster(timeout time.Duration) error {
	check := append([]string{"ssh"}, p.clientOptions()...)
	check = append(check, "-O", "check", "127.0.0.1")
	deadline := time.Now().Add(timeout)
	for {
		out, err := exec.Command(check[0], check[1:]...).CombinedOutput()
		if err == nil {
			return nil
		}
		if !p.master.running() || time.Now().After(deadline) {
			return fmt.Errorf("ssh ControlMaster to 127.0.0.1:%d: not up (%v: %s); its log:\n%s\nsshd log:\n%s",
				p.port, err, out, p.master.log, p.sshd.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop ends the ControlMaster, then the sshd, checks that no process of
// either is left (sshd's per-connection children outlive a SIGTERM to the
// listener, so they are waited for), then undoes the machine changes and
// removes the temp dir.
func (p *SSHPeer) Stop() error {
	var errs []error
	var left []int
	if p.sshd != nil {
		left = descendants(p.sshd.cmd.Process.Pid)
		// sshd's per-connection monitor exits without reaping its
		// user-side child, which goes to PID 1 as a zombie; in a
		// container PID 1 may take seconds to reap it. As a subreaper
		// for the while, this process gets it and reaps it itself.
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err == nil {
			defer unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
		}
	}
	if err := p.master.stop(); err != nil {
		errs = append(errs, err)
	}
	// The connection's sshd exits with the ControlMaster; let the
	// listener reap it before the listener goes, or it is left a zombie
	// for PID 1, which in a container may be slow to reap it or never do.
	if p.sshd != nil {
		deadline := time.Now().Add(5 * time.Second)
		for len(children(p.sshd.cmd.Process.Pid)) > 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
	if err := p.sshd.stop(); err != nil {
		errs = append(errs, err)
	}
	if err := waitGone(left, 5*time.Second); err != nil {
		errs = append(errs, fmt.Errorf("sshd: %w", err))
	}
	for i := len(p.undo) - 1; i >= 0; i-- {
		if err := p.undo[i](); err != nil {
			errs = append(errs, err)
		}
	}
	if p.dir != "" {
		if err := os.RemoveAll(p.dir); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", p.dir, err))
		}
	}
	return errors.Join(errs...)
}

// ensureUser creates sshUser if it is missing, and deletes it again at
// Stop. The password field is "*", not useradd's "!": without PAM, sshd
// takes "!" for a locked account and refuses even a key.
func (p *SSHPeer) ensureUser() error {
	if _, err := user.Lookup(sshUser); err == nil {
		return nil
	}
	out, err := exec.Command("useradd", "--system", "--no-create-home", "--home-dir", "/",
		"--shell", "/bin/sh", "--password", "*", sshUser).CombinedOutput()
	if err != nil {
		return fmt.Errorf("useradd %s: %w: %s", sshUser, err, out)
	}
	p.undo = append(p.undo, func() error {
		if out, err := exec.Command("userdel", sshUser).CombinedOutput(); err != nil {
			return fmt.Errorf("userdel %s: %w: %s", sshUser, err, out)
		}
		return nil
	})
	return nil
}

// ensurePrivsepDir makes /run/sshd, where sshd chroots its unprivileged
// pre-auth child; the init script would make it, but none ran.
func (p *SSHPeer) ensurePrivsepDir() error {
	const dir = "/run/sshd"
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return fmt.Errorf("start sshd: %w", err)
	}
	p.undo = append(p.undo, func() error {
		if err := os.Remove(dir); err != nil {
			return fmt.Errorf("remove %s: %w", dir, err)
		}
		return nil
	})
	return nil
}

// ensureOpenSSH installs openssh-server and -client with apt-get if sshd,
// ssh or ssh-keygen is missing; the package lists are updated only if the
// first try fails, as they usually are recent enough.
func ensureOpenSSH(logf func(string, ...any)) error {
	if haveOpenSSH() {
		return nil
	}
	logf("installing openssh-server and openssh-client with apt-get")
	if err := aptInstall("openssh-server", "openssh-client"); err != nil {
		return err
	}
	if !haveOpenSSH() {
		return fmt.Errorf("apt-get installed openssh, but %s, ssh or ssh-keygen is still missing", sshdPath)
	}
	return nil
}

func haveOpenSSH() bool {
	if _, err := os.Stat(sshdPath); err != nil {
		return false
	}
	for _, c := range []string{"ssh", "ssh-keygen", "useradd", "userdel"} {
		if _, err := exec.LookPath(c); err != nil {
			return false
		}
	}
	return true
}

// freePort asks the kernel for a free loopback port. Another program
// could take it before sshd binds it; sshd then fails to start, and says
// so, which is good enough for a benchmark.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}
