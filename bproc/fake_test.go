package bproc

import (
	"errors"
	"net"
	"path/filepath"
	"testing"

	"github.com/bproc/bproc/localapi"
)

// fakeMaster answers each request on its socket with the reply for its op.
func fakeMaster(t *testing.T, replies map[string]localapi.Reply) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "master.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				for {
					var req localapi.Request
					if err := localapi.ReadFrame(c, &req); err != nil {
						return
					}
					if err := localapi.WriteFrame(c, replies[req.Op]); err != nil {
						return
					}
				}
			}()
		}
	}()
	return sock
}

func dialFake(t *testing.T, replies map[string]localapi.Reply) *Client {
	t.Helper()
	c, err := Dial(fakeMaster(t, replies))
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
