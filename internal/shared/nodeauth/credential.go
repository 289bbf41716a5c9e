package nodeauth

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
)

// A node's first connection authenticates with SSH password
// authentication, over a channel already encrypted to the master's pinned
// host key, carrying a Credential: the boot token and the public half of
// the key the node made for this boot.
//
//	bproc-token1 TOKEN ssh-ed25519 BASE64
const credPrefix = "bproc-token1"

// maxCredential bounds what is parsed: a real one is about 160 bytes.
const maxCredential = 512

// Credential is a token and the key to pin if it is good.
type Credential struct {
	Token string
	Key   ssh.PublicKey
}

// String is the password a node sends.
func (c Credential) String() string {
	return credPrefix + " " + c.Token + " " + c.Key.Type() + " " + base64.StdEncoding.EncodeToString(c.Key.Marshal())
}

// ParseCredential reads a password as a Credential: only ed25519 keys, a
// token of 64 hex digits, nothing else on the line.
func ParseCredential(s string) (Credential, error) {
	if len(s) > maxCredential {
		return Credential{}, fmt.Errorf("credential: %d bytes, more than %d", len(s), maxCredential)
	}
	f := strings.Split(s, " ")
	if len(f) != 4 || f[0] != credPrefix {
		return Credential{}, errors.New("credential: want \"" + credPrefix + " TOKEN ssh-ed25519 KEY\"")
	}
	if !ValidToken(f[1]) {
		return Credential{}, errors.New("credential: the token is not 64 hex digits")
	}
	if f[2] != ssh.KeyAlgoED25519 {
		return Credential{}, fmt.Errorf("credential: key type %.20q: want %s", f[2], ssh.KeyAlgoED25519)
	}
	raw, err := base64.StdEncoding.DecodeString(f[3])
	if err != nil {
		return Credential{}, fmt.Errorf("credential: key: %w", err)
	}
	k, err := ssh.ParsePublicKey(raw)
	if err != nil {
		return Credential{}, fmt.Errorf("credential: key: %w", err)
	}
	if k.Type() != ssh.KeyAlgoED25519 {
		return Credential{}, fmt.Errorf("credential: key is %s, not %s", k.Type(), ssh.KeyAlgoED25519)
	}
	return Credential{Token: f[1], Key: k}, nil
}

// ValidToken says whether s has the form of a token (not whether it was
// minted): 64 lower-case hex digits.
func ValidToken(s string) bool {
	if len(s) != 2*tokenBytes {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
