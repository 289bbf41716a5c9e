package testvm

import (
	"fmt"
	"io"
	"os"
	"os/exec"
)

// need is a Debian package and how to tell it is installed.
type need struct {
	pkg       string
	installed func() bool
}

func fileExists(path string) func() bool {
	return func() bool { _, err := os.Stat(path); return err == nil }
}

var needs = []need{
	{"qemu-system-x86", fileExists("/usr/bin/" + QEMU)},
	{"ipxe-qemu", fileExists("/usr/lib/ipxe/qemu/pxe-virtio.rom")},
	{"linux-image-cloud-amd64", func() bool { _, err := FindKernel(); return err == nil }},
}

// MissingPackages lists the packages of needs that are not installed.
func MissingPackages() []string {
	var missing []string
	for _, n := range needs {
		if !n.installed() {
			missing = append(missing, n.pkg)
		}
	}
	return missing
}

// InstallPackages installs what MissingPackages lists, with apt-get,
// telling w what it does. The package lists are updated only if the
// first try fails (they may be stale or absent in a fresh container).
func InstallPackages(w io.Writer) error {
	missing := MissingPackages()
	if len(missing) == 0 {
		return nil
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("packages %v are missing and installing them needs root", missing)
	}
	args := []string{"install", "-y", "--no-install-recommends"}
	args = append(args, missing...)
	for _, p := range missing {
		if p == "linux-image-cloud-amd64" {
			// The kernel package wants an initramfs generator; the
			// default, initramfs-tools, drags in udev and upgrades
			// systemd. tiny-initramfs satisfies it with two small
			// packages. Its initrd is never used: nodes boot ours.
			args = append(args, "tiny-initramfs")
		}
	}
	fmt.Fprintf(w, "installing %v\n", missing)
	if err := apt(w, args...); err != nil {
		if err := apt(w, "update"); err != nil {
			return err
		}
		if err := apt(w, args...); err != nil {
			return err
		}
	}
	if still := MissingPackages(); len(still) > 0 {
		return fmt.Errorf("installed, yet still missing: %v", still)
	}
	return nil
}

func apt(w io.Writer, args ...string) error {
	cmd := exec.Command("apt-get", args...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("apt-get %s: %w", args[0], err)
	}
	return nil
}
