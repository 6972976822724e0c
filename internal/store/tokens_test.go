package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
)

// Tokens are found by digest, listed while live, revoked by name (kept,
// stamped), and a revoked token's name goes to a new one.
func TestTokens(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Microsecond)
		expires := now.Add(time.Hour)
		alice := StoredToken{Token: api.Token{Name: "alice", Role: api.RoleDeployer, Projects: []string{"shop-*"}, Params: []string{"/prod/*"}, CreatedBy: "admin", CreatedAt: now, ExpiresAt: &expires}, Hash: "h1"}
		if err := s.CreateToken(ctx, alice); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateToken(ctx, StoredToken{Token: api.Token{Name: "alice", Role: api.RoleViewer, CreatedAt: now}, Hash: "h2"}); !errors.Is(err, ErrExists) {
			t.Fatalf("a live name again: %v", err)
		}
		if err := s.CreateToken(ctx, StoredToken{Token: api.Token{Name: "bob", Role: api.RoleViewer, CreatedAt: now}, Hash: "h1"}); !errors.Is(err, ErrExists) {
			t.Fatalf("a digest again: %v", err)
		}
		got, err := s.TokenByHash(ctx, "h1")
		if err != nil || got.Name != "alice" || got.Role != api.RoleDeployer || got.Projects[0] != "shop-*" || got.Params[0] != "/prod/*" || !got.ExpiresAt.Equal(expires) || got.LastUsedAt != nil || got.RevokedAt != nil {
			t.Fatalf("by digest: %+v %v", got, err)
		}
		if err := s.TouchToken(ctx, "h1", now); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.TokenByHash(ctx, "h1"); got.LastUsedAt == nil || !got.LastUsedAt.Equal(now) {
			t.Fatalf("last used: %+v", got.LastUsedAt)
		}
		if err := s.RevokeToken(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeToken(ctx, "alice"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("revoking twice: %v", err)
		}
		if got, err := s.TokenByHash(ctx, "h1"); err != nil || got.RevokedAt == nil {
			t.Fatalf("a revoked token: %+v %v", got, err)
		}
		if list, err := s.ListTokens(ctx); err != nil || len(list) != 0 {
			t.Fatalf("live tokens after the revocation: %+v %v", list, err)
		}
		if err := s.CreateToken(ctx, StoredToken{Token: api.Token{Name: "alice", Role: api.RoleViewer, CreatedAt: now}, Hash: "h3"}); err != nil {
			t.Fatalf("a revoked token's name: %v", err)
		}
		if _, err := s.TokenByHash(ctx, "h1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("the old alice after its name went to a new token: %v", err)
		}
		if list, _ := s.ListTokens(ctx); len(list) != 1 || list[0].Hash != "h3" {
			t.Fatalf("tokens: %+v", list)
		}
	})
}

// The audit log lists in order from a time and after a number, and
// retention prunes what is older than its cutoff.
func TestAudit(t *testing.T) {
	engines(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		old := time.Now().Add(-40 * 24 * time.Hour)
		for i, e := range []api.AuditEntry{
			{At: old, Actor: "admin", Action: "token.create", Target: "alice", Outcome: api.OutcomeOK},
			{Actor: "alice", Action: "deploy", Target: "shop", Detail: "run r1", Outcome: api.OutcomeOK},
			{Actor: "alice", Action: "GET /v1/params", Detail: "may not", Outcome: api.OutcomeRefused},
		} {
			if err := s.AppendAudit(ctx, e); err != nil {
				t.Fatalf("entry %d: %v", i, err)
			}
		}
		all, err := s.ListAudit(ctx, time.Time{}, 0, 100)
		if err != nil || len(all) != 3 || all[0].Action != "token.create" || all[2].Outcome != api.OutcomeRefused || !(all[0].Seq < all[1].Seq && all[1].Seq < all[2].Seq) {
			t.Fatalf("all: %+v %v", all, err)
		}
		recent, _ := s.ListAudit(ctx, time.Now().Add(-time.Hour), 0, 100)
		if len(recent) != 2 {
			t.Fatalf("since an hour ago: %+v", recent)
		}
		page, _ := s.ListAudit(ctx, time.Time{}, all[0].Seq, 1)
		if len(page) != 1 || page[0].Seq != all[1].Seq {
			t.Fatalf("after the first, one: %+v", page)
		}
		n, err := s.PruneAudit(ctx, time.Now().Add(-30*24*time.Hour))
		if err != nil || n != 1 {
			t.Fatalf("pruned %d %v, want the 40-day-old entry", n, err)
		}
		if left, _ := s.ListAudit(ctx, time.Time{}, 0, 100); len(left) != 2 || left[0].Seq != all[1].Seq {
			t.Fatalf("after pruning: %+v", left)
		}
	})
}
