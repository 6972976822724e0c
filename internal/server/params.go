package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/params"
	"github.com/jetway-dev/jetway/internal/record"
)

func info(p params.Parameter) api.ParamInfo {
	out := api.ParamInfo{Name: p.Name, Type: p.Type, Version: p.Version, LastModified: p.Modified.UTC(), Description: p.Description}
	if len(p.Tags) > 0 {
		out.Tags = make(map[string]string, len(p.Tags))
		for _, t := range p.Tags {
			out.Tags[t.Key] = t.Value
		}
	}
	return out
}

// storeError maps the store's AWS-style errors onto HTTP statuses.
func storeError(w http.ResponseWriter, err error) {
	var apiErr *params.APIError
	if errors.As(err, &apiErr) {
		status := http.StatusBadRequest
		switch apiErr.Code {
		case "ParameterNotFound", "ParameterVersionNotFound":
			status = http.StatusNotFound
		case "ParameterAlreadyExists":
			status = http.StatusConflict
		}
		writeError(w, status, "%s", apiErr.Message)
		return
	}
	writeError(w, http.StatusInternalServerError, "%v", err)
}

func (s *Server) listParams(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Query().Get("path")
	all, err := s.allParams(r.Context())
	if err != nil {
		storeError(w, err)
		return
	}
	out := []api.ParamInfo{}
	prefix := strings.TrimSuffix(path, "/") + "/"
	for _, p := range all {
		if path == "" || path == "/" || p.Name == path || strings.HasPrefix(p.Name, prefix) {
			out = append(out, p)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// allParams describes every parameter, page by page, for the API's list
// and the dashboard's.
func (s *Server) allParams(ctx context.Context) ([]api.ParamInfo, error) {
	var out []api.ParamInfo
	for token := ""; ; {
		page, next, err := s.store.DescribeParameters(ctx, 50, token)
		if err != nil {
			return nil, err
		}
		for _, p := range page {
			out = append(out, info(p))
		}
		if next == "" {
			return out, nil
		}
		token = next
	}
}

func (s *Server) putParam(w http.ResponseWriter, r *http.Request) {
	var req api.PutParamRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "the body is not a parameter: %v", err)
		return
	}
	v, err := s.store.PutParameter(r.Context(), params.PutInput{Name: req.Name, Type: req.Type, Value: req.Value, Description: req.Description, Overwrite: req.Overwrite, User: "api"})
	if err != nil {
		storeError(w, err)
		return
	}
	noteAudit(r, req.Name, fmt.Sprintf("version %d, %s", v, req.Type))
	writeJSON(w, http.StatusOK, map[string]int64{"version": v})
}

func (s *Server) getParam(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	decrypt := r.URL.Query().Get("decrypt") == "1"
	p, err := s.store.GetParameter(r.Context(), name, decrypt)
	if err != nil {
		storeError(w, err)
		return
	}
	out := info(p)
	if p.Type != params.TypeSecureString || decrypt {
		out.Value = &p.Value
		s.auditOK(r, "param.read", p.Name, fmt.Sprintf("version %d", p.Version))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) deleteParam(w http.ResponseWriter, r *http.Request) {
	if err := s.store.DeleteParameter(r.Context(), r.URL.Query().Get("name")); err != nil {
		storeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

const maxCredentialTTL = 12 * time.Hour

func (s *Server) issueCredentials(w http.ResponseWriter, r *http.Request) {
	var req api.CredentialsRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "the body is not a credentials request: %v", err)
		return
	}
	ttl := time.Duration(req.TTLSeconds) * time.Second
	if ttl <= 0 {
		ttl = time.Hour
	}
	if ttl > maxCredentialTTL {
		writeError(w, http.StatusBadRequest, "ttl_seconds may be at most %d", int(maxCredentialTTL.Seconds()))
		return
	}
	scope := params.Scope{Parameters: req.Parameters, Secrets: req.Secrets, TTL: ttl}
	actor := principalOf(r.Context()).Name
	if runID, ok := s.runTokenOf(r); ok {
		actor = "run:" + runID
		// A run token reads exactly its run's references, while the run lives.
		run, err := s.runs.GetRun(r.Context(), runID)
		if err != nil {
			writeError(w, http.StatusNotFound, "run %s: %v", runID, err)
			return
		}
		scope.Parameters, scope.Secrets = runRefs(run)
		scope.RunID = runID // its key dies with the run, on every server
	}
	key, err := s.keys.Issue(r.Context(), scope)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "issuing credentials: %v", err)
		return
	}
	// Which names a key may read, never a value: what it did read, the
	// store's access hook records.
	s.audit(r.Context(), actor, "credentials", scope.RunID, fmt.Sprintf("key %s may read parameters [%s] secrets [%s]", key.AccessKeyID,
		strings.Join(scope.Parameters, " "), strings.Join(scope.Secrets, " ")), api.OutcomeOK)
	writeJSON(w, http.StatusOK, api.Credentials{AccessKeyID: key.AccessKeyID, SecretAccessKey: key.SecretAccessKey, Expiration: key.Expires.UTC(), Region: "us-east-1"})
}

// runAlive returns the Alive func of params.OpenKeys: whether a run has
// not finished, so a scoped key issued for it is accepted until then. Every
// server asks the database, so they agree.
func runAlive(runs RunStore) func(ctx context.Context, runID string) (bool, error) {
	return func(ctx context.Context, runID string) (bool, error) {
		run, err := runs.GetRun(ctx, runID)
		if errors.Is(err, record.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		return !api.Finished(run.Status), nil
	}
}
