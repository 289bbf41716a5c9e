package integration

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBprsh drives bprsh with the programs that start their remote work
// through ssh (issue 16): Open MPI, clush, GNU parallel, pdsh, rsync,
// sftp and scp, each the real program, on one cluster of two nodes.
func TestBprsh(t *testing.T) {
	c := startCluster(t, 2)
	// Files the nodes see: outside /tmp (each node's /tmp is its own).
	work, err := os.MkdirTemp("/var/lib", "bproc-bprsh-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(work) })
	os.Chmod(work, 0o755)
	// bprsh as the programs find it: in PATH, a symlink to the binary,
	// both where the nodes see them too (Open MPI's orted looks for its
	// agent on the node).
	bin := filepath.Join(work, "bin")
	os.Mkdir(bin, 0o755)
	if err := linkBinary(binary, filepath.Join(bin, "bprsh")); err != nil {
		t.Fatal(err)
	}
	// Without SHELL, as CI's runner starts the tests: sshd sets it, and
	// GNU parallel's remote worker execs it.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SHELL=") {
			env = append(env, kv)
		}
	}
	env = append(env, "BPROC_SOCKET="+c.socket, "PATH="+bin+":"+os.Getenv("PATH"),
		"OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1")
	run := func(t *testing.T, stdin string, argv ...string) result {
		t.Helper()
		return runBounded(t, work, env, stdin, argv...)
	}
	need := func(t *testing.T, prog, pkg string) {
		t.Helper()
		if _, err := exec.LookPath(prog); err != nil {
			t.Skipf("%s not installed (Debian package %s; .ci/run installs it)", prog, pkg)
		}
	}

	t.Run("ssh semantics", func(t *testing.T) {
		for _, tc := range []struct {
			argv   []string
			stdout string
			code   int
		}{
			// The words joined with spaces and run by a shell: $x and ;
			// are the shell's, as with ssh.
			{[]string{"bprsh", "n0", "echo", "$((1+2))", ";", "hostname"}, "3\nn0\n", 0},
			{[]string{"bprsh", "1", "hostname"}, "n1\n", 0},
			{[]string{"bprsh", ".1", "hostname"}, "n1\n", 0},
			// clush's options, parallel's "--", options after the host.
			{[]string{"bprsh", "-oForwardAgent=no", "-oForwardX11=no", "-oConnectTimeout=15", "-oBatchMode=yes", "n0", "hostname"}, "n0\n", 0},
			{[]string{"bprsh", "-l", "root", "--", "n1", "exec", "hostname"}, "n1\n", 0},
			{[]string{"bprsh", "root@n0", "-x", "-T", "echo", "-n", "x"}, "x", 0},
			// sshd runs the command in the home directory.
			{[]string{"bprsh", "n0", "pwd"}, homeDir(t) + "\n", 0},
			// and sets the session's variables from the passwd entry.
			{[]string{"bprsh", "n0", "echo $SHELL $HOME $LOGNAME"}, loginShell(t) + " " + homeDir(t) + " " + userName(t) + "\n", 0},
			{[]string{"bprsh", "n0", "exit 7"}, "", 7},
			{[]string{"bprsh", "n0", "kill -9 $$"}, "", 255},
			{[]string{"bprsh", "n9", "true"}, "", 255},
			{[]string{"bprsh", "nobody@n0", "true"}, "", 255},
			{[]string{"bprsh", "-Z", "n0", "true"}, "", 255},
			// Host lists in bpsh's node specs.
			{[]string{"bpsh", "n[0-1]", "hostname"}, "n0\nn1\n", 0},
		} {
			r := run(t, "", tc.argv...)
			got := r.stdout
			if tc.argv[0] == "bpsh" {
				got = sortLines(got)
			}
			if got != tc.stdout || r.code != tc.code {
				t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit %d, stdout %q", tc.argv, r.code, got, r.stderr, tc.code, tc.stdout)
			}
		}
		if r := run(t, "", "bprsh", "n9", "true"); r.stderr != "bprsh: n9: no such node\n" {
			t.Errorf("bprsh n9: stderr %q, want bprsh: n9: no such node", r.stderr)
		}
		if r := run(t, "", "bprsh", "nobody@n0", "true"); !strings.Contains(r.stderr, "nobody@n0: Permission denied") {
			t.Errorf("bprsh nobody@n0: stderr %q, want Permission denied", r.stderr)
		}
		if r := run(t, "in\n", "bprsh", "n1", "cat"); r.stdout != "in\n" {
			t.Errorf("bprsh n1 cat: stdout %q, want the input", r.stdout)
		}
	})

	t.Run("Open MPI", func(t *testing.T) {
		need(t, "mpicc", "libopenmpi-dev")
		need(t, "mpirun", "openmpi-bin")
		src := filepath.Join(work, "hello.c")
		if err := os.WriteFile(src, []byte(mpiHello), 0o644); err != nil {
			t.Fatal(err)
		}
		if r := run(t, "", "mpicc", "-o", filepath.Join(work, "hello"), src); r.code != 0 {
			t.Fatalf("mpicc: exit %d: %s", r.code, r.stderr)
		}
		r := run(t, "", "mpirun", "--allow-run-as-root", "--mca", "plm_rsh_agent", "bprsh", "-H", "n0,n1", "-np", "2", "./hello")
		if want := "rank 0 of 2 on n0 sum 2\nrank 1 of 2 on n1 sum 2\n"; r.code != 0 || sortLines(r.stdout) != want {
			t.Errorf("mpirun: exit %d, stdout %q, stderr %q; want exit 0 and %q", r.code, r.stdout, r.stderr, want)
		}
	})

	t.Run("clush", func(t *testing.T) {
		need(t, "clush", "clustershell")
		r := run(t, "", "clush", "-O", "ssh_path=bprsh", "-w", "n0,n1", "hostname")
		if want := "n0: n0\nn1: n1\n"; r.code != 0 || sortLines(r.stdout) != want {
			t.Errorf("clush: exit %d, stdout %q, stderr %q; want %q", r.code, r.stdout, r.stderr, want)
		}
	})

	t.Run("parallel", func(t *testing.T) {
		need(t, "parallel", "parallel")
		r := run(t, "", "parallel", "--ssh", "bprsh", "-S", "n0,n1", "--nonall", "hostname")
		if want := "n0\nn1\n"; r.code != 0 || sortLines(r.stdout) != want {
			t.Errorf("parallel: exit %d, stdout %q, stderr %q; want %q", r.code, r.stdout, r.stderr, want)
		}
	})

	t.Run("pdsh", func(t *testing.T) {
		need(t, "pdsh", "pdsh")
		r := run(t, "", "pdsh", "-R", "exec", "-w", "n[0-1]", "bprsh", "%h", "hostname")
		if want := "n0: n0\nn1: n1\n"; r.code != 0 || sortLines(r.stdout) != want {
			t.Errorf("pdsh: exit %d, stdout %q, stderr %q; want %q", r.code, r.stdout, r.stderr, want)
		}
	})

	t.Run("files", func(t *testing.T) {
		need(t, "rsync", "rsync")
		need(t, "sftp", "openssh-client")
		src := filepath.Join(work, "src")
		os.MkdirAll(filepath.Join(src, "sub"), 0o755)
		os.WriteFile(filepath.Join(src, "a"), []byte("alpha\n"), 0o644)
		os.WriteFile(filepath.Join(src, "sub", "b"), []byte("beta\n"), 0o644)
		check := func(what string, r result) {
			t.Helper()
			if r.code != 0 {
				t.Errorf("%s: exit %d, stdout %q, stderr %q", what, r.code, r.stdout, r.stderr)
			}
		}
		nodeFile := func(node, path, want string) {
			t.Helper()
			if r := run(t, "", "bprsh", node, "cat", path); r.stdout != want {
				t.Errorf("%s:%s holds %q (%s), want %q", node, path, r.stdout, r.stderr, want)
			}
		}
		localFile := func(path, want string) {
			t.Helper()
			if b, err := os.ReadFile(path); err != nil || string(b) != want {
				t.Errorf("%s holds %q (%v), want %q", path, b, err, want)
			}
		}

		check("rsync to n0", run(t, "", "rsync", "-a", "-e", "bprsh", src+"/", "n0:/tmp/dst/"))
		nodeFile("n0", "/tmp/dst/sub/b", "beta\n")
		check("rsync from n0", run(t, "", "rsync", "-a", "-e", "bprsh", "n0:/tmp/dst/", filepath.Join(work, "back")+"/"))
		localFile(filepath.Join(work, "back", "sub", "b"), "beta\n")

		check("sftp", run(t, "put "+filepath.Join(src, "a")+" /tmp/s\nget /tmp/s "+filepath.Join(work, "s")+"\n",
			"sftp", "-b", "-", "-S", "bprsh", "n1"))
		nodeFile("n1", "/tmp/s", "alpha\n")
		localFile(filepath.Join(work, "s"), "alpha\n")

		// scp's own (sftp) protocol, then the legacy one (-O: scp -t/-f
		// on the node, over a socketpair).
		for _, mode := range [][]string{nil, {"-O"}} {
			name := "scp " + strings.Join(mode, "")
			out := "/tmp/scp" + strings.Join(mode, "")
			check(name+" to n1", run(t, "", append(append([]string{"scp"}, mode...), "-S", "bprsh", filepath.Join(src, "a"), "n1:"+out)...))
			nodeFile("n1", out, "alpha\n")
			back := filepath.Join(work, "scp"+strings.Join(mode, ""))
			check(name+" from n1", run(t, "", append(append([]string{"scp"}, mode...), "-S", "bprsh", "n1:"+out, back)...))
			localFile(back, "alpha\n")
		}
	})
	c.waitNoProcs()
}

// mpiHello is an MPI program that needs every rank: an Allreduce.
const mpiHello = `#include <mpi.h>
#include <stdio.h>
#include <unistd.h>
int main(int argc, char **argv) {
	int rank, size, sum, one = 1;
	char host[64];
	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	MPI_Allreduce(&one, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
	gethostname(host, sizeof host);
	printf("rank %d of %d on %s sum %d\n", rank, size, host, sum);
	MPI_Finalize();
	return 0;
}
`

// runBounded runs a program in dir with env and stdin, killing it after a
// minute: a hung launcher fails the test instead of stalling it.
func runBounded(t *testing.T, dir string, env []string, stdin string, argv ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	if argv[0] == "bprsh" || argv[0] == "bpsh" {
		cmd = exec.CommandContext(ctx, binary, argv...)
	}
	cmd.Dir, cmd.Env = dir, env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Errorf("%q: still running after 60 s; killed", argv)
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%q: %v", argv, err)
	}
	return result{out.String(), errb.String(), code}
}

// linkBinary makes link run bin: a symlink, or a copy of a binary in a
// /tmp that nodes do not see.
func linkBinary(bin, link string) error {
	if !strings.HasPrefix(bin, "/tmp/") {
		return os.Symlink(bin, link)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	return os.WriteFile(link, b, 0o755)
}

func homeDir(t *testing.T) string {
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return u.HomeDir
}

// loginShell is the test user's shell in /etc/passwd.
func loginShell(t *testing.T) string {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Split(line, ":"); len(f) == 7 && f[2] == u.Uid {
			return f[6]
		}
	}
	t.Fatalf("uid %s: not in /etc/passwd", u.Uid)
	return ""
}

func userName(t *testing.T) string {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return u.Username
}
