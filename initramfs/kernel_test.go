package initramfs

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// bzImage makes the start of a bzImage whose setup header points at s.
func bzImage(s string) []byte {
	b := make([]byte, 0x400)
	copy(b[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(b[0x206:], 0x20f)
	binary.LittleEndian.PutUint16(b[0x20e:], 0x100)
	copy(b[0x300:], s+"\x00")
	return b
}

func TestVersionOf(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name    string
		content []byte
		want    string
		err     error
	}{
		{"debian", bzImage("6.1.0-48-cloud-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian 6.1.172-1"), "6.1.0-48-cloud-amd64", nil},
		{"not a kernel", []byte(strings.Repeat("x", 0x1000)), "", ErrNotKernel},
		{"short file", []byte("MZ"), "", ErrNotKernel},
		{"empty version", bzImage(""), "", ErrNotKernel},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name)
			if err := os.WriteFile(p, tc.content, 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := VersionOf(p)
			if got != tc.want || !errors.Is(err, tc.err) {
				t.Errorf("VersionOf(%s) = %q, %v; want %q, %v", tc.name, got, err, tc.want, tc.err)
			}
		})
	}
	if _, err := VersionOf(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("VersionOf(missing) = %v, want an error naming the file", err)
	}
}

// TestVersionOfInstalled checks the kernels in /boot against their file
// names, when there are any.
func TestVersionOfInstalled(t *testing.T) {
	ks, _ := filepath.Glob("/boot/vmlinuz-*")
	if len(ks) == 0 {
		t.Skip("no /boot/vmlinuz-*")
	}
	for _, k := range ks {
		got, err := VersionOf(k)
		if want := strings.TrimPrefix(filepath.Base(k), "vmlinuz-"); got != want || err != nil {
			t.Errorf("VersionOf(%s) = %q, %v; want %q", k, got, err, want)
		}
	}
}
