//go:build !(linux && amd64)

package ghost

import (
	"errors"
	"os"
	"syscall"
)

// Group starts the ghosts of one job; see group_linux_amd64.go.
type Group struct {
	Argv      []string
	Socket    string
	Setpgid   bool
	Forwarded bool
	Cred      *syscall.Credential
}

// ErrUnsupported is returned by Start where there is no ghost stub:
// only linux/amd64 has one so far.
var ErrUnsupported = errors.New("ghost: no ghost stub for this platform")

// ErrClosed is returned by Start on a closed Group.
var ErrClosed = errors.New("ghost: group closed")

// Start returns ErrUnsupported.
func (g *Group) Start(Token, [3]*os.File) (int, error) { return 0, ErrUnsupported }

// Close does nothing.
func (g *Group) Close() error { return nil }

// StubPath returns ErrUnsupported.
func StubPath() (string, error) { return "", ErrUnsupported }

// StubFD returns ErrUnsupported.
func StubFD() (int, error) { return -1, ErrUnsupported }

// StartMany returns ErrUnsupported for each.
func (g *Group) StartMany(toks []Token, _ [][3]*os.File) ([]int, []error) {
	errs := make([]error, len(toks))
	for i := range errs {
		errs[i] = ErrUnsupported
	}
	return make([]int, len(toks)), errs
}

// Prestart returns ErrUnsupported.
func (g *Group) Prestart([3]*os.File) error { return ErrUnsupported }
