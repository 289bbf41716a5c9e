package initramfs

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
)

// VersionOf reads the release of an x86 Linux kernel image (a bzImage such
// as /boot/vmlinuz-VER) from its setup header, so the modules put in the
// image match the kernel the nodes boot even when the file has been renamed.
//
// The boot protocol (Documentation/arch/x86/boot.rst) puts the magic "HdrS"
// at 0x202 and, from protocol 2.00 on, a 16-bit pointer at 0x20e to a
// NUL-terminated string, "6.1.0-48-cloud-amd64 (debian-kernel@...) #1 ...",
// at 0x200 plus that pointer. Its first word is what uname -r says.
func VersionOf(kernel string) (string, error) {
	f, err := os.Open(kernel)
	if err != nil {
		return "", fmt.Errorf("kernel version: %w", err)
	}
	defer f.Close()
	var hdr [0x210]byte
	if _, err := f.ReadAt(hdr[:], 0); err != nil {
		return "", fmt.Errorf("kernel version: %s: %w", kernel, ErrNotKernel)
	}
	if string(hdr[0x202:0x206]) != "HdrS" || binary.LittleEndian.Uint16(hdr[0x206:]) < 0x200 {
		return "", fmt.Errorf("kernel version: %s: %w", kernel, ErrNotKernel)
	}
	off := 0x200 + int64(binary.LittleEndian.Uint16(hdr[0x20e:]))
	var s [256]byte
	n, _ := f.ReadAt(s[:], off)
	v, _, _ := bytes.Cut(s[:n], []byte{0})
	if f := bytes.Fields(v); len(f) > 0 && isName(string(f[0])) {
		return string(f[0]), nil
	}
	return "", fmt.Errorf("kernel version: %s: no version string at %#x: %w", kernel, off, ErrNotKernel)
}
