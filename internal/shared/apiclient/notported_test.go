package apiclient

import (
	"errors"
	"syscall"
	"testing"

	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/vmadump"
)

// TestNotPortedIsENOSYS: the master's refusal to move a process where
// remote fork is not ported (arm64) reaches Go callers as ENOSYS, as it
// reaches libbproc's (errors.c has the same text).
func TestNotPortedIsENOSYS(t *testing.T) {
	err := error(&masterError{text: vmadump.ErrNotPorted.Error()}) // no code: matched by its text
	if !errors.Is(err, syscall.ENOSYS) {
		t.Errorf("%q is not ENOSYS", err)
	}
	if errors.Is(err, syscall.EPERM) || errors.Is(err, localapi.ErrNodeDown) {
		t.Errorf("%q matches another error", err)
	}
}
