package nodeinit

import (
	"strings"
	"testing"
)

func TestParseCmdline(t *testing.T) {
	p, err := ParseCmdline("console=ttyS0 bproc.master=10.99.0.1:2223 bproc.node=3 bproc.mac=52:54:00:99:00:03 quiet\n")
	if err != nil || p.Master != "10.99.0.1:2223" || p.Node != 3 || p.MAC.String() != "52:54:00:99:00:03" {
		t.Errorf("ParseCmdline = %+v, %v", p, err)
	}
	p, err = ParseCmdline("console=ttyS0")
	if err != nil || p.Master != "" || p.Node != -1 || p.MAC != nil {
		t.Errorf("ParseCmdline without bproc words = %+v, %v", p, err)
	}
	if p, err := ParseCmdline("bproc.cachesize=536870912"); err != nil || p.CacheSize != 512<<20 {
		t.Errorf("ParseCmdline(bproc.cachesize) = %+v, %v", p, err)
	}
	if p, err := ParseCmdline("bproc.tmpsize=67108864"); err != nil || p.TmpSize != 64<<20 {
		t.Errorf("ParseCmdline(bproc.tmpsize) = %+v, %v", p, err)
	}
	for _, bad := range []string{"bproc.master=10.0.0.1", "bproc.master=host:1", "bproc.node=-1", "bproc.node=x", "bproc.mac=zz", "bproc.cachesize=-1", "bproc.cachesize=1G", "bproc.tmpsize=0", "bproc.tmpsize=1G"} {
		if _, err := ParseCmdline(bad); err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseCmdline(%q) = %v, want a one-line error", bad, err)
		}
	}
}

func FuzzParseCmdline(f *testing.F) {
	f.Add("console=ttyS0 bproc.master=10.99.0.1:2223 bproc.node=3")
	f.Add("bproc.mac=52:54:00:99:00:03 bproc.node=0")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseCmdline(s)
		if err == nil && (p.Node < -1 || p.CacheSize < 0) {
			t.Errorf("node %d", p.Node)
		}
	})
}
