package integration

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// sourceRoot is the checkout: the tests run from elsewhere (see run).
func sourceRoot(t *testing.T) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no source path for this test")
	}
	return filepath.Dir(filepath.Dir(filepath.Dir(file)))
}

func needCC(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"gcc", "make"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s: libbproc needs a C compiler and make", tool)
		}
	}
}

// gcc compiles and links; the flags come last, after the sources, so
// that libraries follow what uses them. Warnings are errors in the test
// programs (-Werror in args), not in the library's sources: those are
// the Makefile's to judge.
func gcc(t *testing.T, out string, args ...string) {
	t.Helper()
	cmd := exec.Command("gcc", append([]string{"-std=c11", "-Wall", "-Wextra", "-o", out}, args...)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gcc %v: %v\n%s", args, err, b)
	}
}

// testProgram builds internal/integration/testdata/NAME.c against libbproc.a in a
// directory the nodes see (not /tmp, which a node has its own of: nodes
// map the program from the master's files), and returns its path.
func testProgram(t *testing.T, name string) string {
	t.Helper()
	return testProgramIn(t, name, publicTempDir(t))
}

// testProgramIn builds internal/integration/testdata/NAME.c against
// libbproc.a into dir.
func testProgramIn(t *testing.T, name, dir string) string {
	t.Helper()
	root := sourceRoot(t)
	lib := filepath.Join(libbprocDir(t), "libbproc.a")
	bin := filepath.Join(dir, name)
	gcc(t, bin, "-O1", "-pthread", "-I", filepath.Join(root, "libbproc"), filepath.Join(root, "internal/integration/testdata", name+".c"), lib)
	return bin
}

var makeLib struct {
	once sync.Once
	err  error
	out  []byte
}

// libbprocDir is bin/ with libbproc.a and libbproc.so up to date: the
// Makefile builds them, and knows when they are stale.
func libbprocDir(t *testing.T) string {
	t.Helper()
	needCC(t)
	root := sourceRoot(t)
	makeLib.once.Do(func() {
		makeLib.out, makeLib.err = exec.Command("make", "-C", root, "bin/libbproc.a", "bin/libbproc.so").CombinedOutput()
	})
	if makeLib.err != nil {
		t.Fatalf("make libbproc: %v\n%s", makeLib.err, makeLib.out)
	}
	return filepath.Join(root, "bin")
}

// libbprocSources are the library's C files, for a build with sanitizers.
func libbprocSources(t *testing.T) []string {
	t.Helper()
	srcs, err := filepath.Glob(filepath.Join(sourceRoot(t), "libbproc", "*.c"))
	if err != nil || len(srcs) == 0 {
		t.Fatalf("libbproc sources: %v %v", srcs, err)
	}
	return srcs
}

var sanitizers = []string{"-g", "-O1", "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-pthread"}

// TestLibbprocUnit runs libbproc's own tests (libbproc/test/unit.c) under
// AddressSanitizer and UBSan: a fake master's good and malformed replies,
// and a fuzz loop over the decoder.
func TestLibbprocUnit(t *testing.T) {
	needCC(t)
	root := sourceRoot(t)
	bin := filepath.Join(t.TempDir(), "unit")
	gcc(t, bin, append(append([]string{"-I", filepath.Join(root, "libbproc"), filepath.Join(root, "libbproc/test/unit.c")},
		libbprocSources(t)...), sanitizers...)...)
	out, err := exec.Command(bin).CombinedOutput()
	if err != nil || string(out) != "ok\n" {
		t.Errorf("libbproc unit tests: %v\n%s", err, out)
	}
}

// TestLibbprocJSON holds libbproc's JSON parser against encoding/json:
// mutations of replies the master sends, each accepted by both or by
// neither.
func TestLibbprocJSON(t *testing.T) {
	needCC(t)
	root := sourceRoot(t)
	bin := filepath.Join(t.TempDir(), "jsonvalid")
	gcc(t, bin, append([]string{"-I", filepath.Join(root, "libbproc"), filepath.Join(root, "libbproc/test/jsonvalid.c"),
		filepath.Join(root, "libbproc/json.c")}, sanitizers...)...)

	seeds := []string{
		`{"nodes":[{"num":0,"state":"up","addr":"10.0.0.5","uid":0,"gid":0,"mode":73,"procs":1,"stats":{"load":[0.5,1e-3,0],"uptime":1.5E+2}}]}`,
		`{"procs":[{"pid":100,"node_pid":100,"node":2,"uid":0,"argv":["sleep","\u003c\"\\\/\b\f\n\r\t"]}]}`,
		`[-0.0e-0,1E+9,true,false,null,{},[],"\ud800\udc00"]`, `"x"`, `12`, ` {"a" : [ 1 , 2 ] } `,
	}
	pieces := []string{"{", "}", "[", "]", `"`, `\`, `\u`, `\u00`, ":", ",", "-", "0", "1e", ".", "null", "true",
		"false", "\x00", "\xff", " ", "\t", "\n", "+", "E", "01", "\x7f", "\x1f", "\u2028"}
	r := rand.New(rand.NewSource(1))
	var in bytes.Buffer
	var cases [][]byte
	for i := 0; i < 50000; i++ {
		b := []byte(seeds[r.Intn(len(seeds))])
		for k := 0; k < 1+r.Intn(4); k++ {
			at := r.Intn(len(b) + 1)
			switch r.Intn(4) {
			case 0:
				if at < len(b) {
					b[at] = byte(r.Intn(256))
				}
			case 1:
				b = b[:at]
			default:
				b = append(b[:at], append([]byte(pieces[r.Intn(len(pieces))]), b[at:]...)...)
			}
		}
		cases = append(cases, b)
		n := len(b)
		in.Write([]byte{byte(n), byte(n >> 8), byte(n >> 16), byte(n >> 24)})
		in.Write(b)
	}
	cmd := exec.Command(bin)
	cmd.Stdin = &in
	out, err := cmd.Output()
	if err != nil || len(out) != len(cases) {
		t.Fatalf("jsonvalid: %v, %d answers for %d cases", err, len(out), len(cases))
	}
	bad := 0
	for i, b := range cases {
		if got, want := out[i] == '1', json.Valid(b); got != want && bad < 10 {
			bad++
			t.Errorf("libbproc accepts %q: %v, encoding/json: %v", b, got, want)
		}
	}
}

// bpcall is libbproc/test/bpcall.c linked with -lbproc against the static
// library, in a directory every user and every node can read.
func bpcall(t *testing.T) string {
	t.Helper()
	lib := libbprocDir(t)
	root := sourceRoot(t)
	out := filepath.Join(publicTempDir(t), "bpcall")
	gcc(t, out, "-Werror", "-I", filepath.Join(root, "libbproc"), filepath.Join(root, "libbproc/test/bpcall.c"),
		"-L", lib, "-Wl,-Bstatic", "-lbproc", "-Wl,-Bdynamic")
	return out
}

// call runs bpcall as uid against the cluster and returns what it printed:
// a result, or "error ERRNO TEXT".
func (c *cluster) call(t *testing.T, prog string, uid uint32, args ...string) string {
	t.Helper()
	cmd := exec.Command(prog, args...)
	cmd.Env = []string{"BPROC_SOCKET=" + c.socket, "PATH=/usr/bin:/bin"}
	cmd.Dir = "/"
	if uid != 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid, Groups: []uint32{uid}}}
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil && exitCode(err) != 1 {
		t.Fatalf("bpcall %v as %d: %v\n%s%s", args, uid, err, out.String(), errb.String())
	}
	return strings.TrimSuffix(out.String(), "\n")
}

// TestLibbproc drives libbproc's calls against a real master with two
// real nodes, as root and as users.
func TestLibbproc(t *testing.T) {
	c := startCluster(t, 2)
	prog := bpcall(t)
	const alice, bob = 65534, 65533
	expect := func(uid uint32, want string, args ...string) {
		t.Helper()
		if got := c.call(t, prog, uid, args...); got != want {
			t.Errorf("bpcall %s as %d = %q, want %q", strings.Join(args, " "), uid, got, want)
		}
	}

	// The node table, as the Go API sees it.
	nodes, err := c.client().Nodes()
	if err != nil || len(nodes) != 2 {
		t.Fatalf("Nodes() = %v, %v", nodes, err)
	}
	var rows []string
	for _, n := range nodes {
		rows = append(rows, fmt.Sprintf("%d %s %04o %d %d %s", n.Num, n.State, n.Mode, n.UID, n.GID, n.Addr))
	}
	expect(0, "2", "numnodes")
	expect(0, "-1", "currnode")
	expect(0, strings.Join(rows, "\n"), "list")
	expect(0, rows[1], "info", "1")
	expect(0, nodes[0].Addr, "addr", "0")
	for _, args := range [][]string{{"status", "0"}, {"status", "1"}, {"status", "master"}} {
		expect(0, "up", args...)
	}
	expect(0, "error 300 Invalid node number", "status", "2")
	expect(0, "error 300 Invalid node number", "info", "7")
	expect(0, "error 300 Invalid node number", "chmod", "9", "0111")
	if r := c.run("", "bpsh", "1", prog, "currnode"); r.stdout != "1\n" {
		t.Errorf("bpcall currnode on node 1: %q %q exit %d", r.stdout, r.stderr, r.code)
	}

	// BProc's texts, and the system's for the rest.
	for num, text := range []string{"Invalid node number", "Node is down", "Move to same node", "Slave node died", "Invalid process ID"} {
		expect(0, text, "strerror", strconv.Itoa(300+num))
	}
	expect(0, "Permission denied", "strerror", "13")

	// A remote process: its ghost's PID names its node.
	sleeper := c.startBpsh(t, "1", "sleep", "300")
	ghost := waitChild(t, sleeper.Process.Pid)
	waitFor(t, "the master to know the ghost", func() bool {
		_, err := c.api().PIDNode(t.Context(), ghost)
		return err == nil
	})
	expect(0, "1", "pidnode", strconv.Itoa(ghost))
	expect(0, "error 304 Invalid process ID", "pidnode", strconv.Itoa(os.Getpid()))
	if got := c.call(t, prog, 0, "proclist", "1"); !strings.HasPrefix(got, strconv.Itoa(ghost)+" 1 ") || strings.Contains(got, "\n") {
		t.Errorf("proclist 1 = %q, want the ghost %d alone", got, ghost)
	}
	if got := c.call(t, prog, 0, "proclist", "any"); !strings.HasPrefix(got, strconv.Itoa(ghost)+" 1 ") {
		t.Errorf("proclist any = %q, want the ghost %d", got, ghost)
	}
	expect(0, "", "proclist", "0")
	expect(0, "error 300 Invalid node number", "proclist", "5")
	syscall.Kill(ghost, syscall.SIGKILL)
	sleeper.Wait()
	c.waitNoProcs()

	// Permissions: root gives node 1 to alice, for her alone.
	expect(0, "", "chown", "1", strconv.Itoa(alice))
	expect(0, "", "chgrp", "1", strconv.Itoa(alice))
	expect(0, "", "chmod", "1", "0100")
	expect(0, fmt.Sprintf("1 up 0100 %d %d %s", alice, alice, nodes[1].Addr), "info", "1")
	expect(alice, "ok", "access", "1")
	expect(bob, "error 13 Permission denied", "access", "1")
	expect(bob, "ok", "access", "0")
	expect(0, "ok", "access", "1")
	// The owner may chmod her node; no one else but root may touch it.
	expect(alice, "", "chmod", "1", "0110")
	expect(bob, "error 1 Operation not permitted", "chmod", "1", "0111")
	expect(alice, "error 1 Operation not permitted", "chown", "1", strconv.Itoa(bob))
	expect(alice, "error 1 Operation not permitted", "setstatus", "0", "unavailable")
	expect(alice, "error 1 Operation not permitted", "reboot", "0")
	expect(alice, "error 22 Invalid argument", "chmod", "1", "0777")

	// Unavailable turns users away, not root.
	expect(0, "", "setstatus", "0", "unavailable")
	expect(0, "unavailable", "status", "0")
	expect(bob, "error 301 Node is down", "access", "0")
	expect(0, "ok", "access", "0")
	expect(0, "", "setstatus", "0", "up")

	// The notifier: quiet until the table changes.
	c.checkNotifier(t, prog)

	// Halted, a node is down; rebooted, it comes back.
	expect(0, "", "halt", "1")
	c.waitState(t, "1", "down")
	expect(0, "down", "status", "1")
	expect(0, "error 301 Node is down", "access", "1")
	expect(0, nodes[1].Addr, "addr", "1") // the last one the node came from
	expect(0, "", "reboot", "1")
	c.waitState(t, "1", "up")

	// The same calls through libbproc.so.
	shared := bpcallShared(t)
	if got := c.call(t, shared, 0, "numnodes"); got != "2" {
		t.Errorf("numnodes through libbproc.so = %q, want 2", got)
	}
	if got := c.call(t, shared, 0, "status", "1"); got != "up" {
		t.Errorf("status 1 through libbproc.so = %q, want up", got)
	}
}

// bpcallShared is bpcall linked against libbproc.so, which it finds by its
// RUNPATH.
func bpcallShared(t *testing.T) string {
	t.Helper()
	lib := libbprocDir(t)
	root := sourceRoot(t)
	prog := filepath.Join(t.TempDir(), "bpcall-shared")
	gcc(t, prog, "-Werror", "-I", filepath.Join(root, "libbproc"), filepath.Join(root, "libbproc/test/bpcall.c"),
		"-L", lib, "-lbproc", "-Wl,-rpath,"+lib)
	f, err := elf.Open(prog)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if libs, err := f.ImportedLibraries(); err != nil || !slices.Contains(libs, "libbproc.so.1") {
		t.Errorf("bpcall-shared needs %v (%v), want libbproc.so.1 among them", libs, err)
	}
	return prog
}

// checkNotifier arms bpcall notify, then changes the table until it
// reports the fd readable, which must be well before the master's minute.
func (c *cluster) checkNotifier(t *testing.T, prog string) {
	t.Helper()
	cmd := exec.Command(prog, "notify")
	cmd.Env = []string{"BPROC_SOCKET=" + c.socket}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	if l := <-lines; l != "armed" {
		t.Fatalf("bpcall notify: %q, want armed", l)
	}
	// A change made before the master has taken the watch shows only at
	// its next answer: change again until one is seen.
	deadline := time.Now().Add(15 * time.Second)
	for {
		if r := c.run("", "bpctl", "-S", "0", "-m", "0111"); r.code != 0 {
			t.Fatalf("bpctl: exit %d %q", r.code, r.stderr)
		}
		select {
		case l := <-lines:
			if l != "readable" {
				t.Fatalf("bpcall notify: %q, want readable", l)
			}
			return
		case <-time.After(time.Second):
		}
		if time.Now().After(deadline) {
			t.Fatal("the notifier did not become readable within 15 s of changes")
		}
	}
}

// TestLibbprocOnNode: a process on a node reaches the master's questions
// through its node (the node's socket at the default path): the node
// table, its own node, the process list with itself in it.
func TestLibbprocOnNode(t *testing.T) {
	for _, mode := range [][]string{nil, {"--no-diskless"}} {
		c := startCluster(t, 2, mode...)
		bin := bpcall(t)
		r := c.runIn("/", "bpsh", "1", bin, "numnodes")
		if strings.TrimSpace(r.stdout) != "2" {
			t.Errorf("%v: numnodes on node 1: %q %q", mode, r.stdout, r.stderr)
		}
		r = c.runIn("/", "bpsh", "1", bin, "status", "0")
		if !strings.Contains(r.stdout, "up") {
			t.Errorf("%v: status of node 0 from node 1: %q %q", mode, r.stdout, r.stderr)
		}
		r = c.runIn("/", "bpsh", "0", bin, "chmod", "1", "0111")
		if !strings.Contains(r.stdout, "error") {
			t.Errorf("%v: chmod from a node: %q, want it refused", mode, r.stdout)
		}
	}
}
