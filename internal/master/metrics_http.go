package master

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"

	"github.com/bproc/bproc/internal/master/config"
)

// The bounds of the metrics endpoint: a scrape is one small GET, and the
// endpoint must not become a way to take the master's descriptors or
// memory. At most metricsConns connections at once (more wait in the
// kernel's backlog), each with metricsHeaderTimeout to send its request:
// a scrape's comes at once, and an idle connection holds a slot no
// longer than that (64 idle ones delay a scrape by about 8 s).
const (
	metricsConns         = 16
	metricsHeaderTimeout = 2 * time.Second
	metricsTimeout       = 10 * time.Second
)

// serveMetrics listens on m.cfg.Metrics, only there, and serves
// /metrics until stop is called.
func (m *Master) serveMetrics() (stop func(), err error) {
	l, err := net.Listen("tcp", m.cfg.Metrics)
	if err != nil {
		return nil, fmt.Errorf("listen for metrics on %s: %w", m.cfg.Metrics, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", m.metricsHandler)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: metricsHeaderTimeout,
		ReadTimeout:       metricsTimeout,
		WriteTimeout:      metricsTimeout,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    8 << 10,
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(netutil.LimitListener(l, metricsConns)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.log.Error("serve metrics", "err", err)
		}
	}()
	m.log.Info("metrics listening", "addr", l.Addr().String())
	return func() {
		srv.Close()
		<-done
	}, nil
}

// noteMetricsReload says that a metrics line changed by a reload waits
// for the next start: the listener is the one the master started with.
func (m *Master) noteMetricsReload(running, file *config.Config) {
	if file.Metrics != running.Metrics {
		m.log.Warn("reload: the metrics line changed; it takes effect when bpmaster starts again",
			"serving", m.cfg.Metrics, "file", file.Metrics)
	}
}

func (m *Master) metricsHandler(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "only GET and HEAD", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	if r.Method == http.MethodHead {
		return
	}
	m.writeMetrics(w)
}
