package web

import (
	"context"
	"errors"

	"github.com/jetway-dev/jetway/internal/api"
)

// Identity is who a dashboard session is signed in as: the API token it
// was opened with, its role and projects. Pages show it, and hide what
// its role may not do; the Source refuses it anyway.
type Identity struct {
	Name string
	Role string
	// Projects and Params are the token's scopes (jetway tokens create
	// --projects, --params).
	Projects, Params []string
}

// CanDeploy tells whether the role may stop and rerun runs.
func (i Identity) CanDeploy() bool { return i.Role == api.RoleDeployer || i.Role == api.RoleAdmin }

// IsAdmin tells whether the role may read parameters and the audit log.
func (i Identity) IsAdmin() bool { return i.Role == api.RoleAdmin }

// ErrBadToken is SignIn's answer to a token that is no token of the
// server's (or is revoked or expired): the page says so.
var ErrBadToken = errors.New("that is not a token of this server, or it was revoked or has expired")

// ErrForbidden wraps a Source's refusal of what the identity may not do.
var ErrForbidden = errors.New("forbidden")

type identityKey struct{}

// IdentityFrom is the identity of the session a dashboard request is
// made in; ok is false outside one (an API request).
func IdentityFrom(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}

func withIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}
