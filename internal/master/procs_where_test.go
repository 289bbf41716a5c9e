package master

import (
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bproc/bproc/internal/master/config"
	"github.com/bproc/bproc/internal/shared/ghost"
	"github.com/bproc/bproc/internal/shared/localapi"
)

// whereFirstConn is a node connection that refuses every channel, noting
// whether the ghost had been told where its process runs by then.
type whereFirstConn struct {
	ssh.Conn
	ghost  int // the ghost's end of its socket
	opened chan bool
}

// Wait: the connection never ends (sshconn.OpenChannel watches for that).
func (c *whereFirstConn) Wait() error { select {} }

func (c *whereFirstConn) OpenChannel(name string, data []byte) (ssh.Channel, <-chan *ssh.Request, error) {
	b := make([]byte, 64)
	n, _ := syscall.Read(c.ghost, b) // non-blocking: what the master wrote so far
	told := n >= 16 && binary.LittleEndian.Uint32(b[0:4]) == ghost.CmdWhere
	c.opened <- told
	return nil, nil, &ssh.OpenChannelError{Reason: ssh.Prohibited, Message: "test"}
}

// TestTellWhereBeforeStart: a ghost hears where its process runs (and the
// grace time) before the node is asked to start it, so a master killed
// as the process starts leaves it to the next master; so does the ghost
// of a descendant before the node hears the fork's answer.
func TestTellWhereBeforeStart(t *testing.T) {
	for _, desc := range []bool{false, true} {
		fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer syscall.Close(fds[1])
		f := os.NewFile(uintptr(fds[0]), "ghost")
		gc, err := net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		log := slog.New(slog.DiscardHandler)
		m := &Master{nodes: map[int]*node{}, procs: map[int]*proc{}, routines: newRoutines(), log: log}
		m.cfg.NodeGrace, m.cfg.File = time.Minute, &config.Config{}
		conn := &whereFirstConn{ghost: fds[1], opened: make(chan bool, 1)}
		n := newNode(0, false, saved{})
		n.conn, n.proto, n.state = &ssh.ServerConn{Conn: conn}, 3, localapi.StateUp
		m.nodes[0] = n
		j := &job{c: &client{w: io.Discard, log: log}, cred: localapi.Cred{PID: 4242}}
		r := &rank{job: j, node: 0}
		if desc {
			r.desc = &descendant{born: make(chan int, 1)}
		}
		p := &proc{m: m, pid: 4242, rank: r, job: j, ghost: gc.(*net.UnixConn), release: func() {}}
		p.run()
		select {
		case told := <-conn.opened:
			if !told {
				t.Errorf("descendant %v: the node was asked to start the process before its ghost was told where", desc)
			}
		default:
			t.Errorf("descendant %v: no channel opened", desc)
		}
	}
}
