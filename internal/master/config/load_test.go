package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestLoadMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	c, err := Load(path, false)
	if err != nil || !reflect.DeepEqual(c, Default()) {
		t.Errorf("Load(missing, false) = %+v, %v, want Default(), nil", c, err)
	}
	c, err = Load(path, true)
	if c != nil || !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrInvalid) {
		t.Errorf("Load(missing, true) = %+v, %v, want nil and a not-exist error", c, err)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("bprocport 2223\niprange 10.0.0.1 10.0.0.300\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(bad, true)
	if want := bad + `:2: iprange: "10.0.0.300" is not an IPv4 address`; err == nil || err.Error() != want {
		t.Errorf("Load(bad) = %v, want %s", err, want)
	}

	// A directory where the file should be is not a missing file, even
	// when the file may be missing.
	if c, err := Load(dir, false); err == nil || errors.Is(err, ErrInvalid) {
		t.Errorf("Load(directory, false) = %+v, %v, want a read error", c, err)
	}

	huge := filepath.Join(dir, "huge")
	if err := os.WriteFile(huge, []byte(strings.Repeat("#\n", maxFileSize/2+1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(huge, true); err == nil || !strings.Contains(err.Error(), "larger than 16 MiB") {
		t.Errorf("Load(huge) = %v, want larger than 16 MiB", err)
	}
}

// A reload of a configuration read from a file fails when the file is gone,
// and the caller keeps what runs; one that had no file may find none.
func TestLoadAgainMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(path, []byte("nodes 4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	running, err := Load(path, true)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(path)
	if c, err := LoadAgain(path, running); c != nil || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadAgain(removed file) = %+v, %v, want nil and a not-exist error", c, err)
	}
	if c, err := LoadAgain(path, Default()); err != nil || !reflect.DeepEqual(c, Default()) {
		t.Errorf("LoadAgain(no file, running Default) = %+v, %v, want Default(), nil", c, err)
	}
}
