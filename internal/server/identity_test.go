package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/apiclient"
)

// makeToken creates an API token with the admin token and returns it.
func makeToken(t *testing.T, base, admin string, req api.NewTokenRequest) string {
	t.Helper()
	var out api.NewToken
	if err := apiclient.New(base, admin).Do(context.Background(), http.MethodPost, "/v1/tokens", nil, req, &out); err != nil {
		t.Fatalf("creating token %s: %v", req.Name, err)
	}
	if !strings.HasPrefix(out.Secret, "jwu_") || out.Name != req.Name || out.Role != req.Role {
		t.Fatalf("created %+v", out)
	}
	return out.Secret
}

// deployAs queues a run of projectFile with token, as jetway deploy does.
func deployAs(ctx context.Context, base, token, projectFile string, vars map[string]string) (api.Run, error) {
	c := apiclient.New(base, token)
	var bundle struct{ ID string }
	if err := c.Do(ctx, http.MethodPost, "/v1/bundles", nil, api.Manifest{Files: []api.File{}}, &bundle); err != nil {
		return api.Run{}, err
	}
	var run api.Run
	err := c.Do(ctx, http.MethodPost, "/v1/runs", nil, api.NewRunRequest{ProjectFile: projectFile, Bundle: bundle.ID, Vars: vars}, &run)
	return run, err
}

func statusAndMessage(err error) (int, string) {
	var se *apiclient.StatusError
	if errors.As(err, &se) {
		return se.Status, se.Message
	}
	if err != nil {
		return -1, err.Error()
	}
	return http.StatusOK, ""
}

// Each role may do what it is for and is refused, with a 403 naming the
// missing right, everything else; on both engines.
func TestRolesAllowAndRefuse(t *testing.T) {
	onEngines(t, func(t *testing.T, base, admin string, _ func(string) bool) {
		ctx := context.Background()
		viewer := makeToken(t, base, admin, api.NewTokenRequest{Name: "vic", Role: api.RoleViewer})
		deployer := makeToken(t, base, admin, api.NewTokenRequest{Name: "dee", Role: api.RoleDeployer, Projects: []string{"shop-*"},
			Params: []string{"SSM:/prod/shop/*", "SECRET:shop/**"}})
		other := queueRun(t, base, admin, "billing")
		type call struct {
			method, path string
			body         any
		}
		calls := map[string]call{
			"list runs":     {http.MethodGet, "/v1/runs", nil},
			"list hosts":    {http.MethodGet, "/v1/hosts", nil},
			"list agents":   {http.MethodGet, "/v1/agents", nil},
			"list projects": {http.MethodGet, "/v1/projects", nil},
			"whoami":        {http.MethodGet, "/v1/whoami", nil},
			"deploy":        {http.MethodPost, "/v1/bundles", api.Manifest{Files: []api.File{}}},
			"list params":   {http.MethodGet, "/v1/params", nil},
			"read param":    {http.MethodGet, "/v1/params/value?name=/prod/shop/DB&decrypt=1", nil},
			"write param":   {http.MethodPost, "/v1/params", api.PutParamRequest{Name: "/prod/shop/X", Type: "String", Value: "xyz"}},
			"credentials":   {http.MethodPost, "/v1/credentials", api.CredentialsRequest{Parameters: []string{"/prod/shop/DB"}}},
			"create token":  {http.MethodPost, "/v1/tokens", api.NewTokenRequest{Name: "mallory", Role: api.RoleAdmin}},
			"create agent":  {http.MethodPost, "/v1/agents", api.NewAgentRequest{Name: "rogue"}},
			"set project":   {http.MethodPut, "/v1/projects/shop-web", api.Project{Name: "shop-web", Docker: api.DockerPolicy{Allow: []string{api.DockerAllowPrivileged}}}},
			"add host":      {http.MethodPost, "/v1/hosts", api.DockerHost{Name: "h", URL: "tcp://192.0.2.1:2375", Pool: "p"}},
			"audit":         {http.MethodGet, "/v1/audit", nil},
			"stop other":    {http.MethodPost, "/v1/runs/" + other.ID + "/cancel", nil},
		}
		apiPut(t, base, admin, "/prod/shop/DB", "shop-db-secret-value")
		for _, tc := range []struct {
			token   string
			allowed []string
			// refused maps each refused call to a word its message holds.
			refused map[string]string
		}{
			{viewer, []string{"list runs", "list hosts", "list agents", "list projects", "whoami"}, map[string]string{
				"deploy": "may not deploy, rerun and stop runs; that takes the deployer role", "list params": "the admin role", "read param": "parameter store",
				"write param": "parameter store", "credentials": "parameter store", "create token": "administer", "create agent": "administer",
				"set project": "administer", "add host": "administer", "audit": "administer", "stop other": "deployer role"}},
			{deployer, []string{"list runs", "list hosts", "list agents", "list projects", "whoami", "deploy"}, map[string]string{
				"list params": "read and write the parameter store", "read param": "parameter store", "write param": "parameter store",
				"credentials": "parameter store", "create token": "administer", "create agent": "administer", "set project": "administer",
				"add host": "administer", "audit": "administer", "stop other": "may not see or act on project billing"}},
		} {
			c := apiclient.New(base, tc.token)
			for name, call := range calls {
				status, msg := statusAndMessage(c.Do(ctx, call.method, call.path, nil, call.body, nil))
				if slices.Contains(tc.allowed, name) {
					if status != http.StatusOK {
						t.Errorf("%s: %s: %d %s, want it allowed", tokenName(t, base, tc.token), name, status, msg)
					}
					continue
				}
				want, ok := tc.refused[name]
				if !ok {
					t.Fatalf("no expectation for %s", name)
				}
				if status != http.StatusForbidden || !strings.Contains(msg, want) {
					t.Errorf("%s: %s: %d %q, want 403 naming %q", tokenName(t, base, tc.token), name, status, msg, want)
				}
			}
		}
		// The deployer deploys, sees, stops and reruns its projects only.
		mine, err := deployAs(ctx, base, deployer, "project: shop-web\nenv:\n  vars:\n    DB: SSM:/prod/shop/DB\n    KEY: SECRET:shop/api/key\n", nil)
		if err != nil || mine.Token != "dee" {
			t.Fatalf("deploying its own project: %+v %v", mine, err)
		}
		if _, err := deployAs(ctx, base, deployer, "project: billing\n", nil); !strings.Contains(errString(err), "may not see or act on project billing") {
			t.Errorf("deploying another project: %v", err)
		}
		var runs []api.Run
		if err := apiclient.New(base, deployer).Do(ctx, http.MethodGet, "/v1/runs", nil, nil, &runs); err != nil {
			t.Fatal(err)
		}
		if len(runs) != 1 || runs[0].ID != mine.ID {
			t.Errorf("the deployer lists %+v, want its run only", runs)
		}
		if status, _ := statusAndMessage(apiclient.New(base, deployer).Do(ctx, http.MethodGet, "/v1/runs/"+other.ID, nil, nil, nil)); status != http.StatusForbidden {
			t.Errorf("reading another project's run: %d", status)
		}
		if err := apiclient.New(base, deployer).Do(ctx, http.MethodPost, "/v1/runs/"+mine.ID+"/cancel", nil, nil, nil); err != nil {
			t.Errorf("stopping its run: %v", err)
		}
		if err := apiclient.New(base, deployer).Do(ctx, http.MethodPost, "/v1/runs/"+mine.ID+"/rerun", nil, api.RerunRequest{}, nil); err != nil {
			t.Errorf("rerunning its run: %v", err)
		}
	})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func tokenName(t *testing.T, base, token string) string {
	t.Helper()
	var who api.Whoami
	if err := apiclient.New(base, token).Do(context.Background(), http.MethodGet, "/v1/whoami", nil, nil, &who); err != nil {
		return "?"
	}
	return who.Name
}

func apiPut(t *testing.T, base, token, name, value string) {
	t.Helper()
	if err := apiclient.New(base, token).Do(context.Background(), http.MethodPost, "/v1/params", nil,
		api.PutParamRequest{Name: name, Type: "SecureString", Value: value, Overwrite: true}, nil); err != nil {
		t.Fatal(err)
	}
}

// A run may resolve only what the token that started it grants: one
// referencing anything else is refused before it is queued, naming each
// reference; a granted run's key reads its references and nothing else;
// a deployer without grants resolves none; a rerun takes the rights of
// who reruns.
func TestRunsResolveOnlyWhatTheirTokenGrants(t *testing.T) {
	base, admin, _ := startServer(t)
	ctx := context.Background()
	deployer := makeToken(t, base, admin, api.NewTokenRequest{Name: "dee", Role: api.RoleDeployer, Params: []string{"/prod/shop/*"}})
	bare := makeToken(t, base, admin, api.NewTokenRequest{Name: "bare", Role: api.RoleDeployer})
	apiPut(t, base, admin, "/prod/shop/DB", "granted-value")
	apiPut(t, base, admin, "/prod/billing/DB", "ungranted-value")

	_, err := deployAs(ctx, base, deployer, "project: shop\nenv:\n  vars:\n    A: SSM:/prod/shop/DB\n    B: SSM:/prod/billing/DB\n    C: SECRET:billing\n", nil)
	status, msg := statusAndMessage(err)
	if status != http.StatusForbidden || !strings.Contains(msg, "may not resolve SECRET:billing, SSM:/prod/billing/DB;") || strings.Contains(msg, "/prod/shop/DB,") {
		t.Fatalf("a run with ungranted references: %d %q", status, msg)
	}
	_, err = deployAs(ctx, base, deployer, "project: shop\n", map[string]string{"X": "SSM:/prod/shop/sub/DB"})
	if status, msg := statusAndMessage(err); status != http.StatusForbidden || !strings.Contains(msg, "SSM:/prod/shop/sub/DB") {
		t.Fatalf("a -e reference below the glob's level: %d %q", status, msg)
	}
	if _, err := deployAs(ctx, base, bare, "project: shop\nenv:\n  vars:\n    A: SSM:/prod/shop/DB\n", nil); !strings.Contains(errString(err), "its grants: none") {
		t.Fatalf("a deployer without grants: %v", err)
	}
	var runs []api.Run
	if err := apiclient.New(base, admin).Do(ctx, http.MethodGet, "/v1/runs", nil, nil, &runs); err != nil || len(runs) != 0 {
		t.Fatalf("refused runs were queued: %+v %v", runs, err)
	}

	run, err := deployAs(ctx, base, deployer, "project: shop\nenv:\n  vars:\n    A: SSM:/prod/shop/DB\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	runToken := leaseRun(t, base, admin, run.ID)
	var creds api.Credentials
	if err := apiclient.New(base, runToken).Do(ctx, http.MethodPost, "/v1/credentials", nil, api.CredentialsRequest{Parameters: []string{"/prod/billing/DB"}}, &creds); err != nil {
		t.Fatal(err)
	}
	c := ssm.NewFromConfig(aws.Config{Region: creds.Region, Credentials: credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, "")},
		func(o *ssm.Options) { o.BaseEndpoint = aws.String(base) })
	got, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/prod/shop/DB"), WithDecryption: aws.Bool(true)})
	if err != nil || aws.ToString(got.Parameter.Value) != "granted-value" {
		t.Fatalf("the granted reference: %v", err)
	}
	_, err = c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/prod/billing/DB"), WithDecryption: aws.Bool(true)})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDeniedException" {
		t.Fatalf("another parameter with the run's key: %v", err)
	}

	// The admin's run resolves anything; the bare deployer's rerun of it
	// is refused with the bare deployer's rights.
	wide, err := deployAs(ctx, base, admin, "project: shop\nenv:\n  vars:\n    B: SSM:/prod/billing/DB\n", nil)
	if err != nil || wide.Token != api.AdminTokenName {
		t.Fatalf("an admin's run: %+v %v", wide, err)
	}
	if err := apiclient.New(base, admin).Do(ctx, http.MethodPost, "/v1/runs/"+wide.ID+"/cancel", nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	err = apiclient.New(base, bare).Do(ctx, http.MethodPost, "/v1/runs/"+wide.ID+"/rerun", nil, api.RerunRequest{}, nil)
	if status, msg := statusAndMessage(err); status != http.StatusForbidden || !strings.Contains(msg, "token bare may not resolve SSM:/prod/billing/DB") {
		t.Fatalf("a rerun by a deployer without grants: %d %q", status, msg)
	}
}

// A revoked token is refused at its next request, an expired one once it
// expires; neither can be used to sign in again.
func TestRevokedAndExpiredTokensAreRefused(t *testing.T) {
	base, admin, _ := startServer(t)
	ctx := context.Background()
	viewer := makeToken(t, base, admin, api.NewTokenRequest{Name: "vic", Role: api.RoleViewer})
	short := makeToken(t, base, admin, api.NewTokenRequest{Name: "brief", Role: api.RoleViewer, ExpiresIn: 1})
	if err := apiclient.New(base, viewer).Do(ctx, http.MethodGet, "/v1/runs", nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := apiclient.New(base, admin).Do(ctx, http.MethodDelete, "/v1/tokens/vic", nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	if status, msg := statusAndMessage(apiclient.New(base, viewer).Do(ctx, http.MethodGet, "/v1/runs", nil, nil, nil)); status != http.StatusUnauthorized || !strings.Contains(msg, "token vic was revoked at") {
		t.Errorf("a revoked token: %d %q", status, msg)
	}
	var entries []api.AuditEntry
	if err := apiclient.New(base, admin).Do(ctx, http.MethodGet, "/v1/audit", nil, nil, &entries); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(entries, func(e api.AuditEntry) bool {
		return e.Actor == "vic" && e.Outcome == api.OutcomeRefused && e.Detail == "token was revoked"
	}) {
		t.Errorf("the revoked token's use is not in the audit log: %+v", entries)
	}
	// Its name may be given to a new token; the old one stays refused.
	again := makeToken(t, base, admin, api.NewTokenRequest{Name: "vic", Role: api.RoleViewer})
	if err := apiclient.New(base, again).Do(ctx, http.MethodGet, "/v1/runs", nil, nil, nil); err != nil {
		t.Errorf("the new vic: %v", err)
	}
	if status, _ := statusAndMessage(apiclient.New(base, viewer).Do(ctx, http.MethodGet, "/v1/runs", nil, nil, nil)); status != http.StatusUnauthorized {
		t.Errorf("the old vic after its name was reused: %d", status)
	}
	if err := apiclient.New(base, admin).Do(ctx, http.MethodDelete, "/v1/tokens/vic", nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	if status, _ := statusAndMessage(apiclient.New(base, admin).Do(ctx, http.MethodDelete, "/v1/tokens/vic", nil, nil, nil)); status != http.StatusNotFound {
		t.Errorf("revoking twice: %d, want 404", status)
	}
	for {
		status, msg := statusAndMessage(apiclient.New(base, short).Do(ctx, http.MethodGet, "/v1/runs", nil, nil, nil))
		if status == http.StatusOK {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if status != http.StatusUnauthorized || !strings.Contains(msg, "token brief expired at") {
			t.Errorf("an expired token: %d %q", status, msg)
		}
		break
	}
	var tokens []api.Token
	if err := apiclient.New(base, admin).Do(ctx, http.MethodGet, "/v1/tokens", nil, nil, &tokens); err != nil {
		t.Fatal(err)
	}
	if len(tokens) != 1 || tokens[0].Name != "brief" || tokens[0].ExpiresAt == nil || tokens[0].LastUsedAt == nil {
		t.Errorf("tokens ls: %+v, want brief alone, used, with its expiry", tokens)
	}
	for _, bad := range []api.NewTokenRequest{{Name: "admin", Role: api.RoleAdmin}, {Name: "brief", Role: api.RoleViewer}, {Name: "x y", Role: api.RoleViewer},
		{Name: "v", Role: "root"}, {Name: "v", Role: api.RoleViewer, Params: []string{"/x/*"}}} {
		if err := apiclient.New(base, admin).Do(ctx, http.MethodPost, "/v1/tokens", nil, bad, nil); err == nil {
			t.Errorf("created %+v", bad)
		}
	}
}

// The audit log holds deploys, reads of parameters by name (by the API
// and by a run's key) and refusals, never a value; on both engines.
func TestAuditLogRecordsWhoDidWhat(t *testing.T) {
	onEngines(t, func(t *testing.T, base, admin string, _ func(string) bool) {
		ctx := context.Background()
		const value = "audit-secret-value-9f8e7d"
		apiPut(t, base, admin, "/prod/app/DB", value)
		deployer := makeToken(t, base, admin, api.NewTokenRequest{Name: "dee", Role: api.RoleDeployer, Params: []string{"/prod/app/*"}})
		run, err := deployAs(ctx, base, deployer, "project: app\nenv:\n  vars:\n    DB: SSM:/prod/app/DB\n", nil)
		if err != nil {
			t.Fatal(err)
		}
		_ = apiclient.New(base, deployer).Do(ctx, http.MethodGet, "/v1/params", nil, nil, nil)
		runToken := leaseRun(t, base, admin, run.ID)
		var creds api.Credentials
		if err := apiclient.New(base, runToken).Do(ctx, http.MethodPost, "/v1/credentials", nil, api.CredentialsRequest{}, &creds); err != nil {
			t.Fatal(err)
		}
		c := ssm.NewFromConfig(aws.Config{Region: creds.Region, Credentials: credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, "")},
			func(o *ssm.Options) { o.BaseEndpoint = aws.String(base) })
		if _, err := c.GetParameters(ctx, &ssm.GetParametersInput{Names: []string{"/prod/app/DB"}, WithDecryption: aws.Bool(true)}); err != nil {
			t.Fatal(err)
		}
		resp, err := http.NewRequest(http.MethodGet, base+"/v1/audit?limit=1000", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Header.Set("Authorization", "Bearer "+admin)
		answer, err := http.DefaultClient.Do(resp)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(answer.Body)
		answer.Body.Close()
		if strings.Contains(string(raw), value) {
			t.Fatal("the audit log holds a secret's value")
		}
		var entries []api.AuditEntry
		if err := json.Unmarshal(raw, &entries); err != nil {
			t.Fatal(err)
		}
		want := []struct{ actor, action, target, outcome, detail string }{
			{"admin", "param.put", "/prod/app/DB", api.OutcomeOK, "version 1"},
			{"admin", "token.create", "dee", api.OutcomeOK, "role=deployer params=/prod/app/*"},
			{"dee", "deploy", "app", api.OutcomeOK, "run " + run.ID},
			{"dee", "GET /v1/params", "", api.OutcomeRefused, "may not read and write the parameter store"},
			{"run:" + run.ID, "credentials", run.ID, api.OutcomeOK, "parameters [/prod/app/DB]"},
			{"run:" + run.ID, "ssm:GetParameters", "/prod/app/DB", api.OutcomeOK, "read"},
		}
		for _, w := range want {
			found := slices.ContainsFunc(entries, func(e api.AuditEntry) bool {
				return e.Actor == w.actor && e.Action == w.action && e.Target == w.target && e.Outcome == w.outcome && strings.Contains(e.Detail, w.detail)
			})
			if !found {
				t.Errorf("no entry %+v in %+v", w, entries)
			}
		}
		for i := 1; i < len(entries); i++ {
			if entries[i].Seq <= entries[i-1].Seq {
				t.Fatalf("entries out of order: %+v", entries)
			}
		}
	})
}
