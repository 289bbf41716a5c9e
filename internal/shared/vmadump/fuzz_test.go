package vmadump

import (
	"bytes"
	"testing"
)

// FuzzDecode: whatever arrives as an image is an error or a valid image,
// never a panic.
func FuzzDecode(f *testing.F) {
	var good bytes.Buffer
	(&Image{Comm: "x", Maps: []Mapping{{Start: 0x1000, End: 0x3000, Prot: 3, Chunks: []Chunk{{Addr: 0x1000, Data: []byte{1}}}}}}).Encode(&good)
	f.Add(good.Bytes())
	f.Add([]byte{})
	f.Add([]byte("not gob"))
	f.Fuzz(func(t *testing.T, b []byte) {
		img, err := Decode(bytes.NewReader(b))
		if err == nil {
			if verr := img.validate(); verr != nil {
				t.Fatalf("Decode accepted an invalid image: %v", verr)
			}
		}
	})
}

// FuzzParseMapsLine: a maps line parses or is an error.
func FuzzParseMapsLine(f *testing.F) {
	f.Add("7fd09a002000-7fd09a003000 r--p 00000000 fe:00 325835                     /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
	f.Add("55a195529000-55a19554a000 rw-p 00000000 00:00 0                          [heap]")
	f.Add("10000000-10001000 rwxp 00000000 00:00 0 ")
	f.Add("x")
	f.Fuzz(func(t *testing.T, line string) {
		m, err := parseMapsLine(line)
		if err == nil && m.Prot&^7 != 0 {
			t.Fatalf("prot %#x", m.Prot)
		}
	})
}

func TestValidateRejects(t *testing.T) {
	for name, img := range map[string]Image{
		"empty range":   {Maps: []Mapping{{Start: 0x2000, End: 0x2000}}},
		"unaligned":     {Maps: []Mapping{{Start: 0x2001, End: 0x3000}}},
		"kernel half":   {Maps: []Mapping{{Start: 1 << 47, End: 1<<47 + 0x1000}}},
		"overlap":       {Maps: []Mapping{{Start: 0x1000, End: 0x3000}, {Start: 0x2000, End: 0x4000}}},
		"chunk outside": {Maps: []Mapping{{Start: 0x1000, End: 0x2000, Chunks: []Chunk{{Addr: 0x1800, Data: make([]byte, 0x1000)}}}}},
		"signal 65":     {Actions: []SigAction{{Sig: 65}}},
	} {
		if err := img.validate(); err == nil {
			t.Errorf("%s: validate accepted it", name)
		}
	}
}
