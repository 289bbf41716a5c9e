package bproc

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/bproc/bproc/internal/shared/localapi"
	"github.com/bproc/bproc/internal/shared/localapi/localapitest"
)

func dialFake(t *testing.T, replies map[string]localapi.Reply) *Client {
	t.Helper()
	c, err := Dial(localapitest.Master(t, localapitest.Replies(replies)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestDialNoMaster(t *testing.T) {
	_, err := Dial(filepath.Join(t.TempDir(), "none.sock"))
	if !errors.Is(err, ErrNoMaster) {
		t.Errorf("Dial(missing socket) = %v, want ErrNoMaster", err)
	}
}
