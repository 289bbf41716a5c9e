package node

import (
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"

	"github.com/bproc/bproc/internal/shared/wire"
)

// sshPair is a connection between a master (the SSH server) and this
// node (the client) in memory, as the node daemon has it: the master's
// side to ask with, and the node's channels and global requests.
type sshPair struct {
	master *ssh.ServerConn
	node   ssh.Conn
	chans  <-chan ssh.NewChannel
	reqs   <-chan *ssh.Request
}

func newSSHPair(t *testing.T) *sshPair { return newSSHPairAnswering(t, nil) }

// serveSpace has s take the master's ChanSpace channels, as a node's
// connection does, and refuse any other.
func (p *sshPair) serveSpace(s *Slave) {
	go func() {
		for nc := range p.chans {
			if nc.ChannelType() == wire.ChanSpace {
				s.acceptSpace(nc, p.node)
				continue
			}
			nc.Reject(ssh.UnknownChannelType, "not in this test")
		}
	}()
}

// newSSHPairAnswering is newSSHPair with the master's answer to the
// node's global requests (nil: refused).
func newSSHPairAnswering(t *testing.T, answer func(*ssh.Request)) *sshPair {
	t.Helper()
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	host, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		t.Fatal(err)
	}
	scfg := &ssh.ServerConfig{NoClientAuth: true}
	scfg.AddHostKey(host)
	a, b := socketPair(t)
	var p sshPair
	served := make(chan error, 1)
	go func() {
		sc, chans, reqs, err := ssh.NewServerConn(a, scfg)
		if err == nil {
			p.master = sc
			if answer == nil {
				go ssh.DiscardRequests(reqs)
			} else {
				go func() {
					for r := range reqs {
						answer(r)
					}
				}()
			}
			go func() {
				for nc := range chans {
					nc.Reject(ssh.Prohibited, "the test's master opens no channel of the node's")
				}
			}()
		}
		served <- err
	}()
	cc, chans, reqs, err := ssh.NewClientConn(b, "node", &ssh.ClientConfig{User: "node", HostKeyCallback: ssh.FixedHostKey(host.PublicKey())})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	p.node, p.chans, p.reqs = cc, chans, reqs
	t.Cleanup(func() { cc.Close(); p.master.Close() })
	return &p
}

// socketPair is a connected pair of unix sockets (net.Pipe does not
// buffer: both sides' SSH version lines would wait on each other).
func socketPair(t *testing.T) (net.Conn, net.Conn) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	var conns [2]net.Conn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "socketpair")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c
	}
	return conns[0], conns[1]
}

// testSlave is a node daemon that is not connected, logging nowhere. Its
// reaper goes with the test: left running, it reaps every child of the
// test binary, and a later test's own wait4 finds ECHILD.
func testSlave(t *testing.T) *Slave {
	s := New(Config{Node: 3, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	t.Cleanup(s.reaper.Close)
	return s
}
