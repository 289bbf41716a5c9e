package nodeauth

import (
	"strings"
	"testing"
)

// FuzzCredential: whatever a client sends as its password, the parser
// returns a well-formed credential or an error of one short line, and a
// credential it accepts reads back the same.
func FuzzCredential(f *testing.F) {
	k, _, err := NewNodeKey()
	if err != nil {
		f.Fatal(err)
	}
	good := Credential{Token: strings.Repeat("0f", 32), Key: k.PublicKey()}.String()
	for _, s := range []string{good, "", "bproc-token1", good + " ", strings.Replace(good, "ssh-ed25519", "ssh-rsa", 1), good[:len(good)-4]} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCredential(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") || len(err.Error()) > 200 {
				t.Fatalf("error is not one short line: %q", err)
			}
			return
		}
		if !ValidToken(c.Token) || c.Key == nil {
			t.Fatalf("accepted %q as %+v", s, c)
		}
		if again, err := ParseCredential(c.String()); err != nil || again.Token != c.Token {
			t.Fatalf("%q does not read back: %v", c.String(), err)
		}
	})
}
