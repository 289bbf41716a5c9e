package config

import (
	_ "embed"
	"sort"
)

// KeywordDoc is one keyword of the file as its manual page shows it.
type KeywordDoc struct {
	Name  string
	Usage string // the line's form: "iprange [NODE] FIRST LAST"
	Doc   string
	Group string // BProc, bproc or Ignored (see Groups)
}

// Groups are the kinds of keywords, in the manual's order, with what the
// manual says of each.
var Groups = []struct{ Name, Title, Text string }{
	{"BProc", "BProc keywords", "Keywords of BProc's /etc/beowulf/config, of Clustermatic and of Scyld, with their meaning."},
	{"bproc", "New keywords", "Keywords of this implementation alone."},
	{"Ignored", "Ignored keywords", "BProc 4's, accepted so that its files load, and ignored; each is checked and noted in the log."},
}

// keywordDocs is one line of documentation for each keyword (made when
// asked for: the manual page, not every run of the binary), kept apart
// from the keyword table so that the table reads as code. TestKeywordDocs
// holds that every keyword has one, and no more.
func keywordDocs() map[string]struct{ group, doc string } {
	return map[string]struct{ group, doc string }{
		"interface":          {"BProc", "The cluster network: the master's interface on it and, given IP and NETMASK, the master's address there. With a kernel line it makes bpmaster serve the boot network (DHCP, TFTP, HTTP) on that interface."},
		"ip":                 {"BProc", "The addresses of one node; without NODE, the node after the previous ip or iprange line's last (from 0)."},
		"iprange":            {"BProc", "Consecutive addresses to consecutive nodes, one each, from NODE or the node after the previous line's last."},
		"node":               {"BProc", "The hardware (MAC) addresses of one node, for DHCP; numbered on their own as ip lines are. bpctl --add-node appends such lines."},
		"nodes":              {"BProc", "Nodes 0 to COUNT-1 exist, beside those the other lines name (Scyld)."},
		"bootfile":           {"BProc", "What the nodes of NODESPEC (all without one) boot as their initramfs instead of the image built from this binary."},
		"libraries":          {"BProc", "Files, as absolute glob patterns, that every node reads into its file cache while it boots."},
		"bprocport":          {"BProc", "The TCP port nodes connect to. Default 2223."},
		"pingtimeout":        {"BProc", "Seconds of silence after which a node is down; nodes are pinged every half of it. Default 30, at least 2."},
		"master":             {"BProc", "Where nodes find the master, as HOST or HOST:PORT (the port defaults to bprocport's)."},
		"kernelcommandline":  {"BProc", "The command line of the kernel netbooted nodes run (Scyld)."},
		"statedir":           {"bproc", "The master's host key, the node key, node settings and node logs. Default /var/lib/bproc."},
		"nodeupdir":          {"bproc", "Scripts run on each node, as root and in name order, before it is up. Default /etc/bproc/node_up.d."},
		"kernel":             {"bproc", "The kernel netbooted nodes run."},
		"modules":            {"bproc", "The module tree (an absolute directory; default /lib/modules/VERSION of the kernel) and the names of the modules, such as NIC drivers, the node image holds and loads."},
		"cachesize":          {"bproc", "The limit of each node's cache of the master's files, with a K, M, G or T suffix; 0 is none. Default 0."},
		"maxprocs":           {"bproc", "How many processes of the space one user may have on one node (started or moved there by bproc); the node refuses more. Default 4096."},
		"pushsetid":          {"bproc", "yes: programs pushed to --push-only nodes keep their setuid and setgid bits; no (the default): the bits are dropped."},
		"tmpsize":            {"bproc", "Size of each of a node's tmpfs (/tmp, /var/tmp, /dev/shm, /run). Default for local nodes: all of them together at most half the machine's memory; a netbooted node's: half its own memory."},
		"nodegrace":          {"bproc", "Seconds a node that lost the master (a crash, a restart, a pause longer than pingtimeout) keeps its processes, their output held, waiting for a master to take them back; then it ends them. 0 ends them at once, as BProc did. Default 600."},
		"maxconns":           {"bproc", "How many connections to the master's socket one user other than root may hold at once (tools, programs, a ghost per remote process). The ghosts of what remote processes fork are counted apart, up to four times as many. Default a sixteenth of the master's descriptor limit."},
		"metrics":            {"bproc", "Serve /metrics in Prometheus's text format on ADDR (IP:PORT, [IPv6]:PORT, localhost:PORT, or :PORT for every address), bound as written. Default: not served. bpmaster --metrics overrides it; read at start only."},
		"allowinsecureports": {"Ignored", "Nodes are authenticated by their SSH key, not by a privileged source port."},
		"logfacility":        {"Ignored", "bpmaster logs to its standard error."},
		"slavetimesync":      {"Ignored", "Nodes keep their own clock."},
		"slave":              {"Ignored", "BProc 4's node daemon options: time sync (nodes keep their own clock) and privatefs (every node has a private mount namespace)."},
	}
}

// Keywords lists every keyword the file may hold, by group and then by
// name, for the manual page (bproc-config(5)).
func Keywords() []KeywordDoc {
	var out []KeywordDoc
	docs := keywordDocs()
	for name, kw := range keywords() {
		d := docs[name]
		out = append(out, KeywordDoc{Name: name, Usage: kw.usage, Doc: d.doc, Group: d.group})
	}
	rank := map[string]int{}
	for i, g := range Groups {
		rank[g.Name] = i
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if rank[a.Group] != rank[b.Group] {
			return rank[a.Group] < rank[b.Group]
		}
		return a.Name < b.Name
	})
	return out
}

// FileDoc is the manual's description of the file, paragraphs separated
// by blank lines (the package doc says the same to programmers).
const FileDoc = `bpmaster reads its configuration from ` + DefaultPath + ` (or the file
of --config): BProc's /etc/beowulf/config format, one "keyword
arguments..." per line; "#" starts a comment that runs to the end of the
line. Flags of bpmaster given on its command line override the file.

Nodes are numbered as BProc numbered them. An ip or iprange line without
a NODE continues after the previous such line's last node, from 0; all
addresses of an ip line go to one node, an iprange line gives one address
to each node. Node lines number themselves the same way but on their own,
since MACs are listed in a block apart. The node table holds every node
these lines (and a nodes line) name; numbers may be sparse. A NODESPEC is
a node spec as the tools take it, less state names: 0-3,5, 8-, all,
10.0.4.12.

A node number, address or MAC given twice, an address outside the network
of an interface line, a MAC for a node without an address: each is an
error naming the line, as is anything a keyword does not take; bpmaster
does not start with such a file. Arguments cannot be quoted: paths hold no
whitespace and no "#", and must be absolute. Node addresses are IPv4.

SIGHUP makes bpmaster read the file again: the node table and bootfile
lines apply at once, a changed kernel, modules or interface once the node
image is built again. A file that is gone, does not read or does not build
leaves the running configuration as it is.`

// ExampleFile is a whole configuration file, the one the tests load
// (testdata/cluster.conf), for the manual.
//
//go:embed testdata/cluster.conf
var ExampleFile string
