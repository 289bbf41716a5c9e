package netboot

import (
	"fmt"
	"net"
	"strings"
)

// bootScriptURL is the boot file given to an iPXE client. The DHCP server
// knows the client's MAC, so it goes into the URL: the script can then
// name the node without a second round trip.
func (o *Options) bootScriptURL(mac net.HardwareAddr) string {
	return o.baseURL() + "/boot.ipxe?mac=" + mac.String()
}

// chainScript is served for /boot.ipxe without a MAC (iPXE started by
// hand, or by another DHCP server): it asks again with the MAC of the
// device iPXE last opened. netX rather than net0, because on a machine
// with several NICs the one that booted need not be the first.
func chainScript(o *Options) string {
	return "#!ipxe\nchain " + o.baseURL() + "/boot.ipxe?mac=${netX/mac}\n"
}

// bootScript is the iPXE script that boots a node; node < 0 when the MAC
// is not in the node table (the node boots, and the master decides what
// to do with it when it dials). token, if not "", is the node's one-time
// boot token.
func bootScript(o *Options, mac net.HardwareAddr, node int, token string) string {
	base := o.baseURL()
	args := []string{
		// The EFI stub finds the initrd iPXE loaded by this name; a BIOS
		// kernel ignores it (no comma, so it is not an address range).
		"initrd=initramfs",
		"console=ttyS0",
		"bproc.master=" + o.master().String(),
	}
	if node >= 0 {
		args = append(args, fmt.Sprintf("bproc.node=%d", node))
	}
	if mac != nil {
		// Which NIC booted: the node's init takes its lease on that one.
		args = append(args, "bproc.mac="+mac.String())
	}
	if token != "" {
		args = append(args, "bproc.token="+token)
	}
	if o.Cmdline != "" {
		args = append(args, o.Cmdline)
	}
	var b strings.Builder
	b.WriteString("#!ipxe\n")
	fmt.Fprintf(&b, "kernel %s/kernel %s\n", base, strings.Join(args, " "))
	fmt.Fprintf(&b, "initrd %s\n", o.initramfsURL(mac, node))
	b.WriteString("boot\n")
	return b.String()
}

// initramfsURL is where the script of node (MAC mac) loads its initramfs:
// the one every node boots, or with the MAC in the query when the node
// has a boot file of its own.
func (o *Options) initramfsURL(mac net.HardwareAddr, node int) string {
	if mac != nil && o.nodeInitramfs(node) != nil {
		return o.baseURL() + "/initramfs?mac=" + mac.String()
	}
	return o.baseURL() + "/initramfs"
}

// nodeInitramfs is node's own initramfs, or nil.
func (o *Options) nodeInitramfs(node int) Source {
	if node < 0 || o.NodeInitramfs == nil {
		return nil
	}
	return o.NodeInitramfs(node)
}
