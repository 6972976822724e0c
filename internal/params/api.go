package params

import (
	"context"
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
