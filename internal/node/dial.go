package node

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/bproc/bproc/internal/shared/nodeauth"
	"github.com/bproc/bproc/internal/shared/sshconn"
	"github.com/bproc/bproc/internal/shared/wire"
)

// DialMaster opens an SSH connection to the master at addr as user: a
// node's process connection (wire.User) or its files connection
// (wire.FilesUser), authenticated by auth (the node's own key, or at the
// first connection of a boot its token: BootAuth), to a master holding
// hostKey.
func DialMaster(ctx context.Context, addr, user string, auth ssh.AuthMethod, hostKey ssh.PublicKey) (ssh.Conn, <-chan ssh.NewChannel, <-chan *ssh.Request, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("dial master %s: %w", addr, err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	conn, chans, reqs, err := ssh.NewClientConn(c, addr, &ssh.ClientConfig{
		User:            user,
		Auth:            []ssh.AuthMethod{auth},
		HostKeyCallback: ssh.FixedHostKey(hostKey),
		ClientVersion:   "SSH-2.0-bproc-node",
	})
	if err != nil {
		c.Close()
		return nil, nil, nil, fmt.Errorf("handshake with master %s: %w", addr, err)
	}
	c.SetDeadline(time.Time{})
	return conn, chans, reqs, nil
}

// BootAuth is a node's first connection of a boot: its boot token and
// the public half of its key, as SSH password authentication, sent only
// once the channel is encrypted to the pinned host key.
func BootAuth(token string, key ssh.Signer) ssh.AuthMethod {
	return ssh.Password(nodeauth.Credential{Token: token, Key: key.PublicKey()}.String())
}

// OpenFiles opens an sftp session of the master's files as uid on conn:
// read-only, and only while uid has a process on this node (the master
// checks, and takes the user's gid and groups from its own record). Its
// stats of regular files carry the content's sum (contentcache), which the
// node's cache is keyed by.
func OpenFiles(conn ssh.Conn, uid uint32) (*sftp.Client, error) {
	ch, reqs, err := sshconn.OpenChannel(conn, wire.ChanFiles, wire.Encode(wire.FilesRequest{UID: uid, Sums: true}))
	if err != nil {
		return nil, fmt.Errorf("master's files as uid %d: %w", uid, err)
	}
	go ssh.DiscardRequests(reqs)
	c, err := sftp.NewClientPipe(ch, ch)
	if err != nil {
		ch.Close()
		return nil, fmt.Errorf("master's files as uid %d: %w", uid, err)
	}
	return c, nil
}
