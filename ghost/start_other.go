//go:build !(linux && amd64)

package ghost

import (
	"errors"
	"os"
)

// Attr says how to start a ghost; see start_linux_amd64.go.
type Attr struct {
	Argv    []string
	Socket  string
	Token   Token
	Files   [3]*os.File
	Setpgid bool
}

// ErrUnsupported is returned by Start where there is no ghost stub:
// only linux/amd64 has one so far.
var ErrUnsupported = errors.New("ghost: no ghost stub for this platform")

// Start returns ErrUnsupported.
func Start(Attr) (int, error) { return 0, ErrUnsupported }

// StubPath returns ErrUnsupported.
func StubPath() (string, error) { return "", ErrUnsupported }

// StubFD returns ErrUnsupported.
func StubFD() (int, error) { return -1, ErrUnsupported }
