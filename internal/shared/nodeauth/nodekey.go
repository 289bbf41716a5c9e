package nodeauth

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"

	"golang.org/x/crypto/ssh"
)

// NewNodeKey makes the key a node holds for one boot, in memory only, and
// its OpenSSH PEM form for a process of the node's own (nodeview reads it
// on a pipe): a copied image or a node that rebooted has nothing of it.
func NewNodeKey() (ssh.Signer, []byte, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("node key: %w", err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, nil, fmt.Errorf("node key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "bproc node")
	if err != nil {
		return nil, nil, fmt.Errorf("node key: %w", err)
	}
	return s, pem.EncodeToMemory(block), nil
}
