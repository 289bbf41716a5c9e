package testvm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bproc/bproc/internal/shared/procfs"
	"github.com/bproc/bproc/internal/shared/vmadump"
)

// withCmdline lists the processes whose /proc/PID/cmdline is argv.
func withCmdline(argv string) []int {
	var pids []int
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		if b, err := os.ReadFile(d + "/cmdline"); err == nil && string(b) == argv {
			pid, _ := strconv.Atoi(filepath.Base(d))
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestVM boots two QEMU nodes from a real bpmaster and uses them as a
// user would, with the bproc tools. make vmtest runs it (VMTEST=1, after
// installing QEMU, iPXE and the cloud kernel); elsewhere it is skipped.
//
// Time under TCG here: about 7 s to boot both, 7 s for the reboot, 19 s
// for the boot file that panics and the boot after it, 28 s for the
// unknown MAC and its boot once added: about 65 s in all.
func TestVM(t *testing.T) {
	if os.Getenv("VMTEST") != "1" {
		t.Skip("boots QEMU VMs: set VMTEST=1 to run (make vmtest does, as root, installing what it needs)")
	}
	if os.Geteuid() != 0 {
		t.Fatal("VMTEST=1 needs root: network namespaces, taps")
	}
	if missing := MissingPackages(); len(missing) > 0 {
		t.Fatalf("missing Debian packages %v: make vmtest installs them", missing)
	}
	sweepStale(t)
	c := startCluster(t, 2)
	// run runs a bproc tool against the cluster, as a user would.
	run := func(t *testing.T, applet string, args ...string) (string, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, c.Binary, append([]string{applet}, args...)...)
		cmd.Env = append(os.Environ(), "BPROC_SOCKET="+c.Socket())
		// Remote processes start in the caller's directory: one the
		// nodes have (not a checkout under /tmp, a node's own).
		cmd.Dir = "/"
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	ok := t.Run("up", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		upAt, err := c.WaitUp(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for n, at := range upAt {
			t.Logf("node %d up %.1fs after its VM started", n, at.Sub(c.VMs[n].Started).Seconds())
		}
		for n := range c.VMs {
			out, err := run(t, "bpstat", "-s", fmt.Sprint(n))
			if err != nil || strings.TrimSpace(out) != "up" {
				t.Errorf("bpstat -s %d = %q, %v; want up", n, out, err)
			}
		}
	})
	if !ok {
		t.FailNow()
	}

	kver := strings.TrimPrefix(filepath.Base(c.Kernel), "vmlinuz-")
	t.Run("kernel", func(t *testing.T) {
		out, err := run(t, "bpstat", "--json")
		if err != nil {
			t.Fatalf("bpstat --json: %v\n%s", err, out)
		}
		var nodes []struct {
			Num    int    `json:"num"`
			State  string `json:"state"`
			Kernel string `json:"kernel"`
		}
		if err := json.Unmarshal([]byte(out), &nodes); err != nil {
			t.Fatalf("bpstat --json: %v", err)
		}
		if len(nodes) != len(c.VMs)+c.Spare {
			t.Errorf("bpstat --json lists %d nodes, want %d and %d spare", len(nodes), len(c.VMs), c.Spare)
		}
		for _, n := range nodes {
			if n.Num >= len(c.VMs) {
				if n.State != "down" || n.Kernel != "" {
					t.Errorf("bpstat --json: spare node %d is %s with kernel %q, want down and none", n.Num, n.State, n.Kernel)
				}
				continue
			}
			if n.Kernel != kver {
				t.Errorf("bpstat --json: node %d kernel %q, want %q", n.Num, n.Kernel, kver)
			}
		}
	})

	// uname is the master's /usr/bin/uname, dynamically linked: the node
	// has neither it nor libc but through its view of the master's files.
	t.Run("bpsh uname", func(t *testing.T) {
		out, err := run(t, "bpsh", "-a", "-p", "uname", "-r")
		t.Logf("bpsh -a -p uname -r:\n%s", out)
		if err != nil {
			t.Fatalf("bpsh -a -p uname -r: %v", err)
		}
		got := regexp.MustCompile(`(?m)^\s*(\d+): (\S+)$`).FindAllStringSubmatch(out, -1)
		seen := make(map[string]bool)
		for _, m := range got {
			seen[m[1]] = true
			if m[2] != kver {
				t.Errorf("bpsh -a -p uname -r: node %s says %q, want %q", m[1], m[2], kver)
			}
		}
		for n := range c.VMs {
			if !seen[fmt.Sprint(n)] {
				t.Errorf("bpsh -a -p uname -r: no line from node %d", n)
			}
		}
	})

	// A file no program needs to start, read through the node's view of
	// the master's files (FUSE, loaded from the image's modules).
	t.Run("view", func(t *testing.T) {
		want, err := os.ReadFile("/etc/os-release")
		if err != nil {
			t.Skip(err)
		}
		out, err := run(t, "bpsh", "0", "cat", "/etc/os-release")
		if err != nil || out != string(want) {
			t.Errorf("bpsh 0 cat /etc/os-release: %v\n%s\nwant the master's:\n%s", err, out, want)
		}
	})

	// A process started on node 0 moves itself to node 1 and back
	// (bproc_move): the nodes read and rebuild it, with its memory and PID.
	t.Run("move between nodes", func(t *testing.T) {
		prog := buildProg(t, "hop")
		out, err := run(t, "bpsh", "0", prog)
		t.Logf("bpsh 0 hop:\n%s", out)
		var st *exec.ExitError
		if !errors.As(err, &st) || st.ExitCode() != 3 {
			t.Fatalf("bpsh 0 hop: %v, want exit 3", err)
		}
		for _, want := range []string{"start on n0", "after the first move on n1", "after the second move on n0"} {
			if !strings.Contains(out, want) {
				t.Errorf("bpsh 0 hop: no %q", want)
			}
		}
	})

	// A process of the master rforked to the QEMU nodes: their CPU (TCG's)
	// lacks instructions of this machine's that glibc chose code for at
	// start, and their kernel (the cloud 6.1, the master's is another)
	// has another vDSO. The move is refused with the way out; taken, the
	// children run, reading the clock through the vDSO they know.
	t.Run("rfork from the master", func(t *testing.T) {
		prog := buildProg(t, "rfork")
		rfork := func(env ...string) (string, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, prog, "2")
			cmd.Env = append(append(os.Environ(), "BPROC_SOCKET="+c.Socket()), env...)
			cmd.Dir = "/"
			out, err := cmd.CombinedOutput()
			return string(out), err
		}
		info, err := run(t, "bpsh", "0", "cat", "/proc/cpuinfo")
		if err != nil {
			t.Fatalf("bpsh 0 cat /proc/cpuinfo: %v\n%s", err, info)
		}
		own, err := vmadump.ReadCPUFlags()
		if err != nil {
			t.Fatal(err)
		}
		var env []string
		if missing := vmadump.MissingCPUFlags(own, vmadump.ParseCPUFlags([]byte(info)), nil); len(missing) > 0 {
			out, err := rfork()
			t.Logf("rfork 2, node CPUs lacking %v:\n%s", missing, out)
			if err == nil || !strings.Contains(out, "rfork to 0: Exec format error") {
				t.Errorf("rfork 2 to nodes that lack %v: %v, want \"rfork to 0: Exec format error\"", missing, err)
			}
			env = append(env, regexp.MustCompile(`GLIBC_TUNABLES=\S+`).FindString(vmadump.CPUFlagsRefusal(0, missing)))
		}
		out, err := rfork(env...)
		t.Logf("rfork 2 %v:\n%s", env, out)
		if err != nil {
			t.Errorf("rfork 2: %v", err)
		}
		want := []string{"signalled child killed by 10", "moved itself to n1, memory intact",
			"threaded process refused: Invalid argument", "execmoved to n1", "parent ok"}
		for i := 0; i < 2; i++ {
			want = append(want, fmt.Sprintf("child %d exited %d", i, 10+i), fmt.Sprintf("on n%d ok", i),
				fmt.Sprintf("vrfork child %d on n%d", i, i))
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("rfork 2: no %q", w)
			}
		}
	})

	// The process space on the nodes' own kernel (Debian's 6.1), which
	// keeps no exit status for a pidfd (PIDFD_INFO_EXIT came with 6.15):
	// what a remote shell forks gets a ghost, and each ghost ends with
	// its process's status, an exit code or the signal that ended it
	// (the node notes exit calls and reads zombies: adopt_exit.go).
	// Before, every such ghost ended with SIGKILL.
	t.Run("process space", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		evs := exec.CommandContext(ctx, c.Binary, "bpstat", "--events", "--json")
		evs.Env = append(os.Environ(), "BPROC_SOCKET="+c.Socket())
		stream, err := evs.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := evs.Start(); err != nil {
			t.Fatal(err)
		}
		defer evs.Wait()
		defer cancel()
		type event struct {
			Kind   string `json:"kind"`
			Node   int    `json:"node"`
			PID    int    `json:"pid"`
			Status *struct{ Code, Signal int }
		}
		exits := make(chan event, 64)
		go func() {
			dec := json.NewDecoder(stream)
			for {
				var e event
				if dec.Decode(&e) != nil {
					close(exits)
					return
				}
				if e.Kind == "exit" && e.Node == 0 && e.Status != nil {
					exits <- e
				}
			}
		}()
		// The stream holds what comes after it is read: a job's end
		// seen on it says it is.
	sync:
		for {
			if out, err := run(t, "bpsh", "0", "/bin/sh", "-c", "exit 5"); err == nil {
				t.Fatalf("bpsh 0 sh -c 'exit 5': no error\n%s", out)
			}
			for {
				select {
				case e, ok := <-exits:
					if !ok {
						t.Fatal("bpstat --events ended")
					}
					if e.Status.Code == 5 {
						break sync
					}
					continue
				case <-time.After(time.Second):
				case <-ctx.Done():
					t.Fatal("bpstat --events showed no end of a job in a minute")
				}
				break
			}
		}
		// The killed child stays a zombie until sleep, which waits for
		// no one, ends: the node reads its status there. threadexit
		// ends by an exit_group of another thread than its main one,
		// named by that thread's ID.
		prog := buildProg(t, "threadexit")
		script := `/bin/sh -c 'exit 7'; ` + prog + ` 6; /bin/sh -c 'kill -TERM $$' & exec sleep 2`
		out, err := run(t, "bpsh", "0", "/bin/sh", "-c", script)
		if err != nil {
			t.Fatalf("bpsh 0 sh -c %q: %v\n%s", script, err, out)
		}
		var code7, code6, term, job bool
		for !(code7 && code6 && term && job) {
			select {
			case e, ok := <-exits:
				if !ok {
					t.Fatalf("bpstat --events ended: exit 7 seen %v, threadexit's 6 %v, SIGTERM %v, the job's 0 %v", code7, code6, term, job)
				}
				t.Logf("ghost %d ended: code %d signal %d", e.PID, e.Status.Code, e.Status.Signal)
				switch {
				case e.Status.Code == 5: // a late one of the jobs above
				case e.Status.Code == 7:
					code7 = true
				case e.Status.Code == 6:
					code6 = true
				case e.Status.Signal == int(syscall.SIGTERM):
					term = true
				case e.Status.Code == 0 && e.Status.Signal == 0:
					job = true
				default:
					t.Errorf("ghost %d ended with code %d, signal %d: want 7, 6, SIGTERM or the job's 0", e.PID, e.Status.Code, e.Status.Signal)
				}
			case <-ctx.Done():
				t.Fatalf("after a minute: exit 7 seen %v, threadexit's 6 %v, SIGTERM %v, the job's 0 %v", code7, code6, term, job)
			}
		}

		// A descendant killed through its ghost while its parent waits
		// for it in wait4, which reaps it at once: its ghost ends with
		// the signal relayed (noteSignal), not SIGKILL.
		waitJob := exec.CommandContext(ctx, c.Binary, "bpsh", "0", "/bin/sh", "-c", "sleep 43; exit 9")
		waitJob.Env = append(os.Environ(), "BPROC_SOCKET="+c.Socket())
		waitJob.Dir = "/"
		if err := waitJob.Start(); err != nil {
			t.Fatal(err)
		}
		defer waitJob.Wait()
		var sleep43 []int
		for len(sleep43) != 1 && ctx.Err() == nil {
			time.Sleep(100 * time.Millisecond)
			sleep43 = withCmdline("sleep\x0043\x00")
		}
		if len(sleep43) != 1 {
			t.Fatal("the ghost of sleep 43 not in the master's table")
		}
		if err := syscall.Kill(sleep43[0], syscall.SIGTERM); err != nil {
			t.Fatalf("kill -TERM %d: %v", sleep43[0], err)
		}
		var killed, nine bool
		for !(killed && nine) {
			select {
			case e, ok := <-exits:
				if !ok {
					t.Fatalf("bpstat --events ended: sleep 43's end seen %v, the job's 9 %v", killed, nine)
				}
				t.Logf("ghost %d ended: code %d signal %d", e.PID, e.Status.Code, e.Status.Signal)
				switch {
				case e.PID == sleep43[0]:
					killed = true
					if e.Status.Signal != int(syscall.SIGTERM) {
						t.Errorf("the ghost of sleep 43, sent SIGTERM while its shell waited: code %d, signal %d; want SIGTERM", e.Status.Code, e.Status.Signal)
					}
				case e.Status.Code == 9:
					nine = true
				}
			case <-ctx.Done():
				t.Fatalf("after a minute: sleep 43's end seen %v, the job's 9 %v", killed, nine)
			}
		}
	})

	// What a remote shell forks on a netbooted node is in the master's
	// process table, each process's ghost a child of its parent's, and
	// a kill of a ghost there reaches its process on the node.
	t.Run("ps and kill", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, c.Binary, "bpsh", "0", "/bin/sh", "-c", "sleep 41 & sleep 42 & wait")
		cmd.Env = append(os.Environ(), "BPROC_SOCKET="+c.Socket())
		cmd.Dir = "/"
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		began := time.Now()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Wait()
		defer cancel()
		var sleeps []int
		for len(sleeps) < 2 && ctx.Err() == nil {
			time.Sleep(100 * time.Millisecond)
			sleeps = sleeps[:0]
			for _, argv := range []string{"sleep\x0041\x00", "sleep\x0042\x00"} {
				if pids := withCmdline(argv); len(pids) == 1 {
					sleeps = append(sleeps, pids[0])
				}
			}
		}
		if len(sleeps) < 2 {
			t.Fatalf("the ghosts of both sleeps not in the master's table after a minute; bpsh said:\n%s", out.String())
		}
		var parents []int
		for _, pid := range sleeps {
			st, err := procfs.ReadStat(pid)
			if err != nil {
				t.Fatal(err)
			}
			parents = append(parents, st.PPid)
		}
		shell, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", parents[0]))
		if parents[0] != parents[1] || !strings.HasPrefix(string(shell), "/bin/sh\x00-c\x00sleep 41") {
			t.Errorf("the sleeps' ghosts %v have parents %v, want both the shell's ghost (PID %d: %q)", sleeps, parents, parents[0], shell)
		}
		for _, pid := range sleeps {
			if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
				t.Errorf("kill -TERM %d: %v", pid, err)
			}
		}
		err := cmd.Wait()
		if took := time.Since(began); err != nil || took > 35*time.Second {
			t.Errorf("bpsh 0 sh -c 'sleep 41 & sleep 42 & wait' after its sleeps' ghosts were killed: %v after %v, want exit 0 before the sleeps' end\n%s", err, took.Round(time.Millisecond), out.String())
		}
	})

	t.Run("reboot", func(t *testing.T) {
		vm := c.VMs[1]
		console, mlog := vm.Console().Mark(), c.Master.Log().Mark()
		start := time.Now()
		if out, err := run(t, "bpctl", "-S", "1", "-R"); err != nil {
			t.Fatalf("bpctl -S 1 -R: %v\n%s", err, out)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		// A new kernel on the console is the reboot; the master keeps
		// the node up until it reconnects, so its state alone says
		// nothing yet.
		if _, _, err := vm.Console().Wait(ctx, console, regexp.MustCompile(`Linux version`)); err != nil {
			t.Fatalf("node 1 did not reboot: %v\nits console:\n%s", err, vm.Console().Tail(3000))
		}
		if _, _, err := c.Master.Log().Wait(ctx, mlog, regexp.MustCompile(`msg="node connected" node=1 `)); err != nil {
			t.Fatalf("node 1 did not connect again: %v\nits console:\n%s", err, vm.Console().Tail(3000))
		}
		if _, err := c.WaitUp(ctx, 1); err != nil {
			t.Fatal(err)
		}
		t.Logf("node 1 up again %.1fs after bpctl -R", time.Since(start).Seconds())
		if out, err := run(t, "bpstat", "-s", "0"); err != nil || strings.TrimSpace(out) != "up" {
			t.Errorf("bpstat -s 0 = %q, %v after node 1 rebooted; want up", out, err)
		}
	})

	t.Run("bootfile that does not boot", func(t *testing.T) {
		// Node 1 is given a boot file that is no initramfs: its kernel
		// finds no root and panics. WaitUp must say so at once, with the
		// console, not wait for its deadline; without the line again, the
		// node (panic=1 reboots it) comes back up.
		bad := filepath.Join(c.Dir, "bad.img")
		if err := os.WriteFile(bad, []byte("not an initramfs\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		conf := c.Master.Config()
		good, err := os.ReadFile(conf)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if err := os.WriteFile(conf, append(append([]byte(nil), good...), "bootfile 1 "+bad+"\n"...), 0o644); err != nil {
			t.Fatal(err)
		}
		restored := false
		restore := func() {
			if restored {
				return
			}
			restored = true
			if err := os.WriteFile(conf, good, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := c.Master.Reload(ctx); err != nil {
				t.Fatal(err)
			}
		}
		defer restore()
		if err := c.Master.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		vm := c.VMs[1]
		console, mlog := vm.Console().Mark(), c.Master.Log().Mark()
		if out, err := run(t, "bpctl", "-S", "1", "-R"); err != nil {
			t.Fatalf("bpctl -S 1 -R: %v\n%s", err, out)
		}
		if _, _, err := c.Master.Log().Wait(ctx, mlog, regexp.MustCompile(`path=/initramfs ip=\S+ status=200 bytes=17 dur=\S+ mac=\S+ node=1`)); err != nil {
			t.Fatalf("node 1 did not fetch its boot file: %v", err)
		}
		if _, _, err := vm.Console().Wait(ctx, console, regexp.MustCompile(`Kernel panic`)); err != nil {
			t.Fatalf("node 1's kernel did not panic on a boot file that is no initramfs: %v\n%s", err, vm.Console().Tail(3000))
		}
		start := time.Now()
		_, err = c.WaitUp(ctx, 1)
		if !errors.Is(err, ErrPanic) || !strings.Contains(err.Error(), "node 1") || !strings.Contains(err.Error(), "Kernel panic - not syncing") {
			t.Fatalf("WaitUp on a node whose kernel panicked = %v, want ErrPanic naming node 1 with its console", err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("WaitUp took %v to report the panic, want it at once", d)
		}
		t.Logf("WaitUp on the panicked node, after %v:\n%.600s", time.Since(start).Round(time.Millisecond), err)

		mlog = c.Master.Log().Mark()
		restore()
		if _, _, err := c.Master.Log().Wait(ctx, mlog, regexp.MustCompile(`msg="node connected" node=1 `)); err != nil {
			t.Fatalf("node 1 did not come back with its boot file gone: %v\nits console:\n%s", err, vm.Console().Tail(3000))
		}
		if _, err := c.WaitUp(ctx, 1); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("unknown MAC", func(t *testing.T) {
		mlog := c.Master.Log().Mark()
		vm, err := c.StartStranger()
		if err != nil {
			t.Fatal(err)
		}
		defer vm.Stop()
		mac := regexp.QuoteMeta(vm.MAC.String())
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, _, err := c.Master.Log().Wait(ctx, mlog, regexp.MustCompile(`unknown MAC.*mac=`+mac)); err != nil {
			t.Fatalf("the master did not log the unknown MAC: %v\nthe VM's console:\n%s", err, vm.Console().Tail(2000))
		}
		// iPXE keeps asking for a while; it must still have nothing
		// when it gives up on DHCP (or gets only IPv6 from the router
		// advertisement, and has nothing to boot).
		end := regexp.MustCompile(`No configuration methods succeeded|Nothing to boot|No more network devices`)
		if _, _, err := vm.Console().Wait(ctx, 0, end); err != nil {
			t.Errorf("iPXE did not give up: %v\nits console:\n%s", err, vm.Console().Tail(2000))
		}
		if lease := regexp.MustCompile(`dhcp: (OFFER|ACK).*mac=` + mac); c.Master.Log().Contains(mlog, lease) {
			t.Errorf("the master answered unknown MAC %s:\n%s", vm.MAC, c.Master.Log().Tail(2000))
		}
		if vm.Console().Contains(0, regexp.MustCompile(`Linux version|boot\.ipxe`)) {
			t.Errorf("a VM with unknown MAC %s booted:\n%s", vm.MAC, vm.Console().Tail(2000))
		}
		if t.Failed() {
			return
		}

		// bpctl --add-node makes it node 2 (the config has an address
		// spare): booted again, it gets its lease and comes up.
		out, err := run(t, "bpctl", "--add-node", vm.MAC.String())
		if err != nil {
			t.Fatalf("bpctl --add-node %s: %v\n%s", vm.MAC, err, out)
		}
		if err := vm.Stop(); err != nil {
			t.Fatal(err)
		}
		c.VMs = append(c.VMs, vm) // node 2's, for WaitUp's report
		if err := vm.Start(c.Name); err != nil {
			t.Fatal(err)
		}
		ctx2, cancel2 := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel2()
		if _, err := c.WaitUp(ctx2, 2); err != nil {
			t.Fatalf("after bpctl --add-node (%s): %v", strings.TrimSpace(out), err)
		}
		t.Logf("the added machine up as node 2 %.1fs after its VM started", time.Since(vm.Started).Seconds())
		if out, err := run(t, "bpsh", "2", "cat", "/proc/sys/kernel/hostname"); err != nil || strings.TrimSpace(out) != "n2" {
			t.Errorf("bpsh 2 hostname = %q, %v; want n2", out, err)
		}

		// bpctl -P: the node syncs and powers off (reboot(2)); QEMU ends, and
		// the master has the node down.
		t.Run("pwroff", func(t *testing.T) {
			if out, err := run(t, "bpctl", "-S", "2", "-P"); err != nil {
				t.Fatalf("bpctl -S 2 -P: %v\n%s", err, out)
			}
			for end := time.Now().Add(time.Minute); vm.PID() != 0; time.Sleep(100 * time.Millisecond) {
				if time.Now().After(end) {
					t.Fatalf("node 2's QEMU still runs a minute after bpctl -P; its console:\n%s", vm.Console().Tail(2000))
				}
			}
			for end := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
				out, _ := run(t, "bpstat", "-s", "2")
				if strings.TrimSpace(out) == "down" {
					break
				}
				if time.Now().After(end) {
					t.Fatalf("bpstat -s 2 = %q a minute after its VM powered off, want down", out)
				}
			}
			if out, _ := run(t, "bpstat", "-s", "0"); strings.TrimSpace(out) != "up" {
				t.Errorf("bpstat -s 0 = %q after node 2 powered off, want up", out)
			}
		})
	})
}

// startCluster brings up n nodes in a namespace and directory of the
// test's own, taken down at the end whatever happens; on failure the
// master's log and the consoles are attached.
func startCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	dir := t.TempDir()
	c, err := New(Options{
		Name: vmtestNS + strconv.Itoa(os.Getpid()), Dir: dir, Nodes: n,
		// panic=1: a node whose kernel gives up boots again.
		Binary: binary(t), Cmdline: "console=ttyS0 panic=1", Spare: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Down(); err != nil {
			t.Errorf("cluster down: %v", err)
		}
		if NSExists(c.Name) {
			t.Errorf("namespace %s still there after Down", c.Name)
		}
		for _, v := range append(c.VMs, c.Strangers...) {
			if v.PID() != 0 {
				t.Errorf("%s: QEMU still runs after Down", v.Name)
			}
		}
	})
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		t.Logf("master log (%s):\n%s", c.Master.Log().Path, c.Master.Log().Tail(6000))
		for _, v := range append(c.VMs, c.Strangers...) {
			t.Logf("%s console:\n%s", v.Name, v.Console().Tail(3000))
		}
	})
	start := time.Now()
	if err := c.Up(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Logf("master serving and %d VMs started in %.1fs", n, time.Since(start).Seconds())
	return c
}

// vmtestNS names the test's namespace; the PID tells a stale one.
const vmtestNS = "bproc-vmtest-"

// sweepStale takes down what a test run killed before its cleanup (go
// test's -timeout, SIGKILL) left behind: namespaces of this test whose
// process is gone, with the VMs and master in them.
func sweepStale(t testing.TB) {
	paths, _ := filepath.Glob("/run/netns/" + vmtestNS + "*")
	for _, p := range paths {
		name := filepath.Base(p)
		pid, err := strconv.Atoi(strings.TrimPrefix(name, vmtestNS))
		if err != nil || pid == os.Getpid() || alive(pid) {
			continue
		}
		c, err := New(Options{Name: name, Dir: filepath.Join(os.TempDir(), "gone")})
		if err == nil {
			err = c.Down()
		}
		t.Logf("removed %s, left behind by an earlier run: %v", name, err)
	}
}

// binary is the bproc binary under test: $BPROC_BIN (make vmtest sets
// it), else ../bin/bproc.
func binary(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("BPROC_BIN")
	if bin == "" {
		bin = filepath.Join("..", "bin", "bproc")
	}
	bin, err := filepath.Abs(bin)
	if err == nil {
		_, err = os.Stat(bin)
	}
	if errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s: %v (run make, or set BPROC_BIN)", bin, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// buildProg builds internal/integration/testdata/NAME.c against libbproc into a
// directory the nodes see (their /tmp is their own).
func buildProg(t *testing.T, name string) string {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("needs gcc")
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Dir(filepath.Dir(file))
	if out, err := exec.Command("make", "-C", root, "bin/libbproc.a").CombinedOutput(); err != nil {
		t.Fatalf("make libbproc: %v\n%s", err, out)
	}
	dir, err := os.MkdirTemp("/var/lib", "bproc-vmtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	prog := filepath.Join(dir, name)
	if out, err := exec.Command("gcc", "-std=c11", "-O1", "-pthread", "-I", filepath.Join(root, "libbproc"), "-o", prog,
		filepath.Join(root, "internal/integration/testdata/"+name+".c"), filepath.Join(root, "bin/libbproc.a")).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	return prog
}
