// Package keys creates and loads the master's SSH host key, which nodes
// pin: generated on the master's first start in its state directory; a
// netbooted node gets its public half inside its image. Nodes have no key
// of the cluster's: each makes its own at boot (package nodeauth).
package keys

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/crypto/ssh"
)

// HostKeyFile is the host key's name inside the state directory. A
// node_key file that an older bproc left there is not read: no node
// authenticates with it any more.
const HostKeyFile = "host_key"

// Set is the master's keys.
type Set struct {
	Host ssh.Signer // the master's host key
	// HostPath is the private key file; its .pub is what nodes pin.
	HostPath string
}

// LoadOrCreate reads the host key from dir, generating it when missing
// (with its .pub beside it). The directory is created 0700.
func LoadOrCreate(dir string) (*Set, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir %s: %w", dir, err)
	}
	s := &Set{HostPath: filepath.Join(dir, HostKeyFile)}
	var err error
	if s.Host, err = loadOrCreate(s.HostPath); err != nil {
		return nil, err
	}
	return s, nil
}

func loadOrCreate(path string) (ssh.Signer, error) {
	s, err := LoadSigner(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return s, err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate %s: %w", path, err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "bproc")
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", path, err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, fmt.Errorf("signer %s: %w", path, err)
	}
	// Write to a temporary name first: a master killed mid-write must not
	// leave a truncated key that refuses every node on the next start.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.WriteFile(path+".pub", ssh.MarshalAuthorizedKey(signer.PublicKey()), 0o644); err != nil {
		return nil, fmt.Errorf("write %s.pub: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("rename %s: %w", tmp, err)
	}
	return signer, nil
}

// LoadSigner reads an OpenSSH private key.
func LoadSigner(path string) (ssh.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key: %w", err)
	}
	s, err := ssh.ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("parse key %s: %w", path, err)
	}
	return s, nil
}

// LoadPublic reads a public key in authorized_keys format (a .pub file).
func LoadPublic(path string) (ssh.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read public key: %w", err)
	}
	k, _, _, _, err := ssh.ParseAuthorizedKey(b)
	if err != nil {
		return nil, fmt.Errorf("parse public key %s: %w", path, err)
	}
	return k, nil
}
