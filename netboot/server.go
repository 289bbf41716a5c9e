package netboot

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Server runs the boot services on one interface.
type Server struct {
	o      Options
	log    *slog.Logger
	ctx    context.Context // done once Close starts
	cancel context.CancelFunc
	wg     sync.WaitGroup // the serving goroutines

	dhcp *dhcpServer
	tftp *tftpServer
	http *httpServer
	ra   *raResponder // nil when off or unavailable

	closeOnce sync.Once
	failOnce  sync.Once
	failed    chan struct{} // closed with err set: a service stopped
	err       error
}

// Start opens every socket, so that a port in use or a missing interface
// is an error here rather than a log line later, then serves in the
// background until Close.
func Start(opts Options) (*Server, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := checkInterface(o.Interface, o.Addr.Addr()); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{o: o, log: o.Logger, ctx: ctx, cancel: cancel, failed: make(chan struct{})}
	leases := &leaseTable{m: make(map[netip.Addr]string)}

	// Sockets first, in one place, so a failure closes the ones opened.
	var closers []func() error
	fail := func(err error) (*Server, error) {
		for _, c := range closers {
			c()
		}
		cancel()
		return nil, err
	}
	dconn, err := listenDHCP(&s.o)
	if err != nil {
		return fail(err)
	}
	closers = append(closers, dconn.Close)
	tconn, err := listenTFTP(&s.o)
	if err != nil {
		return fail(err)
	}
	closers = append(closers, tconn.Close)
	hln, err := listenHTTP(&s.o)
	if err != nil {
		return fail(err)
	}
	closers = append(closers, hln.Close)
	if !o.NoRA {
		// Without router advertisements nodes still boot, 13 s slower
		// each: not worth refusing to start over (IPv6 may be off).
		if s.ra, err = listenRA(&s.o); err != nil {
			s.log.Warn("netboot: no router advertisements; iPXE will wait for IPv6", "err", err)
		}
	}

	s.dhcp = &dhcpServer{
		o:       &s.o,
		conn:    dconn,
		log:     s.log,
		unknown: &onceEvery{interval: o.UnknownInterval, now: time.Now, last: make(map[string]time.Time)},
		leases:  leases,
	}
	s.tftp = newTFTPServer(ctx, &s.o, tconn, leases)
	s.http = newHTTPServer(&s.o, hln, leases)
	s.run(s.dhcp.serve)
	s.run(s.tftp.serve)
	s.run(s.http.serve)
	if s.ra != nil {
		s.run(s.ra.serve)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.ra.advertise(ctx)
		}()
		s.ra.due() // unsolicited, for nodes already waiting
	}
	s.log.Info("netboot: serving", "interface", o.Interface, "addr", o.Addr,
		"http", o.baseURL(), "tftp_port", o.TFTPPort, "master", o.master(), "ra", s.ra != nil)
	return s, nil
}

// run starts a service loop; an error it returns before Close is a
// failure of the server.
func (s *Server) run(serve func() error) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := serve(); err != nil && s.ctx.Err() == nil {
			s.log.Error("netboot: service stopped", "err", err)
			s.failOnce.Do(func() {
				s.err = err
				close(s.failed)
			})
		}
	}()
}

// checkInterface makes sure the address is on the interface: DHCP would
// otherwise hand out a server identifier nobody answers at.
func checkInterface(name string, addr netip.Addr) error {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return fmt.Errorf("netboot: interface %s: %w", name, err)
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return fmt.Errorf("netboot: addresses of %s: %w", name, err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(ipn.IP); ok && ip.Unmap() == addr {
				return nil
			}
		}
	}
	return fmt.Errorf("netboot: interface %s does not have address %v", name, addr)
}

// Wait blocks until the server is closed (nil) or one of its services
// fails (that error; the others keep serving until Close).
func (s *Server) Wait() error {
	select {
	case <-s.failed:
		return s.err
	case <-s.ctx.Done():
	}
	select {
	case <-s.failed:
		return s.err
	default:
		return nil
	}
}

// Close stops every service and waits for them. Transfers in flight are
// cut short (TFTP at its next block, HTTP after a grace period).
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		s.dhcp.conn.Close()
		if s.ra != nil {
			s.ra.close()
		}
		// Both wait for transfers in flight, for a bounded time each.
		var stop sync.WaitGroup
		stop.Go(s.tftp.shutdown)
		stop.Go(s.http.shutdown)
		stop.Wait()
		s.wg.Wait()
		s.log.Info("netboot: stopped", "interface", s.o.Interface)
	})
	return nil
}

// Serve runs the boot services until ctx is done or one of them fails;
// it is what "bpmaster --boot-only" runs.
func Serve(ctx context.Context, opts Options) error {
	s, err := Start(opts)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-s.failed:
	}
	s.Close()
	if s.err != nil {
		return s.err
	}
	return nil
}
