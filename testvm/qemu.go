package testvm

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// QEMU is the emulator binary.
const QEMU = "qemu-system-x86_64"

// DefaultMemory is a node's RAM in MiB: the kernel, an initramfs of a
// few tens of MB unpacked into it, and room for the programs run there.
const DefaultMemory = 256

// VM is one node machine: it PXE-boots from the tap's segment with the
// MAC of its node line, its console going to a file.
type VM struct {
	Name   string // e.g. node0: names the files in Dir
	MAC    net.HardwareAddr
	Tap    string // in the cluster's namespace
	Dir    string // where the console log and pidfile go
	Memory int    // MiB; DefaultMemory when 0
	// Started is when Start returned: the machine runs from then on.
	Started time.Time
}

// Console is the VM's serial console: firmware, iPXE, kernel and /init,
// across reboots.
func (v *VM) Console() Log { return Log{filepath.Join(v.Dir, v.Name+".console")} }

// PIDFile is written by QEMU.
func (v *VM) PIDFile() string { return filepath.Join(v.Dir, v.Name+".pid") }

// serconFile makes SeaBIOS copy its screen (and so iPXE's) to the first
// serial port, as -nographic would: see Args.
func serconFile(dir string) string { return filepath.Join(dir, "sercon-port") }

// Args is QEMU's command line.
//
//   - TCG: no /dev/kvm here. -cpu max has RDRAND, without which the
//     guest's random pool is not ready and a DHCP client in Go blocks for
//     minutes (PLATFORM.md).
//   - -daemonize: QEMU returns once the machine runs, or fails with the
//     reason (a missing tap, a bad option), and outlives its starter.
//     -nographic cannot go with it, so the serial console goes to a file
//     and SeaBIOS is told by fw_cfg to write its screen there too;
//     otherwise the firmware's and iPXE's messages would be lost.
//   - -boot n with virtio-net-pci: the iPXE ROM of ipxe-qemu, found by
//     QEMU itself.
//   - reboot stays a reboot (no -no-reboot): bpctl -R must bring the node
//     back.
func (v *VM) Args() []string {
	mem := v.Memory
	if mem == 0 {
		mem = DefaultMemory
	}
	return []string{
		"-name", "bproc-" + v.Name,
		"-accel", "tcg", "-cpu", "max", "-m", strconv.Itoa(mem),
		"-vga", "none", "-display", "none", "-monitor", "none",
		"-serial", "file:" + v.Console().Path,
		"-fw_cfg", "name=etc/sercon-port,file=" + serconFile(v.Dir),
		"-netdev", "tap,id=net0,ifname=" + v.Tap + ",script=no,downscript=no",
		"-device", "virtio-net-pci,netdev=net0,mac=" + v.MAC.String(),
		"-boot", "n",
		"-daemonize", "-pidfile", v.PIDFile(),
	}
}

// Start boots the VM in namespace ns. Its console log starts empty.
func (v *VM) Start(ns string) error {
	// Port 0x3f8 (COM1), as a little-endian integer: SeaBIOS reads the
	// file's bytes as one.
	if err := os.WriteFile(serconFile(v.Dir), []byte{0xf8, 0x03}, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(v.Console().Path, nil, 0o644); err != nil {
		return err
	}
	cmd := NSCommand(ns, QEMU, v.Args()...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: start qemu: %v: %s", v.Name, err, bytes.TrimSpace(out.Bytes()))
	}
	v.Started = time.Now()
	return nil
}

// PID is QEMU's process, 0 when it does not run.
func (v *VM) PID() int {
	pid, err := readPID(v.PIDFile())
	if err != nil || !alive(pid) || !cmdlineHas(pid, v.PIDFile()) {
		return 0
	}
	return pid
}

// Stop ends QEMU: SIGTERM is an immediate power-off for it, nothing of a
// diskless node is lost.
func (v *VM) Stop() error {
	return stopPIDFile(v.PIDFile(), v.PIDFile(), 5*time.Second)
}
