package config

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bproc/bproc/internal/shared/wire"
)

// goodLines are accepted; get picks the field the lines set.
var goodLines = []struct {
	name string
	text string
	get  func(*Config) any
	want any
}{
	{"blank", "", func(c *Config) any { return c.Port }, wire.DefaultPort},
	{"comments and spacing", "  # a comment\n\n\tbprocport   3000   # trailing\r\n", func(c *Config) any { return c.Port }, 3000},
	{"keyword case", "BProcPort 3000", func(c *Config) any { return c.Port }, 3000},
	{"hash glued to a value", "bprocport 3000#comment", func(c *Config) any { return c.Port }, 3000},
	{"no final newline", "bprocport 1", func(c *Config) any { return c.Port }, 1},
	{"bprocport max", "bprocport 65535", func(c *Config) any { return c.Port }, 65535},

	{"interface name only", "interface eth1",
		func(c *Config) any { return c.Interfaces }, []Interface{{Name: "eth1"}}},
	{"interface dotted mask", "interface eth1 10.0.4.1 255.255.255.0",
		func(c *Config) any { return c.Interfaces }, []Interface{{"eth1", netip.MustParsePrefix("10.0.4.1/24")}}},
	{"interface prefix length", "interface br0 192.168.1.254 16",
		func(c *Config) any { return c.Interfaces }, []Interface{{"br0", netip.MustParsePrefix("192.168.1.254/16")}}},
	{"two interfaces", "interface eth1\ninterface eth2 10.1.0.1 255.255.0.0",
		func(c *Config) any { return c.Interfaces },
		[]Interface{{Name: "eth1"}, {"eth2", netip.MustParsePrefix("10.1.0.1/16")}}},

	{"pingtimeout", "pingtimeout 2", func(c *Config) any { return c.PingTimeout }, 2 * time.Second},
	{"nodegrace", "nodegrace 5", func(c *Config) any { return c.NodeGrace }, 5 * time.Second},
	{"nodegrace 0", "nodegrace 0", func(c *Config) any { return c.NodeGrace }, time.Duration(0)},
	{"nodegrace default", "", func(c *Config) any { return c.NodeGrace }, 10 * time.Minute},
	{"pingtimeout max", "pingtimeout 86400", func(c *Config) any { return c.PingTimeout }, 24 * time.Hour},
	{"pingtimeout leading zero", "pingtimeout 010", func(c *Config) any { return c.PingTimeout }, 10 * time.Second},

	{"libraries over lines", "libraries /lib/ld-* /lib/libc.so*\nlibraries /usr/lib/[a-c]*.so",
		func(c *Config) any { return c.Libraries }, []string{"/lib/ld-*", "/lib/libc.so*", "/usr/lib/[a-c]*.so"}},

	{"master default port", "master head", func(c *Config) any { return c.Masters }, []string{"head:2223"}},
	{"master port after bprocport", "master head\nbprocport 3000", func(c *Config) any { return c.Masters }, []string{"head:3000"}},
	{"master forms", "master 10.0.0.1 10.0.0.1:99 ::1 [::1]:99 Head.Example.com.",
		func(c *Config) any { return c.Masters },
		[]string{"10.0.0.1:2223", "10.0.0.1:99", "[::1]:2223", "[::1]:99", "head.example.com.:2223"}},
	{"masters over lines", "master a\nmaster b:1",
		func(c *Config) any { return c.Masters }, []string{"a:2223", "b:1"}},

	{"bootfile default", "bootfile /boot/node.img", func(c *Config) any { return c.BootFile }, "/boot/node.img"},
	{"bootfile cleaned", "bootfile /boot//x/../node.img", func(c *Config) any { return c.BootFile }, "/boot/node.img"},
	{"statedir", "statedir /srv/bproc/", func(c *Config) any { return c.StateDir }, "/srv/bproc"},
	{"nodeupdir", "nodeupdir /etc/up.d", func(c *Config) any { return c.NodeUpDir }, "/etc/up.d"},
	{"kernel", "kernel /boot/vmlinuz-6.1.0-cloud-amd64", func(c *Config) any { return c.Kernel }, "/boot/vmlinuz-6.1.0-cloud-amd64"},
	{"kernelcommandline", "kernelcommandline console=ttyS0   quiet",
		func(c *Config) any { return c.KernelCmdline }, "console=ttyS0 quiet"},
	{"modules names", "modules virtio_net e1000e\nmodules af-packet",
		func(c *Config) any { return c.Modules }, []string{"virtio_net", "e1000e", "af-packet"}},
	{"modules directory", "modules virtio_net /lib/modules/6.1.0/",
		func(c *Config) any { return c.ModulesDir }, "/lib/modules/6.1.0"},
	{"cachesize plain", "cachesize 1000", func(c *Config) any { return c.CacheSize }, int64(1000)},
	{"cachesize zero", "cachesize 0", func(c *Config) any { return c.CacheSize }, int64(0)},
	{"cachesize suffix", "cachesize 512m", func(c *Config) any { return c.CacheSize }, int64(512 << 20)},
	{"pushsetid yes", "pushsetid YES", func(c *Config) any { return c.PushSetID }, true},
	{"pushsetid no", "pushsetid no", func(c *Config) any { return c.PushSetID }, false},
	{"maxprocs", "maxprocs 100", func(c *Config) any { return c.MaxProcs }, 100},
	{"maxprocs none", "", func(c *Config) any { return c.MaxProcs }, 0},
	{"tmpsize", "tmpsize 2g", func(c *Config) any { return c.TmpSize }, int64(2 << 30)},

	{"no notes", "bprocport 1", func(c *Config) any { return c.Notes }, []string(nil)},
	{"ignored keywords noted", "allowinsecureports\nlogfacility LOCAL3\nslavetimesync yes\nslave privatefs no",
		func(c *Config) any { return c.Notes }, []string{
			"t:1: allowinsecureports: ignored: nodes are authenticated by their SSH key, not by a privileged source port",
			"t:2: logfacility: ignored: bpmaster logs to its standard error",
			"t:3: slavetimesync: ignored: nodes keep their own clock",
			"t:4: slave: ignored: every node has a private mount namespace",
		}},
}

func TestParseGood(t *testing.T) {
	for _, tc := range goodLines {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("t", []byte(tc.text))
			if err != nil {
				t.Fatalf("Parse(%q) = %v, want no error", tc.text, err)
			}
			if got := tc.get(c); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Parse(%q): got %#v, want %#v", tc.text, got, tc.want)
			}
		})
	}
}

// badLines are refused with exactly these errors (file "t").
var badLines = []struct {
	text string
	want []string
}{
	// Any keyword.
	{"foo 1", []string{`t:1: unknown keyword "foo"`}},
	{"\n\n  Foo\x00", []string{`t:3: unknown keyword "Foo\x00"`}},
	{"bprocport", []string{"t:1: bprocport: got 0 arguments, want bprocport PORT"}},
	{"bprocport 1 2", []string{"t:1: bprocport: got 2 arguments, want bprocport PORT"}},
	{"bprocport 1\n# again\nbprocport 2", []string{"t:3: bprocport: given again (first on line 1)"}},
	{"bprocport x\nbprocport 2", []string{`t:1: bprocport: "x" is not a port number (1-65535)`, "t:2: bprocport: given again (first on line 1)"}},

	// interface
	{"interface", []string{"t:1: interface: got 0 arguments, want interface IF [IP NETMASK]"}},
	{"interface eth0 10.0.0.1", []string{"t:1: interface: got 2 arguments, want interface IF [IP NETMASK]"}},
	{"interface eth0 10.0.0.1 24 x", []string{"t:1: interface: got 4 arguments, want interface IF [IP NETMASK]"}},
	{"interface a/b", []string{`t:1: interface: "a/b" is not an interface name`}},
	{"interface eth0:1", []string{`t:1: interface: "eth0:1" is not an interface name`}},
	{"interface abcdefghijklmnop", []string{`t:1: interface: "abcdefghijklmnop" is not an interface name`}},
	{"interface ..", []string{`t:1: interface: ".." is not an interface name`}},
	{"interface eth\x01", []string{`t:1: interface: "eth\x01" is not an interface name`}},
	{"interface eth\u00e9", []string{`t:1: interface: "ethé" is not an interface name`}},
	{"interface eth0\ninterface eth0", []string{"t:2: interface: eth0 given again (first on line 1)"}},
	{"interface eth0 10.0.0.300 255.255.255.0", []string{`t:1: interface: "10.0.0.300" is not an IPv4 address`}},
	{"interface eth0 fe80::1 64", []string{`t:1: interface: "fe80::1" is not an IPv4 address`}},
	{"interface eth0 10.0.0.1 255.0.255.0", []string{`t:1: interface: netmask "255.0.255.0" is not a netmask such as 255.255.255.0`}},
	{"interface eth0 10.0.0.1 0", []string{`t:1: interface: netmask "0" is not a netmask such as 255.255.255.0`}},
	{"interface eth0 10.0.0.1 33", []string{`t:1: interface: netmask "33" is not a netmask such as 255.255.255.0`}},
	{"interface eth0 10.0.0.1 255.255.255.255", []string{"t:1: interface: netmask 255.255.255.255 leaves no addresses for nodes"}},
	{"interface eth0 10.0.0.1 31", []string{"t:1: interface: netmask 31 leaves no addresses for nodes"}},
	{"interface eth0 10.0.0.0 24", []string{"t:1: interface: 10.0.0.0 is the network address of 10.0.0.0/24"}},
	{"interface eth0 10.0.0.255 255.255.255.0", []string{"t:1: interface: 10.0.0.255 is the broadcast address of 10.0.0.0/24"}},
	{"interface eth0 224.0.0.1 8", []string{"t:1: interface: 224.0.0.1 cannot be an interface's address"}},

	// ip
	{"ip", []string{"t:1: ip: got 0 arguments, want ip [NODE] ADDR..."}},
	{"ip 10.0.0.300", []string{`t:1: ip: "10.0.0.300" is not an IPv4 address`}},
	{"ip 010.0.0.1", []string{`t:1: ip: "010.0.0.1" is not an IPv4 address`}},
	{"ip 10.1", []string{`t:1: ip: "10.1" is not an IPv4 address`}},
	{"ip ::ffff:10.0.0.1", []string{`t:1: ip: "::ffff:10.0.0.1" is not an IPv4 address`}},
	{"ip 3", []string{"t:1: ip: node 3 given no address"}},
	{"ip -1 10.0.0.1", []string{"t:1: ip: node number -1 is out of range 0-65535"}},
	{"ip 65536 10.0.0.1", []string{"t:1: ip: node number 65536 is out of range 0-65535"}},
	{"ip 99999999999999999999 10.0.0.1", []string{"t:1: ip: node number 99999999999999999999 is out of range 0-65535"}},
	{"ip 0.0.0.0", []string{"t:1: ip: 0.0.0.0 cannot be a node's address"}},
	{"ip 239.1.2.3", []string{"t:1: ip: 239.1.2.3 cannot be a node's address"}},
	{"ip 255.255.255.255", []string{"t:1: ip: 255.255.255.255 cannot be a node's address"}},
	{"ip 10.0.0.1 10.0.0.2 10.0.0.1", []string{"t:1: ip: 10.0.0.1 given twice"}},
	{"ip 10.0.0.1\nip 10.0.0.1", []string{"t:2: ip: 10.0.0.1 is already node 0's address (line 1)"}},
	{"ip 0 10.0.0.1\nip 0 10.0.0.2", []string{"t:2: ip: node 0 already has an address (line 1)"}},
	{"ip 65535 10.0.0.1\nip 10.0.0.2", []string{"t:2: ip: next node number 65536 is out of range 0-65535"}},
	{"iprange 10.0.0.10 10.0.0.20\nip 5 10.0.0.99", []string{"t:2: ip: node 5 already has an address (line 1)"}},
	{"ip 1 x y", []string{`t:1: ip: "x" is not an IPv4 address`, `t:1: ip: "y" is not an IPv4 address`}},

	// iprange
	{"iprange 10.0.0.1", []string{"t:1: iprange: got 1 argument, want iprange [NODE] FIRST LAST"}},
	{"iprange 1 2 3 4", []string{"t:1: iprange: got 4 arguments, want iprange [NODE] FIRST LAST"}},
	{"iprange 10.0.0.1 10.0.0.300", []string{`t:1: iprange: "10.0.0.300" is not an IPv4 address`}},
	{"iprange 3 10.0.0.1", []string{`t:1: iprange: "3" is not an IPv4 address`}},
	{"iprange x 10.0.0.1 10.0.0.2", []string{`t:1: iprange: "x" is not a node number`}},
	{"iprange -2 10.0.0.1 10.0.0.2", []string{"t:1: iprange: node number -2 is out of range 0-65535"}},
	{"iprange 10.0.0.9 10.0.0.1", []string{"t:1: iprange: first address 10.0.0.9 is after last address 10.0.0.1"}},
	{"iprange 10.0.0.0 10.255.255.255", []string{"t:1: iprange: 16777216 addresses from node 0 go past node 65535"}},
	{"iprange 65535 10.0.0.1 10.0.0.2", []string{"t:1: iprange: 2 addresses from node 65535 go past node 65535"}},
	{"iprange 0.0.0.0 0.0.0.5", []string{"t:1: iprange: 0.0.0.0 cannot be a node's address"}},
	{"iprange 223.255.255.250 224.0.0.5", []string{"t:1: iprange: 224.0.0.0 cannot be a node's address"}},
	{"iprange 255.255.255.250 255.255.255.255", []string{"t:1: iprange: 255.255.255.255 cannot be a node's address"}},
	{"iprange 10.0.0.10 10.0.0.20\niprange 10.0.0.15 10.0.0.30",
		[]string{"t:2: iprange: 10.0.0.15 is already node 5's address (line 1)"}},
	{"iprange 0 10.0.0.10 10.0.0.20\niprange 5 10.0.1.10 10.0.1.20",
		[]string{"t:2: iprange: node 5 already has an address (line 1)"}},
	{"ip 10.0.0.15\niprange 10.0.0.10 10.0.0.20",
		[]string{"t:2: iprange: 10.0.0.15 is already node 0's address (line 1)"}},
	{"iprange 0 10.0.0.10 10.0.0.20\niprange 5 10.0.0.1 10.0.0.12", []string{
		"t:2: iprange: node 5 already has an address (line 1)",
		"t:2: iprange: 10.0.0.10 is already node 0's address (line 1)",
	}},

	// node
	{"node", []string{"t:1: node: got 0 arguments, want node [NODE] MAC..."}},
	{"node zz:zz", []string{`t:1: node: "zz:zz" is not a MAC address`}},
	{"node 3", []string{"t:1: node: node 3 given no MAC address"}},
	{"node 70000 52:54:00:00:00:01", []string{"t:1: node: node number 70000 is out of range 0-65535"}},
	{"node 00:00:00:00:00:00", []string{"t:1: node: 00:00:00:00:00:00 cannot be a node's MAC address"}},
	{"node 01:00:5e:00:00:01", []string{"t:1: node: 01:00:5e:00:00:01 cannot be a node's MAC address"}},
	{"ip 10.0.0.1\nnode 52:54:00:00:00:01 52-54-00-00-00-01", []string{"t:2: node: 52:54:00:00:00:01 given twice"}},
	{"ip 10.0.0.1\nip 10.0.0.2\nnode 52:54:00:00:00:01\nnode 52:54:00:00:00:01",
		[]string{"t:4: node: 52:54:00:00:00:01 is already node 0's MAC address (line 3)"}},
	{"ip 10.0.0.1\nnode 0 52:54:00:00:00:01\nnode 0 52:54:00:00:00:02",
		[]string{"t:3: node: node 0 already has MAC addresses (line 2)"}},
	{"node 52:54:00:00:00:01", []string{"t:1: node: node 0 has no IP address (give it one with ip or iprange)"}},
	{"ip 10.0.0.1\nnode 52:54:00:00:00:01\nnode 52:54:00:00:00:02",
		[]string{"t:3: node: node 1 has no IP address (give it one with ip or iprange)"}},

	// nodes
	{"nodes 0", []string{`t:1: nodes: "0" is not a node count from 1 to 65536`}},
	{"nodes 65537", []string{`t:1: nodes: "65537" is not a node count from 1 to 65536`}},
	{"nodes -4", []string{`t:1: nodes: "-4" is not a node count from 1 to 65536`}},
	{"nodes 4\nip 4 10.0.0.1", []string{"t:2: ip: node 4 is outside nodes 4 (line 1)"}},
	{"iprange 2 10.0.0.1 10.0.0.5\nnodes 4", []string{"t:1: iprange: node 4 is outside nodes 4 (line 2)"}},
	{"nodes 1\nip 10.0.0.1\nip 10.0.0.2\nnode 1 52:54:00:00:00:01", []string{
		"t:3: ip: node 1 is outside nodes 1 (line 1)",
		"t:4: node: node 1 is outside nodes 1 (line 1)",
	}},

	// bootfile
	{"bootfile", []string{"t:1: bootfile: got 0 arguments, want bootfile [NODESPEC] FILE"}},
	{"bootfile 1 /a /b", []string{"t:1: bootfile: got 3 arguments, want bootfile [NODESPEC] FILE"}},
	{"bootfile boot.img", []string{`t:1: bootfile: "boot.img" is not an absolute path`}},
	{"bootfile /a\nbootfile /b", []string{"t:2: bootfile: default boot file given again (first on line 1)"}},
	{"ip 10.0.0.1\nbootfile 5 /a", []string{`t:2: bootfile: node spec "5" names no node of this config`}},
	{"ip 10.0.0.1\nbootfile up /a", []string{`t:2: bootfile: node spec "up" names no node of this config`}},
	{"ip 10.0.0.1\nbootfile master /a", []string{`t:2: bootfile: node spec "master" names the master`}},
	{"ip 10.0.0.1\nbootfile 0 /a\nbootfile all /b", []string{`t:3: bootfile: node 0 already has boot file "/a" (line 2)`}},

	// libraries
	{"libraries", []string{"t:1: libraries: got 0 arguments, want libraries GLOB..."}},
	{"libraries lib/*", []string{`t:1: libraries: "lib/*" is not an absolute path`}},
	{"libraries /lib/[", []string{`t:1: libraries: "/lib/[" is not a valid glob pattern`}},

	// bprocport, pingtimeout
	{"bprocport 0", []string{`t:1: bprocport: "0" is not a port number (1-65535)`}},
	{"bprocport 65536", []string{`t:1: bprocport: "65536" is not a port number (1-65535)`}},
	{"bprocport -1", []string{`t:1: bprocport: "-1" is not a port number (1-65535)`}},
	{"bprocport +80", []string{`t:1: bprocport: "+80" is not a port number (1-65535)`}},
	{"bprocport bproc", []string{`t:1: bprocport: "bproc" is not a port number (1-65535)`}},
	{"nodegrace 5m", []string{`t:1: nodegrace: "5m" is not a number of seconds from 0 to 86400`}},
	{"pingtimeout 1", []string{`t:1: pingtimeout: "1" is not a number of seconds from 2 to 86400`}},
	{"pingtimeout -5", []string{`t:1: pingtimeout: "-5" is not a number of seconds from 2 to 86400`}},
	{"pingtimeout 30s", []string{`t:1: pingtimeout: "30s" is not a number of seconds from 2 to 86400`}},
	{"pingtimeout 86401", []string{`t:1: pingtimeout: "86401" is not a number of seconds from 2 to 86400`}},
	{"pingtimeout 99999999999999999999", []string{`t:1: pingtimeout: "99999999999999999999" is not a number of seconds from 2 to 86400`}},

	// master
	{"master", []string{"t:1: master: got 0 arguments, want master HOST[:PORT]..."}},
	{"master head:99999", []string{`t:1: master: "head:99999": port is not a port number (1-65535)`}},
	{"master head:", []string{`t:1: master: "head:": port is not a port number (1-65535)`}},
	{"master -head", []string{`t:1: master: "-head" is not HOST or HOST:PORT`}},
	{"master [fe80::1", []string{`t:1: master: "[fe80::1" is not HOST or HOST:PORT`}},
	{"master a:b:c", []string{`t:1: master: "a:b:c" is not HOST or HOST:PORT`}},
	{"master [head]:1", []string{`t:1: master: "[head]:1" is not HOST or HOST:PORT`}},
	{"master head head:2223", []string{"t:1: master: head:2223 given twice (first on line 1)"}},
	{"master head:3000\nbprocport 3000\nmaster HEAD", []string{"t:3: master: head:3000 given twice (first on line 1)"}},

	// bproc's own
	{"statedir var/lib/bproc", []string{`t:1: statedir: "var/lib/bproc" is not an absolute path`}},
	{"statedir /a\nstatedir /b", []string{"t:2: statedir: given again (first on line 1)"}},
	{"nodeupdir node_up.d", []string{`t:1: nodeupdir: "node_up.d" is not an absolute path`}},
	{"kernel vmlinuz", []string{`t:1: kernel: "vmlinuz" is not an absolute path`}},
	{"kernel /a /b", []string{"t:1: kernel: got 2 arguments, want kernel FILE"}},
	{"kernelcommandline", []string{"t:1: kernelcommandline: got 0 arguments, want kernelcommandline ARG..."}},
	{"modules", []string{"t:1: modules: got 0 arguments, want modules DIR|NAME..."}},
	{"modules net/e1000", []string{`t:1: modules: "net/e1000" is neither an absolute directory nor a module name`}},
	{"modules e1000.ko", []string{`t:1: modules: "e1000.ko" is neither an absolute directory nor a module name`}},
	{"modules /a\nmodules /b", []string{"t:2: modules: module directory given again (first on line 1)"}},
	{"modules e1000\nmodules virtio_net e1000", []string{"t:2: modules: e1000 given again (first on line 1)"}},
	{"pushsetid maybe", []string{`t:1: pushsetid: "maybe" is not yes or no`}},
	{"maxprocs 0", []string{`t:1: maxprocs: "0" is not a number of processes from 1 to 4194304`}},
	{"maxprocs -3", []string{`t:1: maxprocs: "-3" is not a number of processes from 1 to 4194304`}},
	{"maxprocs 1\nmaxprocs 2", []string{`t:2: maxprocs: given again (first on line 1)`}},
	{"tmpsize 100k", []string{`t:1: tmpsize: "100k" is less than 1024 KiB`}},
	{"tmpsize 1x", []string{`t:1: tmpsize: "1x" is not a size (digits, then perhaps K, M, G or T)`}},
	{"cachesize 12X", []string{`t:1: cachesize: "12X" is not a size (digits, then perhaps K, M, G or T)`}},
	{"cachesize -1", []string{`t:1: cachesize: "-1" is not a size (digits, then perhaps K, M, G or T)`}},
	{"cachesize 99999999T", []string{`t:1: cachesize: "99999999T" is too large`}},

	// BProc 4's ignored keywords are still checked.
	{"allowinsecureports yes", []string{"t:1: allowinsecureports: got 1 argument, want allowinsecureports"}},
	{"logfacility nope", []string{`t:1: logfacility: "nope" is not a syslog facility`}},
	{"slavetimesync maybe", []string{`t:1: slavetimesync: "maybe" is not yes or no`}},
	{"slave foo yes", []string{`t:1: slave: "foo" is not a slave option (timesync, privatefs)`}},
	{"slave timesync 1", []string{`t:1: slave: "1" is not yes or no`}},
	{"slave timesync", []string{"t:1: slave: got 1 argument, want slave OPTION yes|no"}},

	// Addresses against the interface's network, whichever line comes first.
	{"interface eth0 10.0.0.1 255.255.255.0\niprange 10.0.0.250 10.0.1.5",
		[]string{"t:2: iprange: 10.0.1.0 is outside interface eth0's network 10.0.0.0/24"}},
	{"ip 10.0.1.5\ninterface eth0 10.0.0.1 24",
		[]string{"t:1: ip: 10.0.1.5 is outside interface eth0's network 10.0.0.0/24"}},
	{"interface eth0 10.0.0.1 24\niprange 10.0.0.0 10.0.0.5",
		[]string{"t:2: iprange: 10.0.0.0 is the network address of interface eth0"}},
	{"interface eth0 10.0.0.1 24\nip 10.0.0.255",
		[]string{"t:2: ip: 10.0.0.255 is the broadcast address of interface eth0"}},
	{"interface eth0 10.0.0.1 24\niprange 10.0.0.1 10.0.0.5",
		[]string{"t:2: iprange: 10.0.0.1 is interface eth0's own address"}},
	{"interface eth0 10.0.0.1 24\ninterface eth1 10.1.0.1 24\nip 10.2.0.5",
		[]string{"t:3: ip: 10.2.0.5 is outside the networks of the interfaces"}},
	{"interface eth0 10.0.0.1 24\nip 10.0.0.2 10.0.9.9 10.0.8.8",
		[]string{"t:2: ip: 10.0.9.9 is outside interface eth0's network 10.0.0.0/24"}},

	// Several errors come back together, in line order.
	{"bprocport x\nfoo\n\npingtimeout 1", []string{
		`t:1: bprocport: "x" is not a port number (1-65535)`,
		`t:2: unknown keyword "foo"`,
		`t:4: pingtimeout: "1" is not a number of seconds from 2 to 86400`,
	}},
}

func TestParseBad(t *testing.T) {
	for _, tc := range badLines {
		t.Run(tc.text, func(t *testing.T) {
			c, err := Parse("t", []byte(tc.text))
			want := strings.Join(tc.want, "\n")
			if err == nil || err.Error() != want {
				t.Fatalf("Parse(%q) error =\n%v\nwant\n%s", tc.text, err, want)
			}
			if c != nil {
				t.Errorf("Parse(%q) config = %+v, want nil with the error", tc.text, c)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("errors.Is(Parse(%q), ErrInvalid) = false, want true", tc.text)
			}
			var e *Error
			if !errors.As(err, &e) || e.File != "t" || e.Line < 1 {
				t.Errorf("errors.As(Parse(%q), *Error) = %+v, want file t and a line", tc.text, e)
			}
		})
	}
}

func TestParseTooManyErrors(t *testing.T) {
	text := strings.Repeat("bogus\n", 80)
	_, err := Parse("t", []byte(text))
	lines := strings.Split(fmt.Sprint(err), "\n")
	if len(lines) != maxErrors+1 {
		t.Fatalf("Parse(80 bad lines) gave %d error lines, want %d", len(lines), maxErrors+1)
	}
	if got, want := lines[maxErrors-1], `t:50: unknown keyword "bogus"`; got != want {
		t.Errorf("error line %d = %q, want %q", maxErrors, got, want)
	}
	if got, want := lines[maxErrors], "t:51: too many errors"; got != want {
		t.Errorf("last error line = %q, want %q", got, want)
	}
}

// A long argument is cut in the error, with its length: a 5 MB line made
// a 5 MB error, in the master's log and on the terminal.
func TestParseCutsLongArguments(t *testing.T) {
	long := strings.Repeat("z", 5<<20)
	for _, text := range []string{
		"bprocport " + long,
		long + " 1",
		"statedir " + long,
		"cachesize " + long,
		"interface eth0 10.0.0.1 " + long,
		"node " + long,
		"master " + long,
	} {
		_, err := Parse("t", []byte(text))
		if err == nil {
			t.Fatalf("Parse(%.30q...) = nil error", text)
		}
		msg := err.Error()
		if len(msg) > 300 || !strings.Contains(msg, "...") || !strings.Contains(msg, "(5242880 bytes)") {
			t.Errorf("Parse(%.30q...) error of %d bytes: %.300q, want it cut with the length", text, len(msg), msg)
		}
	}
}
