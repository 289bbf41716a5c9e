package config

import (
	"net"
	"net/netip"
	"reflect"
	"testing"
	"time"
)

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

func macs(s ...string) []net.HardwareAddr {
	var out []net.HardwareAddr
	for _, m := range s {
		hw, err := net.ParseMAC(m)
		if err != nil {
			panic(err)
		}
		out = append(out, hw)
	}
	return out
}

const (
	bootImg    = "/var/lib/bproc/boot.img"
	specialImg = "/var/lib/bproc/special.img"
)

// clusterNodes is the node table of testdata/cluster.conf.
var clusterNodes = []Node{
	{0, addrs("10.0.4.10"), macs("00:50:45:01:02:03"), bootImg},
	{1, addrs("10.0.4.11"), macs("00:50:45:01:02:04", "00:50:45:01:02:14"), bootImg},
	{2, addrs("10.0.4.12"), nil, bootImg},
	{3, addrs("10.0.4.13"), nil, bootImg},
	{4, addrs("10.0.4.20", "10.0.4.21"), nil, bootImg},
	{8, addrs("10.0.4.30"), macs("52:54:00:00:00:08"), specialImg},
	{9, addrs("10.0.4.31"), macs("52:54:00:00:00:09"), specialImg},
}

func loadCluster(t *testing.T) *Config {
	t.Helper()
	c, err := Load("testdata/cluster.conf", true)
	if err != nil {
		t.Fatalf("Load(testdata/cluster.conf) = %v", err)
	}
	return c
}

func TestExampleConfig(t *testing.T) {
	c := loadCluster(t)
	if got := c.Nodes(); !reflect.DeepEqual(got, clusterNodes) {
		t.Errorf("Nodes() =\n%v\nwant\n%v", got, clusterNodes)
	}
	if got := c.NumNodes(); got != len(clusterNodes) {
		t.Errorf("NumNodes() = %d, want %d", got, len(clusterNodes))
	}
	want := &Config{
		File:          "testdata/cluster.conf",
		Interfaces:    []Interface{{"eth1", netip.MustParsePrefix("10.0.4.1/24")}},
		Port:          2223,
		PingTimeout:   20 * time.Second,
		NodeGrace:     10 * time.Minute,
		Masters:       []string{"10.0.4.1:2223"},
		Libraries:     []string{"/lib/ld-linux*", "/lib/x86_64-linux-gnu/libc.so*"},
		BootFile:      bootImg,
		Kernel:        "/boot/vmlinuz-6.1.0-cloud-amd64",
		KernelCmdline: "console=ttyS0 quiet",
		Modules:       []string{"virtio_net", "e1000"},
		CacheSize:     512 << 20,
		StateDir:      "/var/lib/bproc",
		NodeUpDir:     "/etc/bproc/node_up.d",
	}
	got := *c
	got.nodes = table{}
	if !reflect.DeepEqual(&got, want) {
		t.Errorf("Load(testdata/cluster.conf) =\n%+v\nwant\n%+v", &got, want)
	}
}

func TestLookups(t *testing.T) {
	c := loadCluster(t)
	byMAC := []struct {
		mac  string
		num  int
		find bool
	}{
		{"00:50:45:01:02:03", 0, true},
		{"00:50:45:01:02:14", 1, true},
		{"00-50-45-01-02-04", 1, true},
		{"52:54:00:00:00:09", 9, true},
		{"52:54:00:00:00:07", 0, false},
	}
	for _, tc := range byMAC {
		num, ok := c.NodeByMAC(macs(tc.mac)[0])
		if num != tc.num || ok != tc.find {
			t.Errorf("NodeByMAC(%s) = %d, %v, want %d, %v", tc.mac, num, ok, tc.num, tc.find)
		}
	}
	byAddr := []struct {
		addr string
		num  int
		find bool
	}{
		{"10.0.4.10", 0, true},
		{"10.0.4.13", 3, true},
		{"10.0.4.21", 4, true},
		{"::ffff:10.0.4.30", 8, true},
		{"10.0.4.1", 0, false},
		{"10.0.4.14", 0, false},
	}
	for _, tc := range byAddr {
		num, ok := c.NodeByAddr(netip.MustParseAddr(tc.addr))
		if num != tc.num || ok != tc.find {
			t.Errorf("NodeByAddr(%s) = %d, %v, want %d, %v", tc.addr, num, ok, tc.num, tc.find)
		}
	}
	if n, ok := c.Node(8); !ok || !reflect.DeepEqual(n, clusterNodes[5]) {
		t.Errorf("Node(8) = %v, %v, want %v, true", n, ok, clusterNodes[5])
	}
	for _, num := range []int{-1, 5, 10, MaxNode} {
		if n, ok := c.Node(num); ok {
			t.Errorf("Node(%d) = %v, true, want false", num, n)
		}
	}
	if got, want := clusterNodes[4].Addr(), netip.MustParseAddr("10.0.4.20"); got != want {
		t.Errorf("node 4 Addr() = %v, want %v", got, want)
	}
	if got := (Node{Num: 3}).Addr(); got.IsValid() {
		t.Errorf("Node without addresses: Addr() = %v, want the zero Addr", got)
	}
}

// TestNodesCopies checks that what Nodes and Node return can be changed
// without changing the table: the master hands them out while it serves
// DHCP from the same config.
func TestNodesCopies(t *testing.T) {
	c := loadCluster(t)
	nodes := c.Nodes()
	nodes[1].Addrs[0] = netip.MustParseAddr("10.9.9.9")
	nodes[1].MACs[0][5] = 0xff
	n, _ := c.Node(0)
	n.MACs[0][0] = 0xee
	if got := c.Nodes(); !reflect.DeepEqual(got, clusterNodes) {
		t.Errorf("after changing copies, Nodes() =\n%v\nwant\n%v", got, clusterNodes)
	}
}

func TestNodesCount(t *testing.T) {
	c, err := Parse("t", []byte("nodes 4\nip 1 10.0.0.5\nbootfile 0-1 /b"))
	if err != nil {
		t.Fatalf("Parse = %v", err)
	}
	want := []Node{
		{Num: 0, BootFile: "/b"},
		{1, addrs("10.0.0.5"), nil, "/b"},
		{Num: 2},
		{Num: 3},
	}
	if got := c.Nodes(); !reflect.DeepEqual(got, want) {
		t.Errorf("Nodes() = %v, want %v", got, want)
	}
}

// TestNumbering follows BProc's numbering: ip and iprange share a counter
// that each line moves past its nodes; node lines keep their own.
func TestNumbering(t *testing.T) {
	text := `
ip 3 10.0.0.3                   # node 3
iprange 10.0.0.4 10.0.0.5       # nodes 4 and 5
ip 10.0.0.9 10.0.0.10           # node 6, two addresses
iprange 0 10.0.0.100 10.0.0.101 # nodes 0 and 1
node 3 02:00:00:00:00:03
node 02:00:00:00:00:04          # node 4: MACs count from their own lines
node 0 02:00:00:00:00:00
`
	c, err := Parse("t", []byte(text))
	if err != nil {
		t.Fatalf("Parse = %v", err)
	}
	want := []Node{
		{0, addrs("10.0.0.100"), macs("02:00:00:00:00:00"), ""},
		{1, addrs("10.0.0.101"), nil, ""},
		{3, addrs("10.0.0.3"), macs("02:00:00:00:00:03"), ""},
		{4, addrs("10.0.0.4"), macs("02:00:00:00:00:04"), ""},
		{5, addrs("10.0.0.5"), nil, ""},
		{6, addrs("10.0.0.9", "10.0.0.10"), nil, ""},
	}
	if got := c.Nodes(); !reflect.DeepEqual(got, want) {
		t.Errorf("Nodes() =\n%v\nwant\n%v", got, want)
	}
}

func TestDefault(t *testing.T) {
	c := Default()
	if c.Port != 2223 || c.PingTimeout != 30*time.Second || c.StateDir != "/var/lib/bproc" ||
		c.NodeUpDir != "/etc/bproc/node_up.d" || c.File != "" {
		t.Errorf("Default() = %+v, want BProc's port and timeout, bproc's directories", c)
	}
	if c.NumNodes() != 0 || len(c.Nodes()) != 0 {
		t.Errorf("Default() has %d nodes, want none", c.NumNodes())
	}
	if _, ok := c.NodeByAddr(netip.MustParseAddr("10.0.0.1")); ok {
		t.Errorf("Default().NodeByAddr(10.0.0.1) found a node, want none")
	}
}

func TestBootFileSpecs(t *testing.T) {
	base := "iprange 0 10.0.0.10 10.0.0.13\nip 8 10.0.0.30\nbootfile /default\n"
	tests := []struct {
		spec string
		want []int // nodes that get /x; the others keep /default
	}{
		{"all", []int{0, 1, 2, 3, 8}},
		{"0", []int{0}},
		{"n8", []int{8}},
		{".2", []int{2}},
		{"1-2", []int{1, 2}},
		{"n1-.3", []int{1, 2, 3}},
		{"3-", []int{3, 8}},
		{"4-100", []int{8}},
		{"0,0,0-1,1", []int{0, 1}},
		{"all,all", []int{0, 1, 2, 3, 8}},
		{"10.0.0.30", []int{8}},
		{"::ffff:10.0.0.11,3", []int{1, 3}},
	}
	for _, tc := range tests {
		c, err := Parse("t", []byte(base+"bootfile "+tc.spec+" /x"))
		if err != nil {
			t.Errorf("bootfile %s: Parse = %v", tc.spec, err)
			continue
		}
		var got []int
		for _, n := range c.Nodes() {
			switch n.BootFile {
			case "/x":
				got = append(got, n.Num)
			case "/default":
			default:
				t.Errorf("bootfile %s: node %d boots %q", tc.spec, n.Num, n.BootFile)
			}
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("bootfile %s /x: nodes %v boot /x, want %v", tc.spec, got, tc.want)
		}
	}
	for _, spec := range []string{"4", "5-7", "3-1", "9-", ",", "0,", "up", "n", "1-n", "10.0.0.1", "0x1", "-2", "99999999999"} {
		_, err := Parse("t", []byte(base+"bootfile "+spec+" /x"))
		want := `t:4: bootfile: node spec "` + spec + `" names no node of this config`
		if err == nil || err.Error() != want {
			t.Errorf("bootfile %s: Parse = %v, want %s", spec, err, want)
		}
	}
	_, err := Parse("t", []byte(base+"bootfile 2-3 /x\nbootfile 0-1,3-4 /y"))
	if want := `t:5: bootfile: node 3 already has boot file "/x" (line 4)`; err == nil || err.Error() != want {
		t.Errorf("overlapping bootfile lines: Parse = %v, want %s", err, want)
	}
	c, err := Parse("t", []byte(base+"bootfile 0,2 /x\nbootfile 3,1 /y"))
	if err != nil {
		t.Fatalf("interleaved bootfile lines: Parse = %v", err)
	}
	var got []string
	for _, n := range c.Nodes() {
		got = append(got, n.BootFile)
	}
	if want := []string{"/x", "/y", "/x", "/y", "/default"}; !reflect.DeepEqual(got, want) {
		t.Errorf("interleaved bootfile lines: boot files %q, want %q", got, want)
	}
	_, err = Parse("t", []byte(base+"bootfile 0,2 /x\nbootfile 1,3 /y\nbootfile 8,3 /z"))
	if want := `t:6: bootfile: node 3 already has boot file "/y" (line 5)`; err == nil || err.Error() != want {
		t.Errorf("bootfile over interleaved lines: Parse = %v, want %s", err, want)
	}
	_, err = Parse("t", []byte(base+"bootfile 0-1 /x\nbootfile 4-8,2 /y"))
	if err != nil {
		t.Errorf("bootfile lines sharing a gap, not a node: Parse = %v, want nil", err)
	}
}
