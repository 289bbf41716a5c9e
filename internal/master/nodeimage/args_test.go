package nodeimage

import (
	"testing"

	"github.com/bproc/bproc/internal/master/config"
)

func TestKernelArgs(t *testing.T) {
	for _, tc := range []struct {
		cfg  config.Config
		want string
	}{
		{config.Config{}, ""},
		{config.Config{KernelCmdline: "quiet"}, "quiet"},
		{config.Config{CacheSize: 512 << 20}, "bproc.cachesize=536870912"},
		{config.Config{KernelCmdline: "quiet", CacheSize: 1 << 20}, "quiet bproc.cachesize=1048576"},
		{config.Config{TmpSize: 64 << 20}, "bproc.tmpsize=67108864"},
	} {
		if got := kernelArgs(&tc.cfg); got != tc.want {
			t.Errorf("kernelArgs(%+v) = %q, want %q", tc.cfg, got, tc.want)
		}
	}
}
