package params

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
)

// sealer encrypts secure values at rest with AES-256-GCM. The record's name
// is the additional data, so a ciphertext copied onto another name does not
// decrypt.
type sealer struct {
	aead cipher.AEAD
	// check identifies the key without revealing it: an HMAC of a fixed
	// text under the key. The store records it, so that a server given
	// another key is refused before it seals a value nobody else can read.
	check string
}

// readKey reads the 32-byte master key at path; a missing file is
// fs.ErrNotExist.
func readKey(path string) (*sealer, error) {
	key, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("master key %s has %d bytes, want 32: restore it from a backup; without it secure values cannot be read", path, len(key))
	}
	return newSealer(key)
}

// createKey makes a new master key at path (0600), refusing to replace one.
func createKey(path string) (*sealer, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("creating the master key: %w", err)
	}
	_, err = f.Write(key)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("writing the master key: %w", err)
	}
	return newSealer(key)
}

func newSealer(key []byte) (*sealer, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("jetway parameter store: master key check"))
	return &sealer{aead: aead, check: hex.EncodeToString(mac.Sum(nil))}, nil
}

func (s *sealer) seal(name string, plaintext []byte) []byte {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plaintext)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return s.aead.Seal(nonce, nonce, plaintext, []byte(name))
}

func (s *sealer) open(name string, sealed []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("sealed value too short")
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(name))
	if err != nil {
		return nil, fmt.Errorf("decrypting %q: %w (was the master key replaced?)", name, err)
	}
	return plain, nil
}

// SealValue seals plaintext with the master key for another store of the
// server (the runs' values from their deployers), bound to aad: a sealed
// value moved to another place does not open there. aad must not be a
// parameter's or secret's name; "kind:…" with a colon never is.
func (s *Store) SealValue(aad string, plaintext []byte) []byte { return s.sealer.seal(aad, plaintext) }

// OpenValue opens what SealValue sealed with the same aad.
func (s *Store) OpenValue(aad string, sealed []byte) ([]byte, error) {
	return s.sealer.open(aad, sealed)
}
