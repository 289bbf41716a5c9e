package netboot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"
)

// httpServer serves the iPXE script, kernel and initramfs.
type httpServer struct {
	o      *Options
	log    *slog.Logger
	leases *leaseTable
	srv    *http.Server
	ln     net.Listener
}

func listenHTTP(o *Options) (net.Listener, error) {
	addr := netip.AddrPortFrom(o.Addr.Addr(), uint16(o.HTTPPort))
	ln, err := net.Listen("tcp4", addr.String())
	if err != nil {
		return nil, fmt.Errorf("http: listen on %v: %w", addr, err)
	}
	return ln, nil
}

func newHTTPServer(o *Options, ln net.Listener, leases *leaseTable) *httpServer {
	h := &httpServer{o: o, log: o.Logger, leases: leases, ln: ln}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /boot.ipxe", h.script)
	mux.HandleFunc("GET /kernel", h.file("kernel", o.Kernel))
	mux.HandleFunc("GET /initramfs", h.initramfs)
	h.srv = &http.Server{
		Handler: h.logged(mux),
		// A node that stalls mid-header must not hold a connection.
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn),
	}
	return h
}

func (h *httpServer) serve() error {
	if err := h.srv.Serve(h.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http: serve on %v: %w", h.ln.Addr(), err)
	}
	return nil
}

// shutdown lets transfers in flight finish for a while (a kernel takes
// about a second), then cuts them.
func (h *httpServer) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := h.srv.Shutdown(ctx); err != nil {
		h.srv.Close()
	}
}

// script serves /boot.ipxe: the boot script when the query names the
// MAC, otherwise a script that asks again with it.
func (h *httpServer) script(w http.ResponseWriter, r *http.Request) {
	rl := w.(*reqLog)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	q := r.URL.Query().Get("mac")
	if q == "" {
		io.WriteString(w, chainScript(h.o))
		return
	}
	mac, err := net.ParseMAC(q)
	if err != nil || len(mac) != 6 {
		rl.err = fmt.Errorf("mac %q: not an Ethernet address", q)
		http.Error(w, rl.err.Error(), http.StatusBadRequest)
		return
	}
	rl.mac = mac.String()
	node, token := -1, ""
	if ip, n, ok := h.o.Lookup(mac); ok {
		node = n
		token = h.token(r, mac, ip, n)
	}
	rl.node = node
	io.WriteString(w, bootScript(h.o, mac, node, token))
}

// token mints node's boot token if the script request came from the
// address the node's lease gives: a script fetched from elsewhere (a host
// asking with another's MAC) boots, but its node will not be taken.
func (h *httpServer) token(r *http.Request, mac net.HardwareAddr, ip netip.Addr, node int) string {
	if h.o.MintToken == nil {
		return ""
	}
	from := remoteIP(r)
	if !ip.IsValid() || from != ip.Unmap() {
		h.log.Warn("http: boot script without a token: asked from another address than the MAC's lease", "mac", mac.String(), "node", node, "from", from, "lease", ip)
		return ""
	}
	tok, err := h.o.MintToken(node, mac, ip)
	if err != nil {
		h.log.Error("http: boot token", "node", node, "err", err)
		return ""
	}
	return tok
}

// initramfs serves /initramfs: the one every node boots, or, with
// ?mac=MAC, that node's boot file. A MAC whose node has none (its
// bootfile line was removed since it got its script) gets the common one.
func (h *httpServer) initramfs(w http.ResponseWriter, r *http.Request) {
	rl := w.(*reqLog)
	src := h.o.Initramfs
	if q := r.URL.Query().Get("mac"); q != "" {
		mac, err := net.ParseMAC(q)
		if err != nil || len(mac) != 6 {
			rl.err = fmt.Errorf("mac %q: not an Ethernet address", q)
			http.Error(w, rl.err.Error(), http.StatusBadRequest)
			return
		}
		rl.mac = mac.String()
		_, node, ok := h.o.Lookup(mac)
		if !ok {
			rl.err = fmt.Errorf("mac %s: not in the node table", mac)
			http.NotFound(w, r)
			return
		}
		rl.node = node
		if own := h.o.nodeInitramfs(node); own != nil {
			src = own
		}
	}
	h.serveSource(w, r, "initramfs", src)
}

// file serves a Source with ranges and HEAD (http.ServeContent).
func (h *httpServer) file(name string, src Source) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { h.serveSource(w, r, name, src) }
}

func (h *httpServer) serveSource(w http.ResponseWriter, r *http.Request, name string, src Source) {
	rl := w.(*reqLog)
	if src == nil {
		rl.err = fmt.Errorf("no %s configured", name)
		http.NotFound(w, r)
		return
	}
	f, err := src()
	if err != nil {
		rl.err = fmt.Errorf("open %s: %w", name, err)
		http.Error(w, "cannot open "+name, http.StatusInternalServerError)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(w, r, name, time.Time{}, f)
}

// reqLog records what a handler did, for the one log line per request.
type reqLog struct {
	http.ResponseWriter
	status int
	n      int64
	mac    string
	node   int
	err    error
}

func (l *reqLog) WriteHeader(code int) {
	if l.status == 0 {
		l.status = code
	}
	l.ResponseWriter.WriteHeader(code)
}

func (l *reqLog) Write(p []byte) (int, error) {
	if l.status == 0 {
		l.status = http.StatusOK
	}
	n, err := l.ResponseWriter.Write(p)
	l.n += int64(n)
	return n, err
}

// ReadFrom keeps the sendfile path of the underlying ResponseWriter for
// the kernel and initramfs.
func (l *reqLog) ReadFrom(r io.Reader) (int64, error) {
	if l.status == 0 {
		l.status = http.StatusOK
	}
	n, err := io.Copy(l.ResponseWriter, r)
	l.n += n
	return n, err
}

func (h *httpServer) logged(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rl := &reqLog{ResponseWriter: w, node: -1}
		ip := remoteIP(r)
		if mac := h.leases.mac(ip); mac != "" {
			rl.mac = mac
		}
		next.ServeHTTP(rl, r)
		if rl.status == 0 {
			rl.status = http.StatusOK // nothing written: net/http sends 200
		}
		a := []any{"method", r.Method, "path", r.URL.Path, "ip", ip, "status", rl.status,
			"bytes", rl.n, "dur", time.Since(start).Round(time.Millisecond)}
		if rl.mac != "" {
			a = append(a, "mac", rl.mac)
		}
		if rl.node >= 0 {
			a = append(a, "node", rl.node)
		}
		if rl.err != nil {
			a = append(a, "err", rl.err)
		}
		if rl.status >= 400 {
			h.log.Warn("http: request", a...)
			return
		}
		h.log.Info("http: request", a...)
	})
}

func remoteIP(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
