package store

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jetway-dev/jetway/internal/oidc"
)

// oidcTestKeys are made once: RSA keys take a while under -race.
var oidcTestKeys = sync.OnceValues(func() ([]oidc.Key, error) {
	var keys []oidc.Key
	start := time.Now().Add(-3 * time.Hour).UTC().Truncate(time.Microsecond)
	for i := range 8 {
		k, err := oidc.GenerateKey(start.Add(time.Duration(i) * time.Minute))
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
})

func testOIDCKeys(t *testing.T) []oidc.Key {
	t.Helper()
	keys, err := oidcTestKeys()
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func kids(keys []oidc.Key) []string {
	var out []string
	for _, k := range keys {
		out = append(out, k.ID)
	}
	return out
}

func TestOIDCKeysEnsureAndRotate(t *testing.T) {
	keys := testOIDCKeys(t)
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		s.SealWith(testSealer(t))
		if got, err := s.OIDCKeys(ctx); err != nil || len(got) != 0 {
			t.Fatalf("a new store: %v %v", kids(got), err)
		}
		signer, err := s.EnsureOIDCKey(ctx, keys[0])
		if err != nil || signer.ID != keys[0].ID || !signer.Private.Equal(keys[0].Private) || !signer.CreatedAt.Equal(keys[0].CreatedAt) {
			t.Fatalf("first: %v %v", signer.ID, err)
		}
		// There is a signer: another server's candidate is not stored.
		if signer, err := s.EnsureOIDCKey(ctx, keys[1]); err != nil || signer.ID != keys[0].ID {
			t.Fatalf("second: %v %v", signer.ID, err)
		}
		if got, err := s.OIDCKeys(ctx); err != nil || len(got) != 1 || got[0].ID != keys[0].ID || got[0].RetiredAt != nil {
			t.Fatalf("after ensuring: %v %v", kids(got), err)
		}
		if n, err := s.RotateOIDCKey(ctx, keys[2], time.Time{}); err != nil || n != 0 {
			t.Fatalf("rotating: %d %v", n, err)
		}
		got, err := s.OIDCKeys(ctx)
		if err != nil || len(got) != 2 || got[0].ID != keys[2].ID || got[1].ID != keys[0].ID {
			t.Fatalf("after rotating: %v %v", kids(got), err)
		}
		if got[0].RetiredAt != nil || got[1].RetiredAt == nil || !got[1].RetiredAt.Equal(keys[2].CreatedAt) {
			t.Fatalf("retired: %v %v", got[0].RetiredAt, got[1].RetiredAt)
		}
		if signer, err := s.EnsureOIDCKey(ctx, keys[1]); err != nil || signer.ID != keys[2].ID {
			t.Fatalf("ensuring after a rotation: %v %v", signer.ID, err)
		}
		// The next rotation drops the keys retired before the bound: the
		// first, whose tokens have expired, not the one it retires now.
		if n, err := s.RotateOIDCKey(ctx, keys[3], keys[2].CreatedAt.Add(time.Nanosecond)); err != nil || n != 1 {
			t.Fatalf("rotating again: %d %v", n, err)
		}
		if got, err := s.OIDCKeys(ctx); err != nil || len(got) != 2 || got[0].ID != keys[3].ID || got[1].ID != keys[2].ID {
			t.Fatalf("after the second rotation: %v %v", kids(got), err)
		}
	})
}

// The database holds no signing key in the clear, and a store without
// the master key neither stores nor reads one.
func TestOIDCKeysAreSealed(t *testing.T) {
	keys := testOIDCKeys(t)
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		if _, err := s.EnsureOIDCKey(ctx, keys[0]); !errors.Is(err, ErrNoSealer) {
			t.Fatalf("without a sealer: %v", err)
		}
		s.SealWith(testSealer(t))
		if _, err := s.EnsureOIDCKey(ctx, keys[0]); err != nil {
			t.Fatal(err)
		}
		var stored string
		if err := s.db.QueryRowContext(ctx, `SELECT private_key FROM oidc_keys`).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		der, _ := keys[0].MarshalPrivate()
		raw, err := base64.StdEncoding.DecodeString(stored)
		if err != nil || bytes.Contains(raw, der[len(der)-64:]) || bytes.Contains([]byte(stored), der[len(der)-64:]) {
			t.Fatalf("the stored key is not sealed (%v)", err)
		}
		// Another master key opens nothing: the error says so.
		s.SealWith(testSealer(t))
		if _, err := s.OIDCKeys(ctx); err == nil {
			t.Fatal("read with another master key")
		}
	})
}

// Servers that all find no signer and each store theirs at once end
// with one signer, and every one of them signs with it.
func TestOIDCKeysOneSignerAcrossServers(t *testing.T) {
	keys := testOIDCKeys(t)
	ctx := context.Background()
	url := pg.DB(t)
	sealer := testSealer(t)
	var stores []*Store
	for range 6 {
		s := openPostgres(t, url)
		s.SealWith(sealer)
		stores = append(stores, s)
	}
	got := make([]string, len(stores))
	errs := make([]error, len(stores))
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Go(func() {
			k, err := s.EnsureOIDCKey(ctx, keys[i])
			got[i], errs[i] = k.ID, err
		})
	}
	wg.Wait()
	for i := range stores {
		if errs[i] != nil || got[i] != got[0] {
			t.Fatalf("server %d: %s %v; server 0: %s", i, got[i], errs[i], got[0])
		}
	}
	// Rotations at once: each ends with one signer; one that lost the
	// race is told so.
	for i, s := range stores[:2] {
		wg.Go(func() {
			_, errs[i] = s.RotateOIDCKey(ctx, keys[6+i], time.Time{})
		})
	}
	wg.Wait()
	for i := range 2 {
		if errs[i] != nil && !errors.Is(errs[i], ErrRotated) {
			t.Fatalf("rotation %d: %v", i, errs[i])
		}
	}
	all, err := stores[0].OIDCKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	signers := 0
	for _, k := range all {
		if k.RetiredAt == nil {
			signers++
		}
	}
	if signers != 1 {
		t.Fatalf("%d signers: %v", signers, kids(all))
	}
}

// server migrate carries the keys: the new database's servers, with the
// same master key, sign with the same one.
func TestOIDCKeysAreCopied(t *testing.T) {
	keys := testOIDCKeys(t)
	ctx := context.Background()
	sealer := testSealer(t)
	src, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	src.SealWith(sealer)
	if _, err := src.EnsureOIDCKey(ctx, keys[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := src.RotateOIDCKey(ctx, keys[1], time.Time{}); err != nil {
		t.Fatal(err)
	}
	dst := openPostgres(t, pg.DB(t))
	dst.SealWith(sealer)
	if _, err := src.CopyTo(ctx, dst, false); err != nil {
		t.Fatal(err)
	}
	got, err := dst.OIDCKeys(ctx)
	if err != nil || len(got) != 2 || got[0].ID != keys[1].ID || got[1].ID != keys[0].ID || got[1].RetiredAt == nil {
		t.Fatalf("copied: %v %v", kids(got), err)
	}
	if signer, err := dst.EnsureOIDCKey(ctx, keys[2]); err != nil || signer.ID != keys[1].ID {
		t.Fatalf("the copy's signer: %v %v", signer.ID, err)
	}
}
