package noderoot

// The tests run Setup for real, in processes of their own: the test binary
// re-executes itself with an environment variable that TestMain recognises
// (helperEnv), as PID 1 of fresh namespaces. The helper checks from inside,
// prints a JSON report on stdout and exits; the outer test asserts on it.
// When a helper dies, its namespaces and every mount in them go with it, so
// nothing is left behind even when a test fails or times out.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const (
	helperEnv   = "BPROC_NODEROOT_HELPER"       // the helper's mode
	hostnameEnv = "BPROC_NODEROOT_HOSTNAME"     // node mode: Options.Hostname
	binaryEnv   = "BPROC_NODEROOT_BINARY"       // node mode: Options.Binary
	sharedEnv   = "BPROC_NODEROOT_EXPECT_SHARE" // node mode: "/" must start shared
	childEnv    = "BPROC_NODEROOT_CHILD"        // host mode: the child's mode

	missingBinary = "/nonexistent/bproc-noderoot-test"
)

const nodeFlags = syscall.CLONE_NEWPID | syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC

// modeFlags are the namespaces each helper mode is started in.
var modeFlags = map[string]uintptr{
	"node":           nodeFlags,
	"missing-binary": nodeFlags,
	"bare":           nodeFlags,
	// A fresh mount namespace, but not PID 1.
	"not-pid1": syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS,
	// PID 1, but in its parent's mount namespace.
	"shared-ns": syscall.CLONE_NEWPID | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC,
	// A stand-in for a host whose / is shared, as systemd makes it.
	"host": syscall.CLONE_NEWNS,
}

// modeRuns are what each helper mode does (a map of its own: hostMode
// spawns helpers, which needs modeFlags).
var modeRuns = map[string]func() report{
	"node":           nodeMode,
	"missing-binary": missingBinaryMode,
	"bare":           bareMode,
	"not-pid1":       notPID1Mode,
	"shared-ns":      sharedNSMode,
	"host":           hostMode,
}

type check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

type report struct {
	SetupMS float64 `json:"setup_ms"`
	Checks  []check `json:"checks"`
}

func (r *report) add(name string, ok bool, format string, args ...any) {
	r.Checks = append(r.Checks, check{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
}

// helperMain is the helper process's main; it returns the exit status.
func helperMain(mode string) int {
	run, ok := modeRuns[mode]
	if !ok {
		fmt.Fprintf(os.Stderr, "noderoot helper: unknown mode %q\n", mode)
		return 2
	}
	if err := json.NewEncoder(os.Stdout).Encode(run()); err != nil {
		fmt.Fprintf(os.Stderr, "noderoot helper: %v\n", err)
		return 1
	}
	return 0
}

// spawn runs the helper exe in mode, in that mode's new namespaces, and
// decodes its report.
func spawn(ctx context.Context, exe, mode string, env ...string) (report, string, error) {
	cmd := exec.CommandContext(ctx, exe, "-test.run=^TestHelperNode$")
	cmd.Env = append(os.Environ(), append([]string{helperEnv + "=" + mode}, env...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: modeFlags[mode], Pdeathsig: syscall.SIGKILL}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return report{}, stderr.String(), fmt.Errorf("helper %s: %w", mode, err)
	}
	var r report
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		return report{}, stderr.String(), fmt.Errorf("helper %s: report %q: %w", mode, stdout.String(), err)
	}
	return r, stderr.String(), nil
}

func nodeMode() report {
	var r report
	hostname, bin := os.Getenv(hostnameEnv), os.Getenv(binaryEnv)

	// What the master's view shows, read before Setup takes it away.
	binSum, binErr := fileSum(bin)
	osRelease, _ := os.ReadFile("/etc/os-release")
	hostPTS, _ := devOf("/dev/pts")
	_, varTmpErr := os.Lstat("/var/tmp")
	if os.Getenv(sharedEnv) != "" {
		mi, _ := os.ReadFile("/proc/self/mountinfo")
		opt := rootOptional(mi)
		r.add("/ starts shared (propagation would reach the host)", strings.Contains(opt, "shared:"), "optional fields %q", opt)
	}

	start := time.Now()
	err := Setup(Options{Hostname: hostname, Binary: bin, MasterView: true, TmpSize: "16m"})
	r.SetupMS = float64(time.Since(start).Microseconds()) / 1000
	r.add("Setup", err == nil, "%v", err)
	if err != nil {
		return r
	}

	got, err := os.Hostname()
	r.add("hostname", err == nil && got == hostname, "got %q (%v), want %q", got, err, hostname)

	fi, err := os.Stat("/init")
	sum, sumErr := fileSum("/init")
	r.add("/init is the binary, 0755", err == nil && fi.Mode() == 0o755 && binErr == nil && sumErr == nil && sum == binSum,
		"stat %v %v, sha256 %x (%v), binary %x (%v)", modeOf(fi), err, sum, sumErr, binSum, binErr)

	out, err := exec.Command("/usr/bin/true").CombinedOutput()
	r.add("/usr/bin/true runs", err == nil, "%v %q", err, out)

	err = roProbe("/usr")
	r.add("/usr is read-only", errors.Is(err, syscall.EROFS), "write: %v", err)

	mi, err := os.ReadFile("/proc/self/mountinfo")
	r.add("read mountinfo", err == nil, "%v", err)
	mounts := parseMountinfo(mi)
	if sub := firstUnder(mounts, "/sys/"); sub != "" {
		err := roProbe(sub)
		r.add("submount "+sub+" is read-only (recursive)", errors.Is(err, syscall.EROFS), "write: %v", err)
	}
	var writable, roots []string
	for _, m := range mounts {
		if !m.ro && !writableOK[m.point] {
			writable = append(writable, m.point)
		}
		if m.point == "/" {
			roots = append(roots, m.fstype+" "+m.source)
		}
	}
	r.add("only the expected mounts are writable", len(writable) == 0, "also writable: %q", writable)
	r.add("/ is the new tmpfs, old root gone", slices.Equal(roots, []string{"tmpfs noderoot"}), "mounts on /: %q", roots)
	wd, _ := os.Getwd()
	r.add("working directory", wd == "/", "%q", wd)

	ents, err := os.ReadDir("/tmp")
	r.add("/tmp is new and empty", err == nil && len(ents) == 0, "%d entries, %v", len(ents), err)
	fi, err = os.Stat("/tmp")
	r.add("/tmp mode 1777", err == nil && fi.Mode()&(fs.ModePerm|fs.ModeSticky) == 0o777|fs.ModeSticky, "%v %v", modeOf(fi), err)
	writableDirs := []string{"/", "/tmp", "/run", "/dev/shm"}
	if varTmpErr == nil {
		writableDirs = append(writableDirs, "/var/tmp")
	}
	for _, d := range writableDirs {
		err := os.WriteFile(d+"/.noderoot-probe", []byte("x"), 0o644)
		r.add(d+" is writable", err == nil, "%v", err)
	}
	err = roProbe("/dev")
	r.add("/dev itself is read-only", errors.Is(err, syscall.EROFS), "write: %v", err)

	self, err := os.Readlink("/proc/self")
	r.add("/proc is the node's: /proc/self", os.Getpid() == 1 && self == "1", "getpid %d, /proc/self %q %v", os.Getpid(), self, err)
	pids := procPIDs()
	r.add("/proc shows only this process", slices.Equal(pids, []string{"1"}), "pids %q", pids)

	err = os.WriteFile("/dev/null", []byte("x"), 0)
	b, rerr := os.ReadFile("/dev/null")
	r.add("/dev/null", err == nil && rerr == nil && len(b) == 0, "write %v, read %d bytes %v", err, len(b), rerr)
	zero := make([]byte, 16)
	zf, err := os.Open("/dev/zero")
	if err == nil {
		_, err = zf.Read(zero)
		zf.Close()
	}
	r.add("/dev/zero", err == nil && bytes.Equal(zero, make([]byte, 16)), "%v", err)
	uf, err := os.Open("/dev/urandom")
	if err == nil {
		_, err = uf.Read(zero)
		uf.Close()
	}
	r.add("/dev/urandom", err == nil, "%v", err)

	r.addPTY(hostPTS)
	fdl, err := os.Readlink("/dev/fd")
	r.add("/dev/fd", fdl == "/proc/self/fd", "%q %v", fdl, err)
	rel, err := os.ReadFile("/etc/os-release")
	r.add("master view: /etc/os-release", err == nil && len(rel) > 0 && bytes.Equal(rel, osRelease), "%d bytes, %v", len(rel), err)
	return r
}

// roProbe tries to create a file in dir, which must fail with EROFS. The
// master view is the machine's own files: should it be writable after all,
// access(2) says so before anything is written, and a file that did get
// created is removed at once.
func roProbe(dir string) error {
	if err := unix.Access(dir, unix.W_OK); !errors.Is(err, syscall.EROFS) {
		return fmt.Errorf("access(%s, W_OK) = %v, not written to", dir, err)
	}
	p := dir + "/.noderoot-probe"
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	f.Close()
	os.Remove(p)
	return fmt.Errorf("created %s (removed again)", p)
}

// bareMode makes a node without the master view: the root holds /init and
// the node's own file systems, nothing else.
func bareMode() report {
	var r report
	start := time.Now()
	err := Setup(Options{Hostname: "n-bare", Binary: "/proc/self/exe"})
	r.SetupMS = float64(time.Since(start).Microseconds()) / 1000
	r.add("Setup", err == nil, "%v", err)
	if err != nil {
		return r
	}
	ents, err := os.ReadDir("/")
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	want := []string{"dev", "init", "proc", "run", "sys", "tmp"}
	r.add("root holds only the node's own", err == nil && slices.Equal(names, want), "%q, want %q (%v)", names, want, err)
	err = os.WriteFile("/dev/null", []byte("x"), 0)
	r.add("/dev/null", err == nil, "%v", err)
	r.add("/proc shows only this process", slices.Equal(procPIDs(), []string{"1"}), "pids %q", procPIDs())
	return r
}

// writableOK are the mounts a node may write to; everything else must be
// read-only. /proc is the node's own procfs; the device binds are devices.
var writableOK = map[string]bool{
	"/": true, "/tmp": true, "/run": true, "/var/tmp": true, "/dev/shm": true,
	"/dev/pts": true, "/proc": true,
	"/dev/null": true, "/dev/zero": true, "/dev/full": true, "/dev/random": true,
	"/dev/urandom": true, "/dev/tty": true, "/dev/fuse": true,
}

// addPTY opens a pty through /dev/ptmx and checks it came from a devpts of
// the node's own.
func (r *report) addPTY(hostPTS uint64) {
	f, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		r.add("open /dev/ptmx", false, "%v", err)
		return
	}
	defer f.Close()
	n, err := unix.IoctlGetInt(int(f.Fd()), unix.TIOCGPTN)
	if err == nil {
		err = unix.IoctlSetPointerInt(int(f.Fd()), unix.TIOCSPTLCK, 0)
	}
	_, serr := os.Stat(fmt.Sprintf("/dev/pts/%d", n))
	r.add("open /dev/ptmx", err == nil && serr == nil && n == 0, "pty %d (%v), /dev/pts/%d: %v", n, err, n, serr)
	dev, err := devOf("/dev/pts")
	r.add("/dev/pts is a new devpts", err == nil && dev != hostPTS, "dev %#x, host's %#x, %v", dev, hostPTS, err)
}

// errorMode runs Setup where it must refuse, and checks that it changed
// nothing: not the hostname, not one byte of the mount table.
func errorMode(o Options, want func(error) bool, wantDesc string) report {
	var r report
	host, _ := os.Hostname()
	before, _ := os.ReadFile("/proc/self/mountinfo")
	start := time.Now()
	err := Setup(o)
	r.SetupMS = float64(time.Since(start).Microseconds()) / 1000
	r.add("Setup error "+wantDesc, err != nil && want(err), "%v", err)
	after, _ := os.ReadFile("/proc/self/mountinfo")
	r.add("mount table unchanged", len(before) > 0 && bytes.Equal(before, after), "%s", diffLines(before, after))
	got, _ := os.Hostname()
	r.add("hostname unchanged", got == host, "%q, was %q", got, host)
	return r
}

func missingBinaryMode() report {
	o := Options{Hostname: "n-missing", Binary: missingBinary, MasterView: true}
	return errorMode(o, func(err error) bool {
		return errors.Is(err, fs.ErrNotExist) && strings.Contains(err.Error(), missingBinary)
	}, "names "+missingBinary)
}

func notPID1Mode() report {
	o := Options{Hostname: "n-notpid1", Binary: "/proc/self/exe", MasterView: true}
	return errorMode(o, func(err error) bool { return errors.Is(err, ErrNotPID1) }, "is ErrNotPID1")
}

func sharedNSMode() report {
	o := Options{Hostname: "n-shared", Binary: "/proc/self/exe", MasterView: true}
	return errorMode(o, func(err error) bool { return errors.Is(err, ErrSharedMountNS) }, "is ErrSharedMountNS")
}

// hostMode plays a host whose mounts are shared, as on any systemd machine
// (this machine's / is private, which would hide a propagation bug). It
// first cuts itself off from the real host, gives itself an empty /tmp and
// /mnt so that anything written there shows, makes everything shared, then
// runs the child mode and checks that its own mount table and its /tmp and
// /mnt did not change.
func hostMode() report {
	var r report
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		r.add("host: make / private", false, "%v", err)
		return r
	}
	for _, d := range []string{"/tmp", "/mnt"} {
		if err := unix.Mount("tmpfs", d, "tmpfs", 0, "size=1m"); err != nil {
			r.add("host: tmpfs on "+d, false, "%v", err)
			return r
		}
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SHARED, ""); err != nil {
		r.add("host: make / shared", false, "%v", err)
		return r
	}
	before := takeSnapshot()
	child := os.Getenv(childEnv)
	// The test binary's path is under the real /tmp, now covered:
	// /proc/self/exe still leads to it.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cr, stderr, err := spawn(ctx, "/proc/self/exe", child,
		hostnameEnv+"=n-host", binaryEnv+"=/proc/self/exe", sharedEnv+"=1")
	if err != nil {
		r.add("host: run "+child, false, "%v; stderr %s", err, stderr)
		return r
	}
	r.SetupMS = cr.SetupMS
	for _, c := range cr.Checks {
		c.Name = child + ": " + c.Name
		r.Checks = append(r.Checks, c)
	}
	after := takeSnapshot()
	r.add("host: mount table unchanged", len(before.mountinfo) > 0 && bytes.Equal(before.mountinfo, after.mountinfo),
		"%s", diffLines(before.mountinfo, after.mountinfo))
	r.add("host: /tmp and /mnt unchanged", slices.Equal(before.files, after.files), "before %q, after %q", before.files, after.files)
	return r
}

type snapshot struct {
	mountinfo []byte
	files     []string // entries of /tmp and /mnt
}

func takeSnapshot() snapshot {
	var s snapshot
	s.mountinfo, _ = os.ReadFile("/proc/self/mountinfo")
	for _, d := range []string{"/tmp", "/mnt"} {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			s.files = append(s.files, d+"/"+e.Name())
		}
	}
	return s
}

type mount struct {
	point, fstype, source string
	ro                    bool
}

// parseMountinfo reads the fields the checks need from proc(5)'s
// mountinfo: 5 is the mount point, 6 the per-mount options, and after the
// "-" separator come the file system type and source.
func parseMountinfo(b []byte) []mount {
	var out []mount
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		sep := slices.Index(f, "-")
		if len(f) < 6 || sep < 0 || sep+2 >= len(f) {
			continue
		}
		out = append(out, mount{
			point:  f[4],
			fstype: f[sep+1],
			source: f[sep+2],
			ro:     slices.Contains(strings.Split(f[5], ","), "ro"),
		})
	}
	return out
}

// rootOptional returns the optional fields (shared:N, master:N) of the
// mount on /.
func rootOptional(b []byte) string {
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 6 && f[4] == "/" {
			sep := slices.Index(f, "-")
			if sep > 6 {
				return strings.Join(f[6:sep], " ")
			}
			return ""
		}
	}
	return ""
}

func firstUnder(ms []mount, prefix string) string {
	for _, m := range ms {
		if strings.HasPrefix(m.point, prefix) {
			return m.point
		}
	}
	return ""
}

func procPIDs() []string {
	ents, _ := os.ReadDir("/proc")
	var pids []string
	for _, e := range ents {
		if n := e.Name(); n[0] >= '0' && n[0] <= '9' {
			pids = append(pids, n)
		}
	}
	return pids
}

func fileSum(path string) ([32]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return [32]byte{}, err
	}
	return sha256.Sum256(b), nil
}

func devOf(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, err
	}
	return st.Dev, nil
}

func modeOf(fi fs.FileInfo) fs.FileMode {
	if fi == nil {
		return 0
	}
	return fi.Mode()
}

// diffLines lists the lines only in a ("-") and only in b ("+").
func diffLines(a, b []byte) string {
	as, bs := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	var d []string
	for _, l := range as {
		if !slices.Contains(bs, l) {
			d = append(d, "-"+l)
		}
	}
	for _, l := range bs {
		if !slices.Contains(as, l) {
			d = append(d, "+"+l)
		}
	}
	return strings.Join(d, "\n")
}
