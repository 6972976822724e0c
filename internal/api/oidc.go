package api

import "time"

// IDTokensResponse answers a runner's POST /v1/runs/{id}/id-tokens: the
// OIDC tokens of the run's id_tokens, by variable name.
type IDTokensResponse struct {
	Tokens map[string]string `json:"tokens"`
}

// OIDCKey is one of the server's OIDC signing keys as an operator sees
// it: never its private half.
type OIDCKey struct {
	// ID is the key's kid in tokens and the JWKS.
	ID        string    `json:"kid"`
	CreatedAt time.Time `json:"created_at"`
	// RetiredAt is when a newer key replaced it as the signer; nil for
	// the signer. PublishedUntil is when it leaves the JWKS (every token
	// it signed has expired by then); nil for the signer.
	RetiredAt      *time.Time `json:"retired_at,omitempty"`
	PublishedUntil *time.Time `json:"published_until,omitempty"`
}

// OIDCRotateResponse answers POST /v1/oidc/rotate.
type OIDCRotateResponse struct {
	// Signer is the new signing key's ID.
	Signer string `json:"signer"`
	// Keys are the keys published now, the signer first.
	Keys []OIDCKey `json:"keys"`
	// Dropped counts the retired keys removed: every token they signed
	// had expired.
	Dropped int `json:"dropped"`
}
