package params

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// API serves the AWS-compatible JSON 1.1 APIs of the embedded store: SSM
// Parameter Store and Secrets Manager, each request verified with SigV4.
// Mount it for POST / requests that carry an X-Amz-Target header.
type API struct {
	Store  *Store
	Keys   *Keys
	Logger *slog.Logger
	// OnAccess, when set, is called after every successful operation that
	// returned values (parameters' or secrets') or changed anything, with
	// the names involved, never the values: the server's audit log. It runs
	// on the request's goroutine before the answer is written; it must not
	// block for long.
	OnAccess func(ctx context.Context, a Access)
	now      func() time.Time
}

// Access is one successful operation that read values or changed the
// store, as OnAccess is told of it.
type Access struct {
	// AccessKeyID signed the request; RunID is the run a scoped pair was
	// issued for ("" for the admin pair and pairs of no run).
	AccessKeyID, RunID string
	// Operation is the service's operation, "ssm:GetParameter",
	// "secretsmanager:PutSecretValue".
	Operation string
	// Names are the parameters or secrets read or changed, as stored.
	Names []string
	// Write is true for an operation that changed something.
	Write bool
}

// accessNote collects what a request touched, for OnAccess.
type accessNote struct {
	names   []string
	write   bool
	touched bool
}

// read records names whose values the answer carries.
func (n *accessNote) read(names ...string) {
	n.touched = true
	n.names = append(n.names, names...)
}

// wrote records names the operation changed.
func (n *accessNote) wrote(names ...string) {
	n.touched, n.write = true, true
	n.names = append(n.names, names...)
}

// IsAWSRequest tells whether a request is for this API.
func IsAWSRequest(r *http.Request) bool {
	return r.Method == http.MethodPost && r.Header.Get("X-Amz-Target") != ""
}

const maxRequestBody = 1 << 20

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now
	if a.now != nil {
		now = a.now
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	if err != nil {
		writeAPIError(w, apiErr("SerializationException", "reading the request: %v", err))
		return
	}
	if len(body) > maxRequestBody {
		writeAPIError(w, &APIError{Code: "RequestEntityTooLargeException", Message: "request body too large", Status: http.StatusRequestEntityTooLarge})
		return
	}
	var who Principal
	var lookupErr error
	auth, apiError := verifySigV4(r, body, now(), func(id string) (string, *APIError) {
		secret, p, err := a.Keys.lookup(r.Context(), id)
		who = p
		var apiError *APIError
		if errors.As(err, &apiError) {
			return "", apiError
		}
		if err != nil {
			lookupErr = err
			return "", &APIError{Code: "InternalServerError", Message: "internal error", Status: http.StatusInternalServerError}
		}
		return secret, nil
	})
	if lookupErr != nil {
		a.log().Error("looking up an access key failed", "target", r.Header.Get("X-Amz-Target"), "err", lookupErr)
	}
	if apiError != nil {
		a.log().Info("rejected AWS API request", "target", r.Header.Get("X-Amz-Target"), "code", apiError.Code)
		writeAPIError(w, apiError)
		return
	}
	service, op, _ := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
	var out any
	var note accessNote
	switch {
	case service == "AmazonSSM" && auth.service == "ssm":
		out, err = a.ssm(r.Context(), who, auth.region, op, body, &note)
	case service == "secretsmanager" && auth.service == "secretsmanager":
		out, err = a.secretsManager(r.Context(), who, auth.region, op, body, &note)
	default:
		err = &APIError{Code: "UnknownOperationException", Message: fmt.Sprintf("unknown target %q for service %q", r.Header.Get("X-Amz-Target"), auth.service), Status: http.StatusBadRequest}
	}
	if err != nil {
		var apiError *APIError
		if !errors.As(err, &apiError) {
			a.log().Error("AWS API request failed", "target", r.Header.Get("X-Amz-Target"), "err", err)
			apiError = &APIError{Code: "InternalServerError", Message: "internal error", Status: http.StatusInternalServerError}
		}
		writeAPIError(w, apiError)
		return
	}
	if note.touched && a.OnAccess != nil {
		a.OnAccess(r.Context(), Access{AccessKeyID: who.AccessKeyID, RunID: who.RunID, Operation: auth.service + ":" + op, Names: note.names, Write: note.write})
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(out)
}

func (a *API) log() *slog.Logger {
	if a.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Logger
}

func writeAPIError(w http.ResponseWriter, e *APIError) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", e.Code)
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": e.Code, "message": e.Message})
}

func decode(body []byte, v any) error {
	if len(body) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return apiErr("SerializationException", "the request body is not valid JSON for this operation: %v", err)
	}
	return nil
}

func denied(who Principal, what string) error {
	return apiErr("AccessDeniedException", "User: %s is not authorized to perform: %s", who.AccessKeyID, what)
}

// epoch renders a time as the JSON protocol's epoch seconds.
func epoch(t time.Time) float64 {
	return float64(t.UnixMilli()) / 1000
}

func (a *API) parameterARN(region, name string) string {
	return fmt.Sprintf("arn:aws:ssm:%s:%s:parameter/%s", region, AccountID, strings.TrimPrefix(name, "/"))
}

type ssmParameter struct {
	Name             string
	Type             string
	Value            string
	Version          int64
	LastModifiedDate float64
	ARN              string
	DataType         string
	Selector         string `json:",omitempty"`
}

type ssmHistory struct {
	Name             string
	Type             string
	Value            string
	Version          int64
	LastModifiedDate float64
	LastModifiedUser string
	Description      string `json:",omitempty"`
	Labels           []string
	Tier             string
	Policies         []any
	DataType         string
	KeyId            string `json:",omitempty"`
}

type ssmMetadata struct {
	Name             string
	ARN              string
	Type             string
	Version          int64
	LastModifiedDate float64
	LastModifiedUser string
	Description      string `json:",omitempty"`
	Tier             string
	Policies         []any
	DataType         string
	KeyId            string `json:",omitempty"`
}

func (a *API) toSSM(region string, p Parameter, selector string) ssmParameter {
	out := ssmParameter{Name: p.Name, Type: p.Type, Value: p.Value, Version: p.Version, LastModifiedDate: epoch(p.Modified), ARN: a.parameterARN(region, p.Name), DataType: "text"}
	if selector != p.Name {
		if _, v, ok := strings.Cut(selector, ":"); ok {
			out.Selector = ":" + v
		}
	}
	return out
}

func keyID(typ string) string {
	if typ == TypeSecureString {
		return "alias/aws/ssm"
	}
	return ""
}

func (a *API) ssm(ctx context.Context, who Principal, region, op string, body []byte, note *accessNote) (any, error) {
	if !who.Admin && op != "GetParameter" && op != "GetParameters" {
		return nil, denied(who, "ssm:"+op)
	}
	user := "arn:aws:iam::" + AccountID + ":user/jetway"
	switch op {
	case "PutParameter":
		var in struct {
			Name, Type, Value, Description string
			Overwrite                      bool
		}
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		v, err := a.Store.PutParameter(ctx, PutInput{Name: in.Name, Type: in.Type, Value: in.Value, Description: in.Description, Overwrite: in.Overwrite, User: user})
		if err != nil {
			return nil, err
		}
		note.wrote(in.Name)
		return map[string]any{"Version": v, "Tier": "Standard"}, nil
	case "GetParameter":
		var in struct {
			Name           string
			WithDecryption bool
		}
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		if !who.Admin && !who.Parameters[stripSelector(in.Name)] {
			return nil, denied(who, "ssm:GetParameter on "+in.Name)
		}
		p, err := a.Store.GetParameter(ctx, in.Name, in.WithDecryption)
		if err != nil {
			return nil, err
		}
		note.read(p.Name)
		return map[string]any{"Parameter": a.toSSM(region, p, in.Name)}, nil
	case "GetParameters":
		var in struct {
			Names          []string
			WithDecryption bool
		}
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		for _, n := range in.Names {
			if !who.Admin && !who.Parameters[stripSelector(n)] {
				return nil, denied(who, "ssm:GetParameters on "+n)
			}
		}
		found, invalid, err := a.Store.GetParameters(ctx, in.Names, in.WithDecryption)
		if err != nil {
			return nil, err
		}
		params := []ssmParameter{}
		for _, p := range found {
			params = append(params, a.toSSM(region, p, p.Name))
			note.read(p.Name)
		}
		if invalid == nil {
			invalid = []string{}
		}
		return map[string]any{"Parameters": params, "InvalidParameters": invalid}, nil
	case "GetParametersByPath":
		var in struct {
			Path                      string
			Recursive, WithDecryption bool
			MaxResults                int
			NextToken                 string
		}
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		found, next, err := a.Store.GetParametersByPath(ctx, in.Path, in.Recursive, in.WithDecryption, in.MaxResults, in.NextToken)
		if err != nil {
			return nil, err
		}
		params := []ssmParameter{}
		for _, p := range found {
			params = append(params, a.toSSM(region, p, p.Name))
			note.read(p.Name)
		}
		return withToken(map[string]any{"Parameters": params}, next), nil
	case "DescribeParameters":
		var in struct {
			MaxResults int
			NextToken  string
		}
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		found, next, err := a.Store.DescribeParameters(ctx, in.MaxResults, in.NextToken)
		if err != nil {
			return nil, err
		}
		meta := []ssmMetadata{}
		for _, p := range found {
			meta = append(meta, ssmMetadata{Name: p.Name, ARN: a.parameterARN(region, p.Name), Type: p.Type, Version: p.Version, LastModifiedDate: epoch(p.Modified),
				LastModifiedUser: p.ModifiedBy, Description: p.Description, Tier: "Standard", Policies: []any{}, DataType: "text", KeyId: keyID(p.Type)})
		}
		return withToken(map[string]any{"Parameters": meta}, next), nil
	case "GetParameterHistory":
		var in struct {
			Name           string
			WithDecryption bool
			MaxResults     int
			NextToken      string
		}
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		found, next, err := a.Store.GetParameterHistory(ctx, in.Name, in.WithDecryption, in.MaxResults, in.NextToken)
		if err != nil {
			return nil, err
		}
		hist := []ssmHistory{}
		if len(found) > 0 {
			note.read(found[0].Name)
		}
		for _, p := range found {
			hist = append(hist, ssmHistory{Name: p.Name, Type: p.Type, Value: p.Value, Version: p.Version, LastModifiedDate: epoch(p.Modified),
				LastModifiedUser: p.ModifiedBy, Description: p.Description, Labels: []string{}, Tier: "Standard", Policies: []any{}, DataType: "text", KeyId: keyID(p.Type)})
		}
		return withToken(map[string]any{"Parameters": hist}, next), nil
	case "DeleteParameter":
		var in struct{ Name string }
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		if err := a.Store.DeleteParameter(ctx, in.Name); err != nil {
			return nil, err
		}
		note.wrote(in.Name)
		return map[string]any{}, nil
	case "DeleteParameters":
		var in struct{ Names []string }
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		deleted, invalid, err := a.Store.DeleteParameters(ctx, in.Names)
		if err != nil {
			return nil, err
		}
		if deleted == nil {
			deleted = []string{}
		} else {
			note.wrote(deleted...)
		}
		if invalid == nil {
			invalid = []string{}
		}
		return map[string]any{"DeletedParameters": deleted, "InvalidParameters": invalid}, nil
	}
	return nil, &APIError{Code: "UnknownOperationException", Message: "the embedded parameter store does not implement ssm:" + op, Status: http.StatusBadRequest}
}

func stripSelector(name string) string {
	n, _, _ := strings.Cut(name, ":")
	return n
}

func withToken(m map[string]any, next string) map[string]any {
	if next != "" {
		m["NextToken"] = next
	}
	return m
}

func (a *API) secretsManager(ctx context.Context, who Principal, region, op string, body []byte, note *accessNote) (any, error) {
	if !who.Admin && op != "GetSecretValue" {
		return nil, denied(who, "secretsmanager:"+op)
	}
	var in struct {
		Name, Description, SecretString, SecretId, VersionId, VersionStage, NextToken string
		SecretBinary                                                                  []byte
		ForceDeleteWithoutRecovery                                                    bool
		RecoveryWindowInDays, MaxResults                                              int
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	value, binary := []byte(in.SecretString), false
	if len(in.SecretBinary) > 0 {
		if in.SecretString != "" {
			return nil, apiErr("InvalidParameterException", "You can't specify both a binary secret value and a string secret value in the same secret.")
		}
		value, binary = in.SecretBinary, true
	}
	switch op {
	case "CreateSecret":
		sec, err := a.Store.CreateSecret(ctx, region, in.Name, in.Description, value, binary)
		if err != nil {
			return nil, err
		}
		note.wrote(sec.Name)
		return map[string]any{"ARN": sec.ARN, "Name": sec.Name, "VersionId": sec.VersionID}, nil
	case "PutSecretValue":
		sec, err := a.Store.PutSecretValue(ctx, in.SecretId, value, binary)
		if err != nil {
			return nil, err
		}
		note.wrote(sec.Name)
		return map[string]any{"ARN": sec.ARN, "Name": sec.Name, "VersionId": sec.VersionID, "VersionStages": []string{"AWSCURRENT"}}, nil
	case "GetSecretValue":
		if !who.Admin {
			name, _, err := a.Store.resolveSecretID(ctx, a.Store.db, in.SecretId)
			switch {
			case err != nil && who.Secrets[in.SecretId]:
				return nil, err // allowed, but there is no such secret
			case err != nil || !who.Secrets[name]:
				return nil, denied(who, "secretsmanager:GetSecretValue on "+in.SecretId)
			}
		}
		sec, err := a.Store.GetSecretValue(ctx, in.SecretId, in.VersionId, in.VersionStage)
		if err != nil {
			return nil, err
		}
		note.read(sec.Name)
		out := map[string]any{"ARN": sec.ARN, "Name": sec.Name, "VersionId": sec.VersionID, "VersionStages": sec.stages(sec.VersionID), "CreatedDate": epoch(sec.Created)}
		if sec.IsBinary {
			out["SecretBinary"] = base64.StdEncoding.EncodeToString(sec.Binary)
		} else {
			out["SecretString"] = sec.String
		}
		return out, nil
	case "DeleteSecret":
		sec, when, err := a.Store.DeleteSecret(ctx, in.SecretId, in.ForceDeleteWithoutRecovery, in.RecoveryWindowInDays)
		if err != nil {
			return nil, err
		}
		note.wrote(sec.Name)
		return map[string]any{"ARN": sec.ARN, "Name": sec.Name, "DeletionDate": epoch(when)}, nil
	case "ListSecrets":
		secrets, next, err := a.Store.ListSecrets(ctx, in.MaxResults, in.NextToken)
		if err != nil {
			return nil, err
		}
		list := []map[string]any{}
		for _, s := range secrets {
			item := map[string]any{"ARN": s.ARN, "Name": s.Name, "LastChangedDate": epoch(s.Changed), "CreatedDate": epoch(s.Created),
				"SecretVersionsToStages": s.versionsToStages()}
			if s.Description != "" {
				item["Description"] = s.Description
			}
			list = append(list, item)
		}
		return withToken(map[string]any{"SecretList": list}, next), nil
	}
	return nil, &APIError{Code: "UnknownOperationException", Message: "the embedded store does not implement secretsmanager:" + op, Status: http.StatusBadRequest}
}
