package api

import (
	"fmt"
	"time"
)

// Roles of API tokens (jetway tokens). Each has the rights of the one
// before it and more.
const (
	// RoleViewer reads runs, logs, artifacts, Docker hosts, agents and
	// projects' settings.
	RoleViewer = "viewer"
	// RoleDeployer also deploys, reruns and stops the runs of its
	// projects. It never reads or writes the parameter store.
	RoleDeployer = "deployer"
	// RoleAdmin may do everything: tokens, agents, Docker hosts,
	// projects' settings, parameters and the audit log too.
	RoleAdmin = "admin"
)

// Roles lists the roles, least rights first.
var Roles = []string{RoleViewer, RoleDeployer, RoleAdmin}

// ValidRole checks a role's name.
func ValidRole(role string) error {
	for _, r := range Roles {
		if r == role {
			return nil
		}
	}
	return fmt.Errorf("role %q is not one of viewer, deployer, admin", role)
}

// AdminTokenName names the server's own token (DATA/token): the first
// admin token, which no jetway tokens command creates or revokes.
const AdminTokenName = "admin"

// Token is an API token as the server shows it: never the token itself,
// which is printed once when it is created.
type Token struct {
	Name string `json:"name"`
	Role string `json:"role"`
	// Projects are the globs of the projects the token may see and
	// deploy; empty: all.
	Projects []string `json:"projects,omitempty"`
	// Params are the globs of the references (SSM:… and SECRET:…) that
	// runs the token starts may resolve; empty: those of its role (all
	// for an admin, none for the others).
	Params     []string   `json:"params,omitempty"`
	CreatedBy  string     `json:"created_by,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
}

// NewTokenRequest is the body of POST /v1/tokens.
type NewTokenRequest struct {
	Name     string   `json:"name"`
	Role     string   `json:"role"`
	Projects []string `json:"projects,omitempty"`
	Params   []string `json:"params,omitempty"`
	// ExpiresIn is the token's life in seconds; 0: it never expires.
	ExpiresIn int64 `json:"expires_in,omitempty"`
}

// NewToken answers POST /v1/tokens: the token, shown this once.
type NewToken struct {
	Token
	Secret string `json:"token"`
}

// Whoami answers GET /v1/whoami: the token a request was made with.
type Whoami = Token

// Outcomes of audited actions.
const (
	OutcomeOK      = "ok"
	OutcomeRefused = "refused"
)

// AuditEntry is one line of the audit log: who did what, and whether
// the server let them. Never a secret's value.
type AuditEntry struct {
	Seq int64     `json:"seq"`
	At  time.Time `json:"at"`
	// Actor is the name of the token the request bore, whether through
	// the API or a dashboard session; "run:ID" for a run's own token.
	Actor   string `json:"actor"`
	Action  string `json:"action"`
	Target  string `json:"target,omitempty"`
	Detail  string `json:"detail,omitempty"`
	Outcome string `json:"outcome"`
}
