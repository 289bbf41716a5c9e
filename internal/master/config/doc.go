// Package config reads bpmaster's configuration file: BProc's
// /etc/beowulf/config format under the name /etc/bproc/config, one
// "keyword args..." per line, "#" to the end of a line a comment.
//
// Keywords of BProc (BPROC.md), Clustermatic and Scyld:
//
//	interface IF [IP NETMASK]   the cluster network; IP and NETMASK are the master's
//	ip [NODE] ADDR...           addresses of one node
//	iprange [NODE] FIRST LAST   consecutive addresses to consecutive nodes
//	node [NODE] MAC...          hardware addresses of one node, for DHCP
//	bootfile [NODESPEC] FILE    what nodes boot instead of the built image
//	libraries GLOB...           files every node caches ahead of use
//	bprocport PORT              TCP port nodes connect to (2223)
//	pingtimeout SECONDS         silence after which a node is down (30, at least 2)
//	master HOST[:PORT]...       where nodes find the master
//	nodes COUNT                 nodes 0 to COUNT-1 exist (Scyld)
//	kernelcommandline ARG...    the netbooted kernel's command line (Scyld)
//
// bproc's own:
//
//	statedir DIR                keys, node settings and logs (/var/lib/bproc)
//	nodeupdir DIR               node setup scripts (/etc/bproc/node_up.d)
//	kernel FILE                 kernel that netbooted nodes run
//	modules DIR|NAME...         module tree and NIC modules for the node image
//	cachesize SIZE              node file cache limit, K/M/G/T suffixes (0: none)
//	nodegrace SECONDS           a node keeps its processes this long without a master (600; 0: none)
//
// Accepted for BProc 4 configs and ignored, each noted in Config.Notes:
// allowinsecureports, logfacility, slavetimesync, slave.
//
// Nodes are numbered as BProc numbered them. An ip or iprange line
// without a NODE continues after the previous such line's last node, from
// 0; all addresses of an ip line go to one node, an iprange line gives
// one address to each node. Node lines number themselves the same way
// but on their own, since MACs are listed in a block apart. The node
// table holds every node these lines (and a nodes line) name, numbers
// possibly sparse, up to MaxNode. A NODESPEC is a node spec as the tools
// take it, less state names: "0-3,5", "8-", "all", "10.0.0.12".
//
// A node number, address or MAC given twice, an address outside the
// network of an interface line, a MAC for a node without an address: each
// is an error naming the line, as is anything a keyword does not take.
//
// Arguments cannot be quoted: paths hold no whitespace and no "#". Paths
// must be absolute, because bpmaster's working directory is nobody's
// choice. Node addresses are IPv4, as DHCPv4 hands them out.
package config
