package bpmaster

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"reflect"
	"strconv"
	"sync"

	"github.com/bproc/bproc/applets"
	"github.com/bproc/bproc/internal/master"
	"github.com/bproc/bproc/internal/master/config"
	"github.com/bproc/bproc/internal/master/nodeimage"
	"github.com/bproc/bproc/internal/shared/keys"
	"github.com/bproc/bproc/internal/shared/nodeauth"
	"github.com/bproc/bproc/netboot"
)

// bootService runs the network boot services the config asks for
// (interface and kernel lines): nodes PXE-boot from this master into an
// image built from this binary. The node table and bootfile lines are
// read from the configuration in force at each request; a reload that
// changes what the image or the services are made of (interface, kernel,
// modules, kernel command line, cache size) builds the new image and
// restarts the services, and one whose image cannot be built keeps the
// old ones.
type bootService struct {
	live  func() *config.Config
	port  int
	state string
	// tokens: the boot tokens the scripts carry (master.Config.Tokens).
	tokens *nodeauth.Tokens
	log    *slog.Logger

	mu   sync.Mutex
	srv  *netboot.Server
	opts netboot.Options
	made bootInputs // what srv was made from
}

// bootInputs are the parts of a config the image and services are made
// of.
type bootInputs struct {
	Interfaces    []config.Interface
	Kernel        string
	KernelCmdline string
	ModulesDir    string
	Modules       []string
	CacheSize     int64
	TmpSize       int64
}

func inputsOf(f *config.Config) bootInputs {
	return bootInputs{f.Interfaces, f.Kernel, f.KernelCmdline, f.ModulesDir, f.Modules, f.CacheSize, f.TmpSize}
}

// startBoot starts the boot services of file, or none when it asks for
// none (unless only: then that is an error).
func startBoot(file *config.Config, live func() *config.Config, mc master.Config, only bool, log *slog.Logger) (*bootService, error) {
	_, portStr, err := net.SplitHostPort(mc.Listen)
	if err != nil {
		return nil, &applets.UsageError{Err: fmt.Errorf("--listen %q: %w", mc.Listen, err)}
	}
	port, _ := strconv.Atoi(portStr)
	if _, err := keys.LoadOrCreate(mc.StateDir); err != nil {
		return nil, err
	}
	b := &bootService{live: live, port: port, state: mc.StateDir, tokens: mc.Tokens, log: log.With("service", "boot")}
	opts, err := b.options(file)
	if errors.Is(err, nodeimage.ErrNoBoot) && !only {
		b.made = inputsOf(file)
		return b, nil
	}
	if err != nil {
		return nil, err
	}
	srv, err := netboot.Start(opts)
	if err != nil {
		return nil, err
	}
	b.srv, b.opts, b.made = srv, opts, inputsOf(file)
	return b, nil
}

func (b *bootService) options(file *config.Config) (netboot.Options, error) {
	o, err := nodeimage.BootOptions(file, b.live, b.state, applets.Linked(), b.port, b.log)
	if err != nil {
		return o, err
	}
	// Each script served to a node's own lease address carries a token
	// of that boot's, which the master takes at the node's first
	// connection.
	o.MintToken = func(node int, mac net.HardwareAddr, ip netip.Addr) (string, error) {
		return b.tokens.Mint(node, mac, ip, 0)
	}
	return o, nil
}

// reload takes on file, the configuration now in force.
func (b *bootService) reload(file *config.Config) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if reflect.DeepEqual(inputsOf(file), b.made) {
		nodeimage.WarnBootFiles(file, b.log)
		return
	}
	opts, err := b.options(file)
	switch {
	case errors.Is(err, nodeimage.ErrNoBoot):
		if b.srv != nil {
			b.srv.Close()
			b.srv = nil
			b.log.Info("boot services stopped: the config has no interface and kernel lines now")
		}
		b.made = inputsOf(file)
		return
	case err != nil:
		b.log.Error("reload: boot services not changed", "err", err)
		return
	}
	if b.srv != nil {
		b.srv.Close()
	}
	srv, err := netboot.Start(opts)
	if err != nil {
		b.log.Error("reload: new boot services do not start; keeping the old ones", "err", err)
		b.srv = nil
		if b.opts.Interface != "" {
			if old, err := netboot.Start(b.opts); err == nil {
				b.srv = old
			} else {
				b.log.Error("reload: the old boot services do not start again", "err", err)
			}
		}
		return
	}
	b.srv, b.opts, b.made = srv, opts, inputsOf(file)
	b.log.Info("boot services restarted with the new config", "interface", opts.Interface, "kernel", file.Kernel)
}

func (b *bootService) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.srv != nil {
		b.srv.Close()
		b.srv = nil
	}
}
