// Package api holds the wire types of jetway's /v1 HTTP API: the contract
// between the server and its clients (the CLI and runners), which never
// import each other.
package api

import "time"

// ParamInfo is a parameter as the API shows it; Value only on request.
type ParamInfo struct {
	Name         string    `json:"name"`
	Type         string    `json:"type"`
	Version      int64     `json:"version"`
	LastModified time.Time `json:"last_modified"`
	Description  string    `json:"description,omitempty"`
	Value        *string   `json:"value,omitempty"`
}

// PutParamRequest is the body of POST /v1/params.
type PutParamRequest struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Value       string `json:"value"`
	Description string `json:"description,omitempty"`
	Overwrite   bool   `json:"overwrite"`
}

// CredentialsRequest is the body of POST /v1/credentials: the parameters
// and secrets the key pair may read.
type CredentialsRequest struct {
	Parameters []string `json:"parameters"`
	Secrets    []string `json:"secrets"`
	TTLSeconds int      `json:"ttl_seconds,omitempty"`
}

// Credentials is a short-lived key pair for the AWS-compatible APIs.
type Credentials struct {
	AccessKeyID     string    `json:"access_key_id"`
	SecretAccessKey string    `json:"secret_access_key"`
	Expiration      time.Time `json:"expiration"`
	Region          string    `json:"region"`
}
