package netboot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/pin/tftp/v3"
)

// errRefused is what a TFTP client asking for a name outside the file
// table is told.
var errRefused = errors.New("refused")

// cleanName turns a requested TFTP name into a key of the file table, or
// "" to refuse it. PXE ROMs often send a leading slash, which is dropped;
// anything else unusual (.., empty elements, backslashes as Windows-style
// clients send) is refused rather than repaired, so what is served is
// exactly what was named.
func cleanName(name string) string {
	name = strings.TrimPrefix(name, "/")
	if !fs.ValidPath(name) || name == "." || strings.ContainsAny(name, "\\\x00") {
		return ""
	}
	return name
}

// tftpServer serves the file table read-only.
type tftpServer struct {
	o      *Options
	ctx    context.Context // done when the Server closes: ends transfers
	log    *slog.Logger
	leases *leaseTable
	srv    *tftp.Server
	conn   net.PacketConn
}

func listenTFTP(o *Options) (net.PacketConn, error) {
	addr := netip.AddrPortFrom(o.Addr.Addr(), uint16(o.TFTPPort))
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(addr))
	if err != nil {
		return nil, fmt.Errorf("tftp: listen on %v: %w", addr, err)
	}
	return conn, nil
}

func newTFTPServer(ctx context.Context, o *Options, conn net.PacketConn, leases *leaseTable) *tftpServer {
	t := &tftpServer{o: o, ctx: ctx, log: o.Logger, leases: leases, conn: conn}
	// No write handler: pin/tftp answers every write request with an
	// error packet.
	t.srv = tftp.NewServer(t.read, nil)
	t.srv.SetHook(t)
	return t
}

// serve returns when shutdown is called.
func (t *tftpServer) serve() error {
	if err := t.srv.Serve(t.conn); err != nil {
		return fmt.Errorf("tftp: serve on %v: %w", t.conn.LocalAddr(), err)
	}
	return nil
}

// shutdown closes the socket and waits for transfers in flight, which
// stop at their next block since t.ctx is done by then. A transfer to a
// client that went silent is stuck retrying its block (5 tries of 5 s,
// with no way to cancel them in pin/tftp), so the wait is bounded; such a
// transfer has a socket of its own and holds nothing a restart needs.
// The socket is closed here too: pin/tftp closes only a socket its Serve
// has already taken, and Serve may not have started yet.
func (t *tftpServer) shutdown() {
	t.conn.Close()
	done := make(chan struct{})
	go func() {
		t.srv.Shutdown()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.log.Warn("tftp: closed with transfers to silent clients still retrying")
	}
}

// read is pin/tftp's read handler. Its error goes to the client in an
// error packet and to OnFailure, which logs it.
func (t *tftpServer) read(filename string, rf io.ReaderFrom) error {
	name := cleanName(filename)
	if name == "" {
		return fmt.Errorf("%q: %w", filename, errRefused)
	}
	src := t.o.tftpSource(name)
	if src == nil {
		return fmt.Errorf("%q: %w", name, fs.ErrNotExist)
	}
	f, err := src()
	if err != nil {
		return fmt.Errorf("open %q: %w", name, err)
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		return fmt.Errorf("size of %q: %w", name, err)
	}
	// The reader below hides the Seeker pin/tftp would size the file
	// with, so the size (RFC 2349 tsize, which PXE ROMs ask for) is set
	// here.
	if ot, ok := rf.(tftp.OutgoingTransfer); ok {
		ot.SetSize(size)
	}
	_, err = rf.ReadFrom(ctxReader{t.ctx, f})
	return err
}

// ctxReader fails once ctx is done, so that Close does not wait for a
// transfer to a client that went away (five retries of five seconds).
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if c.ctx.Err() != nil {
		return 0, errors.New("server shutting down")
	}
	return c.r.Read(p)
}

// OnSuccess implements tftp.Hook: one line per file sent.
func (t *tftpServer) OnSuccess(st tftp.TransferStats) {
	t.log.Info("tftp: sent", t.attrs(st, nil)...)
}

// OnFailure implements tftp.Hook. pin/tftp also calls it, with empty
// stats, for a packet it could not parse, which it otherwise ignores.
func (t *tftpServer) OnFailure(st tftp.TransferStats, err error) {
	if st.Filename == "" && st.RemoteAddr == nil {
		if t.ctx.Err() != nil {
			return // the closed socket, not a packet
		}
		t.log.Warn("tftp: bad packet", "err", err)
		return
	}
	t.log.Warn("tftp: failed", t.attrs(st, err)...)
}

func (t *tftpServer) attrs(st tftp.TransferStats, err error) []any {
	a := []any{"file", st.Filename, "ip", st.RemoteAddr}
	if ip, ok := netip.AddrFromSlice(st.RemoteAddr); ok {
		if mac := t.leases.mac(ip); mac != "" {
			a = append(a, "mac", mac)
		}
	}
	a = append(a, "dur", st.Duration.Round(1e6), "blocks", st.DatagramsSent)
	if err != nil {
		a = append(a, "err", err)
	}
	return a
}
