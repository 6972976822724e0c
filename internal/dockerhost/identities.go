package dockerhost

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// DefaultIdentityNames are tried in ~/.ssh when no identity file is given.
var DefaultIdentityNames = []string{"id_rsa", "id_ed25519", "id_ecdsa"}

// identities is the set of keys offered to the SSH server, with their
// origins so an authentication failure can name them.
type identities struct {
	signers []ssh.Signer
	names   []string
	agent   net.Conn
}

// loadIdentities reads explicit files (all must load) or else the default
// files that exist, plus the agent's keys when agentSocket is set.
func loadIdentities(explicit []string, home, agentSocket string) (*identities, error) {
	ids := &identities{}
	files := explicit
	if len(files) == 0 && home != "" {
		for _, n := range DefaultIdentityNames {
			p := filepath.Join(home, ".ssh", n)
			if _, err := os.Stat(p); err == nil {
				files = append(files, p)
			}
		}
	}
	for _, f := range files {
		signer, err := loadSigner(f)
		if err != nil {
			return nil, err
		}
		ids.signers = append(ids.signers, signer)
		ids.names = append(ids.names, fmt.Sprintf("%s (%s %s)", f, signer.PublicKey().Type(), ssh.FingerprintSHA256(signer.PublicKey())))
	}
	if agentSocket != "" {
		conn, err := net.Dial("unix", agentSocket)
		if err != nil {
			return nil, fmt.Errorf("SSH_AUTH_SOCK=%s: cannot reach ssh-agent: %w", agentSocket, err)
		}
		ids.agent = conn
		signers, err := agent.NewClient(conn).Signers()
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("listing ssh-agent keys: %w", err)
		}
		for _, s := range signers {
			ids.signers = append(ids.signers, s)
			ids.names = append(ids.names, fmt.Sprintf("ssh-agent key (%s %s)", s.PublicKey().Type(), ssh.FingerprintSHA256(s.PublicKey())))
		}
	}
	return ids, nil
}

func loadSigner(file string) (ssh.Signer, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading identity file: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(NormalizeKey(pem))
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		return nil, fmt.Errorf("identity file %s is protected by a passphrase: load it into ssh-agent (ssh-add) and set SSH_AUTH_SOCK, or use a key without one", file)
	}
	if err != nil {
		return nil, fmt.Errorf("identity file %s is not a private key jetway can read (RSA, Ed25519 or ECDSA, OpenSSH or PEM format): %w", file, err)
	}
	return signer, nil
}

func (ids *identities) close() {
	if ids.agent != nil {
		ids.agent.Close()
	}
}
