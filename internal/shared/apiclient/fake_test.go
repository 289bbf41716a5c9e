package apiclient

import (
	"errors"
	"net"
	"path/filepath"
	"testing"

	"github.com/bproc/bproc/internal/shared/localapi"
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
	go serveReplies(l, replies)
	return sock
}

// serveReplies answers every request on l with the reply for its op,
// until l is closed.
func serveReplies(l net.Listener, replies map[string]localapi.Reply) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			for {
				var req localapi.Request
				if localapi.ReadFrame(c, &req) != nil || localapi.WriteFrame(c, replies[req.Op]) != nil {
					return
				}
			}
		}()
	}
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
