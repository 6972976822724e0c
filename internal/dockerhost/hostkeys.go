package dockerhost

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// hostKeys verifies host keys strictly against known_hosts files. There is no
// trust-on-first-use and no way to skip verification.
type hostKeys struct {
	files    []string // the files that exist and were loaded
	callback ssh.HostKeyCallback
}

func loadHostKeys(files []string) (*hostKeys, error) {
	var present []string
	for _, f := range files {
		if _, err := os.Stat(f); err == nil {
			present = append(present, f)
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("reading known_hosts %s: %w", f, err)
		}
	}
	hk := &hostKeys{files: present}
	if len(present) == 0 {
		hk.callback = func(string, net.Addr, ssh.PublicKey) error { return &knownhosts.KeyError{} }
		return hk, nil
	}
	cb, err := knownhosts.New(present...)
	if err != nil {
		return nil, fmt.Errorf("reading known_hosts: %w", err)
	}
	hk.callback = cb
	return hk, nil
}

// algorithmsFor lists the host key algorithms of the keys known for addr, so
// the handshake asks the server for a key type we can verify. Without this a
// server with an RSA and an Ed25519 key, known only by its RSA key (as
// `ssh-keyscan -t rsa` writes), would offer Ed25519 and look "changed".
func (hk *hostKeys) algorithmsFor(addr string) []string {
	probe, err := ssh.NewPublicKey(ed25519.PublicKey(make([]byte, ed25519.PublicKeySize)))
	if err != nil {
		return nil
	}
	var keyErr *knownhosts.KeyError
	if err := hk.callback(addr, fakeAddr(addr), probe); !errors.As(err, &keyErr) {
		return nil
	}
	var algos []string
	seen := map[string]bool{}
	for _, k := range keyErr.Want {
		for _, a := range algorithmsForKeyType(k.Key.Type()) {
			if !seen[a] {
				seen[a] = true
				algos = append(algos, a)
			}
		}
	}
	return algos
}

func algorithmsForKeyType(t string) []string {
	if t == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{t}
}

// verify wraps the known_hosts callback to turn its errors into ones that
// tell the user what to do.
func (hk *hostKeys) verify(host string, port int) ssh.HostKeyCallback {
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := hk.callback(hostname, remote, key)
		var keyErr *knownhosts.KeyError
		if err == nil || !errors.As(err, &keyErr) {
			return err
		}
		if len(keyErr.Want) == 0 {
			return &UnknownHostKeyError{Host: host, Port: port, KeyType: key.Type(), Fingerprint: ssh.FingerprintSHA256(key), KnownHosts: hk.files}
		}
		changed := &HostKeyChangedError{Host: host, Port: port, KeyType: key.Type(), Fingerprint: ssh.FingerprintSHA256(key)}
		for _, k := range keyErr.Want {
			changed.Known = append(changed.Known, KnownKey{Type: k.Key.Type(), Fingerprint: ssh.FingerprintSHA256(k.Key), Where: k.Filename + ":" + strconv.Itoa(k.Line)})
		}
		return changed
	}
}

// fakeAddr gives knownhosts a remote address when only host:port is known;
// knownhosts matches it against IP-address entries too.
func fakeAddr(addr string) net.Addr {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return &net.TCPAddr{}
	}
	p, _ := strconv.Atoi(port)
	return &net.TCPAddr{IP: net.ParseIP(host), Port: p}
}
