package initramfs

import (
	"bytes"
	"testing"

	"github.com/u-root/u-root/pkg/cpio"
)

// writeNewc replaced u-root's cpio writer (which linked a humanizer into
// every applet); its archives must stay byte for byte what that wrote,
// so that images built before and after are the same.
func TestNewcMatchesURoot(t *testing.T) {
	o := testOptions(t)
	o.ModulesDir = fakeModules(t)
	o.KernelVersion = fakeKernel
	o.Modules = []string{"virtio_pci", "virtio-net", "igb"}
	o.Files = map[string][]byte{"/etc/bproc/master": []byte("10.0.0.1:2223\n"), "/etc/odd": []byte("abc")}
	im, err := plan(o)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := im.records()
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if err := writeNewc(&got, recs); err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	rw := cpio.Newc.Writer(&want)
	for _, r := range recs {
		info := cpio.Info{Ino: r.ino, Mode: r.mode, NLink: r.nlink, Rmajor: r.rmajor, Rminor: r.rminor, Name: cpio.Normalize("/" + r.name)}
		if err := rw.WriteRecord(cpio.StaticRecord(r.data, info)); err != nil {
			t.Fatal(err)
		}
	}
	if err := cpio.WriteTrailer(rw); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		n := 0
		for n < min(got.Len(), want.Len()) && got.Bytes()[n] == want.Bytes()[n] {
			n++
		}
		t.Fatalf("writeNewc: %d bytes, u-root: %d; first difference at byte %d: %q vs %q", got.Len(), want.Len(), n,
			got.Bytes()[n:min(n+40, got.Len())], want.Bytes()[n:min(n+40, want.Len())])
	}
}
