package bench

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// pdshPath is pdsh itself: Debian's /usr/bin/pdsh is a bash script that
// only picks the rcmd module (given here with -R) and execs this as
// "pdsh", and bash's start would be charged to pdsh. pdsh goes by its
// name, so it is run through a symlink named pdsh.
const pdshPath = "/usr/bin/pdsh.bin"

// clushPath is ClusterShell's clush, a Python program.
const clushPath = "/usr/bin/clush"

// ParallelShell is pdsh or clush set up to run commands over ssh with the
// options the ssh row has, and, for several targets, their own fan-out.
type ParallelShell struct {
	Name string // "pdsh" or "clush"
	env  []string
	argv []string // up to the host list
}

// Command is the argv and environment that run cmd on hosts.
func (s *ParallelShell) Command(hosts string, cmd ...string) (env, argv []string) {
	argv = append(append([]string{}, s.argv...), "-w", hosts)
	return s.env, append(argv, cmd...)
}

// Given says what the shell was given, for the report's notes.
func (s *ParallelShell) Given() string {
	var env []string
	for _, e := range s.env {
		if strings.HasPrefix(e, "PDSH_") || strings.HasPrefix(e, "CLUSTERSHELL_") {
			env = append(env, e)
		}
	}
	return strings.TrimSpace(strings.Join(env, " ") + " " + strings.Join(s.argv, " "))
}

// Pdsh is `pdsh -R ssh -S -l USER` whose ssh gets sshArgs (PDSH_SSH_ARGS:
// pdsh adds %u and %h itself only when they are missing, so they are
// given). -S makes pdsh exit with the largest remote status, so that a
// failure shows rather than passing for a fast run. fanout 0 keeps pdsh's
// own (32). Its symlink is made in dir.
func Pdsh(dir string, sshArgs []string, fanout int) (*ParallelShell, error) {
	link := filepath.Join(dir, "pdsh")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("pdsh: %w", err)
	}
	if err := os.Symlink(pdshPath, link); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("pdsh: %w", err)
	}
	env := append(os.Environ(), "PDSH_SSH_ARGS="+strings.Join(sshArgs, " ")+" -l%u %h")
	argv := []string{link, "-R", "ssh", "-S", "-l", sshUser}
	if fanout > 0 {
		argv = append(argv, "-f", strconv.Itoa(fanout))
	}
	return &ParallelShell{Name: "pdsh", env: env, argv: argv}, nil
}

// Clush is `clush -n -S` with a clush.conf of its own in dir
// (CLUSTERSHELL_CFGDIR, which also keeps the machine's groups out) that
// gives ssh sshArgs and the user. fanout 0 keeps clush's own (64).
func Clush(dir string, sshArgs []string, fanout int) (*ParallelShell, error) {
	if fanout == 0 {
		fanout = 64
	}
	conf := fmt.Sprintf(`[Main]
fanout: %d
connect_timeout: 15
command_timeout: 0
color: never
fd_max: 8192
history_size: 0
node_count: yes
verbosity: 1
ssh_user: %s
ssh_path: /usr/bin/ssh
ssh_options: %s
`, fanout, sshUser, strings.Join(sshArgs, " "))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("clush config: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "clush.conf"), []byte(conf), 0o644); err != nil {
		return nil, fmt.Errorf("clush config: %w", err)
	}
	env := append(os.Environ(), "CLUSTERSHELL_CFGDIR="+dir)
	return &ParallelShell{Name: "clush", env: env, argv: []string{clushPath, "-n", "-S"}}, nil
}

// PdshClush are pdsh and clush for the run's SSHPeer: the ssh row's
// options and its one ControlMaster (its ControlPath names no host, so
// `-w localhost` goes through it too).
func (p *SSHPeer) PdshClush() (pdsh, clush *ParallelShell, err error) {
	args := []string{"-F", "/dev/null", "-o", "ControlPath=" + p.path("ctl"), "-o", "LogLevel=ERROR",
		"-p", strconv.Itoa(p.port), "-o", "ControlMaster=no"}
	if clush, err = Clush(p.path("clush"), args, 0); err != nil {
		return nil, nil, err
	}
	pdsh, err = Pdsh(p.path("pdsh"), args, 0)
	return pdsh, clush, err
}

// PdshClush are pdsh and clush for the farm's targets, with the farm's
// ssh_config, and fanout (0: each one's own default).
func (f *SSHFarm) PdshClush(fanout int) (pdsh, clush *ParallelShell, err error) {
	args := []string{"-F", f.ConfigFile()}
	if clush, err = Clush(f.path(fmt.Sprintf("clush-%d", fanout)), args, fanout); err != nil {
		return nil, nil, err
	}
	pdsh, err = Pdsh(f.path("pdsh"), args, fanout)
	return pdsh, clush, err
}

// ensurePdshClush installs pdsh and clustershell with apt-get where
// missing, as ensureOpenSSH does openssh.
func ensurePdshClush(logf func(string, ...any)) error {
	var pkgs []string
	if _, err := os.Stat(pdshPath); err != nil {
		pkgs = append(pkgs, "pdsh")
	}
	if _, err := os.Stat(clushPath); err != nil {
		pkgs = append(pkgs, "clustershell")
	}
	if len(pkgs) == 0 {
		return nil
	}
	logf("installing %s with apt-get", strings.Join(pkgs, " and "))
	if err := aptInstall(pkgs...); err != nil {
		return err
	}
	for _, p := range []string{pdshPath, clushPath} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("apt-get installed %s, but: %w", strings.Join(pkgs, " "), err)
		}
	}
	return nil
}

// aptInstall installs Debian packages, updating the package lists only if
// the first try fails.
func aptInstall(pkgs ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	apt := func(args ...string) error {
		args = append([]string{"-o", "DPkg::Lock::Timeout=300"}, args...)
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("apt-get %s: %w: %s", strings.Join(args, " "), err, tail(out, 800))
		}
		return nil
	}
	install := append([]string{"install", "-y", "-q"}, pkgs...)
	if err := apt(install...); err != nil {
		if err := apt("update", "-q"); err != nil {
			return err
		}
		return apt(install...)
	}
	return nil
}
