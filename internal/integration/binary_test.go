package integration

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
)

// reachableByOthers says whether a user other than the owner can run
// path: every directory above it searchable by others, the file
// executable by them.
func reachableByOthers(path string) bool {
	abs, err := filepath.Abs(path)
	if err != nil {
		return false
	}
	fi, err := os.Stat(abs)
	if err != nil || fi.Mode().Perm()&0o001 == 0 {
		return false
	}
	for dir := filepath.Dir(abs); ; dir = filepath.Dir(dir) {
		fi, err := os.Stat(dir)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		if dir == "/" {
			return true
		}
	}
}

// publicBinary puts the binary under test into dir, open to others: a
// copy of from, or one built from this tree when from is empty.
func publicBinary(from, dir string) (string, error) {
	to := filepath.Join(dir, "bproc")
	if from == "" {
		build := exec.Command("go", "build", "-o", to, "../..")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			return "", fmt.Errorf("build bproc: %w", err)
		}
		return to, nil
	}
	src, err := os.Open(from)
	if err != nil {
		return "", fmt.Errorf("copy $BPROC_BIN: %w", err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return "", fmt.Errorf("copy $BPROC_BIN: %w", err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return "", fmt.Errorf("copy $BPROC_BIN to %s: %w", to, err)
	}
	if err := dst.Close(); err != nil {
		return "", fmt.Errorf("copy $BPROC_BIN to %s: %w", to, err)
	}
	return to, nil
}
