package nodeview

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pkg/sftp"

	"github.com/bproc/bproc/internal/shared/contentcache"
	"github.com/bproc/bproc/internal/shared/pdeathsig"
	"github.com/bproc/bproc/internal/shared/sftplist"
	"github.com/bproc/bproc/internal/shared/wire"
)

// The test binary plays three parts, chosen by helperEnv: the tests; the
// master's sftp server, started as the user a session is for, so the kernel
// checks that user's permissions on the "master" side as it does in
// production; and a program of a node user reading through the view.
const helperEnv = "MASTERVIEW_TEST_HELPER"

const nobody = 65534

// helperBin is a copy of the test binary that every user may run: go test
// builds it in a directory only its owner can enter.
var helperBin string

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "sftp-server":
		os.Exit(serveSFTP())
	case "client":
		os.Exit(client(os.Args[1], os.Args[2]))
	}
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	if os.Geteuid() == 0 {
		dir, err := publicDir("nodeview-helper-")
		if err == nil {
			helperBin = filepath.Join(dir, "helper")
			err = copyFile(os.Args[0], helperBin, 0o755)
			defer os.RemoveAll(dir)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "nodeview test: helper binary:", err)
			return 1
		}
	}
	return m.Run()
}

// serveSFTP serves sftp on stdin and stdout with this process's
// credentials, read-only like the master's file service, and like it with
// the content's sum in the answer to a stat of a regular file this
// process may read (contentcache.StatExtension). MASTERVIEW_TEST_NOSUMS
// leaves the sums out.
func serveSFTP() int {
	h := &helperFiles{sums: os.Getenv("MASTERVIEW_TEST_NOSUMS") == ""}
	s := sftp.NewRequestServer(stdio{os.Stdin, os.Stdout}, sftp.Handlers{FileGet: h, FilePut: h, FileCmd: h, FileList: h})
	if err := s.Serve(); err != nil && !errors.Is(err, io.EOF) {
		return 1
	}
	return 0
}

// helperFiles is the test's master file service.
type helperFiles struct {
	sums   bool
	hashes contentcache.Hashes
}

// Fileread opens the file for a node to read; MASTERVIEW_TEST_NOREAD
// refuses every read (the test checks a view needed none).
func (h *helperFiles) Fileread(r *sftp.Request) (io.ReaderAt, error) {
	if os.Getenv("MASTERVIEW_TEST_NOREAD") != "" {
		return nil, sftp.ErrSSHFxPermissionDenied
	}
	return os.Open(r.Filepath)
}
func (h *helperFiles) Filewrite(*sftp.Request) (io.WriterAt, error) {
	return nil, sftp.ErrSSHFxPermissionDenied
}
func (h *helperFiles) Filecmd(*sftp.Request) error { return sftp.ErrSSHFxPermissionDenied }

func (h *helperFiles) Filelist(r *sftp.Request) (sftp.ListerAt, error) {
	switch r.Method {
	case "List":
		ents, err := os.ReadDir(r.Filepath)
		if err != nil {
			return nil, err
		}
		var infos []os.FileInfo
		for _, e := range ents {
			if fi, err := e.Info(); err == nil {
				infos = append(infos, fi)
			}
		}
		return sftplist.Entries(infos), nil
	case "Stat":
		fi, err := os.Stat(r.Filepath)
		if err != nil {
			return nil, err
		}
		if h.sums && fi.Mode().IsRegular() {
			sumOf := r.Filepath
			// MASTERVIEW_TEST_SUMOF=a=b: a stat of a gives b's sum, as
			// if a changed while the view fetched it.
			if a, b, ok := strings.Cut(os.Getenv("MASTERVIEW_TEST_SUMOF"), "="); ok && a == r.Filepath {
				sumOf = b
			}
			if f, err := os.Open(sumOf); err == nil {
				if sum, _, err := h.hashes.SumFile(f); err == nil {
					fi = summed{fi, sum.String()}
				}
				f.Close()
			}
		}
		return sftplist.Entries{fi}, nil
	}
	return nil, sftp.ErrSSHFxOpUnsupported
}

// Lstat answers as the master does; with MASTERVIEW_TEST_WATCHED set,
// every answer says the master watches it (wire.StatWatched), and the
// test plays the master's notices itself (View.Invalidate).
func (h *helperFiles) Lstat(r *sftp.Request) (sftp.ListerAt, error) {
	fi, err := os.Lstat(r.Filepath)
	if err != nil {
		return nil, err
	}
	if os.Getenv("MASTERVIEW_TEST_WATCHED") != "" {
		fi = watchedInfo{fi}
	}
	return sftplist.Entries{fi}, nil
}

type watchedInfo struct{ os.FileInfo }

func (watchedInfo) Extended() []sftp.StatExtended {
	return []sftp.StatExtended{{ExtType: wire.StatWatched}}
}

func (h *helperFiles) Readlink(p string) (string, error) { return os.Readlink(p) }

type summed struct {
	os.FileInfo
	sum string
}

func (s summed) Extended() []sftp.StatExtended {
	return []sftp.StatExtended{{ExtType: contentcache.StatExtension, ExtData: s.sum}}
}

type stdio struct {
	io.Reader
	io.WriteCloser
}

// client does one thing to a file of the view and prints the outcome:
// "ok <output>" or "errno <n>".
func client(op, p string) int {
	var out string
	var err error
	switch op {
	case "read":
		var b []byte
		b, err = os.ReadFile(p)
		out = string(b)
	case "sha256":
		var b []byte
		b, err = os.ReadFile(p)
		sum := sha256.Sum256(b)
		out = hex.EncodeToString(sum[:])
	case "stat":
		_, err = os.Stat(p)
	case "create":
		err = os.WriteFile(p, []byte("made here"), 0o644)
	case "symlink":
		err = os.Symlink(os.Getenv("MASTERVIEW_TEST_TARGET"), p)
	case "exec":
		// Here, not in the test process: see TestExecFromTheView.
		var b []byte
		b, err = exec.Command(p, "ran from the view").Output()
		out = string(b)
	case "list":
		var ents []os.DirEntry
		ents, err = os.ReadDir(p)
		for _, e := range ents {
			out += e.Name() + " "
		}
	default:
		err = fmt.Errorf("unknown op %q", op)
	}
	var e syscall.Errno
	switch {
	case errors.As(err, &e):
		fmt.Printf("errno %d", int(e))
	case err != nil:
		fmt.Printf("error %v", err)
	default:
		fmt.Printf("ok %s", out)
	}
	return 0
}

// asUser runs client op on p as uid and returns its output and errno.
func asUser(t *testing.T, uid uint32, op, p string) (string, syscall.Errno) {
	t.Helper()
	out, e, err := asUserErr(uid, op, p)
	if err != nil {
		t.Fatal(err)
	}
	return out, e
}

// asUserGroups is asUser with supplementary groups.
func asUserGroups(t *testing.T, uid uint32, groups []uint32, op, p string) (string, syscall.Errno) {
	t.Helper()
	out, e, err := asUserGroupsErr(uid, groups, op, p)
	if err != nil {
		t.Fatal(err)
	}
	return out, e
}

// asUserErr is asUser for goroutines other than the test's.
func asUserErr(uid uint32, op, p string) (string, syscall.Errno, error) {
	return asUserGroupsErr(uid, []uint32{}, op, p)
}

func asUserGroupsErr(uid uint32, groups []uint32, op, p string) (string, syscall.Errno, error) {
	if groups == nil {
		groups = []uint32{}
	}
	target := ""
	if o, tg, ok := strings.Cut(op, ":"); ok {
		op, target = o, tg
	}
	cmd := exec.Command(helperBin, op, p)
	cmd.Env = append(os.Environ(), helperEnv+"=client", "MASTERVIEW_TEST_TARGET="+target)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid, Groups: groups}}
	b, err := cmd.Output()
	if err != nil {
		return "", 0, fmt.Errorf("client %s %s as uid %d: %w", op, p, uid, err)
	}
	s := string(b)
	switch {
	case strings.HasPrefix(s, "ok "):
		return s[3:], 0, nil
	case strings.HasPrefix(s, "errno "):
		n, _ := strconv.Atoi(s[6:])
		return "", syscall.Errno(n), nil
	}
	return "", 0, fmt.Errorf("client %s %s as uid %d: %s", op, p, uid, s)
}

// dialer starts an sftp server process per session, as the session's user,
// and remembers them so a test can kill them (a master that went away).
type dialer struct {
	mu    sync.Mutex
	procs []server
}

type server struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when it exited
}

func (d *dialer) dial(uid, gid uint32) (*sftp.Client, error) {
	// Pipes of our own rather than cmd.StdinPipe: the server's exit is
	// waited for in the background, which must not close them under the
	// client.
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(helperBin)
	cmd.Env = append(os.Environ(), helperEnv+"=sftp-server")
	cmd.Dir = "/"
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}},
		Pdeathsig:  syscall.SIGKILL,
	}
	// From pdeathsig's thread: the view acts as users on threads that
	// end with the operation, and a server forked by one of them would be
	// killed with it (a lookup then failed with EPIPE in CI).
	err = pdeathsig.Start(cmd)
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, fmt.Errorf("start sftp server as uid %d: %w", uid, err)
	}
	srv := server{cmd: cmd, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(srv.done)
	}()
	d.mu.Lock()
	d.procs = append(d.procs, srv)
	d.mu.Unlock()
	return sftp.NewClientPipe(bufio.NewReaderSize(outR, 64<<10), inW)
}

// killAll kills every server: every session's connection breaks.
func (d *dialer) killAll() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range d.procs {
		p.cmd.Process.Kill()
	}
}

// running counts the servers still running.
func (d *dialer) running() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, p := range d.procs {
		select {
		case <-p.done:
		default:
			n++
		}
	}
	return n
}

// publicDir makes a directory every user may enter (t.TempDir's parent is
// its owner's only).
func publicDir(prefix string) (string, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", err
	}
	return dir, os.Chmod(dir, 0o755)
}

func copyFile(src, dst string, mode os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, mode)
}

// mounted reports whether dir is a mount point in /proc/self/mountinfo.
func mounted(t *testing.T, dir string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && f[4] == dir {
			return true
		}
	}
	return false
}

// needFUSE skips a test that cannot mount.
func needFUSE(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: mounts FUSE and acts as other users")
	}
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("needs /dev/fuse: %v", err)
	}
	f.Close()
}

// testView is a view of a fresh "master" directory.
type testView struct {
	*View
	master string // the master's directory the view shows
	mnt    string
	cache  string
	d      *dialer
}

// mountTest mounts a view of a new master directory; opts.Root, Dial and
// CacheDir are filled in unless set, and prepare, if given, may change
// opts knowing the master directory. The view is unmounted, and checked to
// be gone from the mount table, when the test ends, failed or not.
func mountTest(t *testing.T, opts Options, prepare ...func(master string, o *Options)) *testView {
	t.Helper()
	needFUSE(t)
	master, err := publicDir("nodeview-master-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(master) })
	mnt, err := publicDir("nodeview-mnt-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(mnt) })
	tv := &testView{master: master, mnt: mnt, d: &dialer{}}
	if opts.Root == "" {
		opts.Root = master
	}
	if opts.Dial == nil {
		opts.Dial = tv.d.dial
	}
	if opts.CacheDir == "" {
		opts.CacheDir = t.TempDir()
	}
	tv.cache = opts.CacheDir
	for _, f := range prepare {
		f(master, &opts)
	}
	v, err := Mount(mnt, opts)
	if err != nil {
		t.Fatalf("Mount(%s) = %v", mnt, err)
	}
	tv.View = v
	t.Cleanup(func() {
		if err := v.Unmount(); err != nil {
			t.Errorf("Unmount() = %v", err)
		}
		if mounted(t, mnt) {
			t.Errorf("%s is still mounted after Unmount", mnt)
			syscall.Unmount(mnt, syscall.MNT_DETACH)
		}
		tv.d.killAll()
	})
	return tv
}

// write makes a file of the master.
func (tv *testView) write(t *testing.T, rel, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(tv.master, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // past the umask
		t.Fatal(err)
	}
	return p
}

// path is rel in the view.
func (tv *testView) path(rel string) string { return filepath.Join(tv.mnt, rel) }

// shell is a shell script running as a user.
type shell struct {
	cmd *exec.Cmd
	out strings.Builder
}

// userShell starts script in sh as uid, in dir; it is killed when the
// test ends.
func userShell(t *testing.T, uid uint32, dir, script string) *shell {
	t.Helper()
	// The shell enters dir itself: exec.Cmd's Dir would chdir in the
	// vforked child, into this process's own FUSE mount, while the
	// parent's thread waits in vfork holding its P; a garbage
	// collection's stop-the-world then waits for that thread, and the
	// view's server, which must answer the chdir, cannot run (make test
	// hung so, twice).
	s := &shell{cmd: exec.Command("/bin/sh", "-c", `cd -- "$1" || exit 97; eval "$2"`, "sh", dir, script)}
	s.cmd.Stdout, s.cmd.Stderr = &s.out, &s.out
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid, Groups: []uint32{}}, Pdeathsig: syscall.SIGKILL}
	if err := pdeathsig.Start(s.cmd); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.cmd.Process.Kill(); s.cmd.Wait() })
	return s
}

// waitOutput waits for the script (10 s at most) and returns what it
// printed.
func (s *shell) waitOutput() (string, error) {
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		return s.out.String(), err
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		return s.out.String(), <-done
	}
}
