package server_test

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/apiclient"
	"github.com/jetway-dev/jetway/internal/hosts"
	"github.com/jetway-dev/jetway/internal/runproto"
	"github.com/jetway-dev/jetway/internal/server"
	"github.com/jetway-dev/jetway/internal/server/servertest"
)

// startQuietServer starts a server that never checks its hosts: their
// state is what the test makes it.
func startQuietServer(t *testing.T, opts server.Options) (base, token string) {
	t.Helper()
	opts.DataDir = filepath.Join(t.TempDir(), "data")
	opts.HostCheckInterval = -1
	return servertest.Start(t, opts)
}

func sshHost(name, pool string) api.DockerHost {
	return api.DockerHost{Name: name, URL: "ssh://builder@" + name + ".internal", Pool: pool,
		SSHKey: "SSM:/hosts/" + name + "/key", KnownHosts: "SSM:/hosts/known_hosts"}
}

func addHost(t *testing.T, c *apiclient.Client, h api.DockerHost) api.DockerHost {
	t.Helper()
	var got api.DockerHost
	if err := c.Do(context.Background(), http.MethodPost, "/v1/hosts", nil, h, &got); err != nil {
		t.Fatalf("adding %s: %v", h.Name, err)
	}
	return got
}

func listHosts(t *testing.T, c *apiclient.Client) map[string]api.DockerHost {
	t.Helper()
	var list []api.DockerHost
	if err := c.Do(context.Background(), http.MethodGet, "/v1/hosts", nil, nil, &list); err != nil {
		t.Fatal(err)
	}
	out := map[string]api.DockerHost{}
	for _, h := range list {
		out[h.Name] = h
	}
	return out
}

// queuePoolRun queues a run of project on pool, building dockerfile.
func queuePoolRun(t *testing.T, base, token, project, pool, dockerfile string) api.Run {
	t.Helper()
	ctx := context.Background()
	c := apiclient.New(base, token)
	var bundle struct{ ID string }
	if err := c.Do(ctx, http.MethodPost, "/v1/bundles", nil, api.Manifest{Files: []api.File{}}, &bundle); err != nil {
		t.Fatal(err)
	}
	file := "project: " + project + "\ndocker_host: {pool: " + pool + "}\nimage: {name: registry.internal/" + project + ", dockerfile: " + dockerfile + "}\nphases: {build: [make]}\n"
	var run api.Run
	if err := c.Do(ctx, http.MethodPost, "/v1/runs", nil, api.NewRunRequest{ProjectFile: file, Bundle: bundle.ID}, &run); err != nil {
		t.Fatal(err)
	}
	return run
}

// finish ends a run with summary, as its runner does.
func finish(t *testing.T, base, runID, runToken string, summary api.Summary) {
	t.Helper()
	summary.RunID = runID
	if summary.Status == "" {
		summary.Status = api.StatusSucceeded
	}
	end := []api.Event{{Seq: 1, Type: "summary", Time: time.Now(), Summary: &summary}}
	if err := apiclient.New(base, runToken).Do(context.Background(), http.MethodPost, "/v1/runs/"+runID+"/events", nil, end, nil); err != nil {
		t.Fatal(err)
	}
}

func candidateNames(a *api.AssignedHost) []string {
	var out []string
	for _, c := range a.Candidates {
		out = append(out, c.Name)
	}
	return out
}

// The API token adds, reads, lists, changes, drains and removes hosts;
// what it sends is checked, and a refusal changes nothing.
func TestHostsAPI(t *testing.T) {
	base, token := startQuietServer(t, server.Options{})
	ctx := context.Background()
	c := apiclient.New(base, token)
	if got := listHosts(t, c); len(got) != 0 {
		t.Fatalf("no hosts: %+v", got)
	}
	want := sshHost("b1", "warm")
	want.MaxBuilds = 2
	want.GC = api.GCPolicy{MaxUsed: 300 << 20, MinFreePercent: 10, KeepImages: 4}
	b1 := addHost(t, c, want)
	if b1.URL != want.URL || b1.SSHKey != want.SSHKey || b1.GC != want.GC || b1.MaxBuilds != 2 || b1.CreatedAt.IsZero() || b1.State == nil || !b1.State.CheckedAt.IsZero() {
		t.Fatalf("added %+v", b1)
	}
	err := c.Do(ctx, http.MethodPost, "/v1/hosts", nil, sshHost("b1", "other"), nil)
	if statusOf(err) != http.StatusConflict || !strings.Contains(err.Error(), "jetway hosts set b1") {
		t.Fatalf("adding b1 again: %v", err)
	}
	tlsHost := api.DockerHost{Name: "t1", URL: "tcp://t1.internal:2376", Pool: "warm", TLSCA: "SSM:/tls/ca", TLSCert: "SSM:/tls/cert", TLSKey: "SECRET:tls:key"}
	for _, bad := range []struct {
		name string
		host api.DockerHost
		want string
	}{
		{"a name with capitals", api.DockerHost{Name: "B_1", URL: "ssh://b@h", Pool: "p"}, `host name "B_1": use lower-case letters, digits and -`},
		{"no pool", api.DockerHost{Name: "b9", URL: "ssh://b@h", SSHKey: "SSM:/k", KnownHosts: "SSM:/k"}, `pool "": name it with letters`},
		{"no URL", api.DockerHost{Name: "b9", Pool: "p"}, "give its URL"},
		{"a URL without a scheme", api.DockerHost{Name: "b9", URL: "b9.internal", Pool: "p"}, "missing scheme"},
		{"a plain key", func() api.DockerHost {
			h := sshHost("b9", "p")
			h.SSHKey = "-----BEGIN OPENSSH PRIVATE KEY-----"
			return h
		}(),
			"--ssh-key is not a reference: the server stores references, never values"},
		{"a bad reference", func() api.DockerHost { h := sshHost("b9", "p"); h.KnownHosts = "SSM:/a//b"; return h }(), "--known-hosts: reference"},
		{"ssh without a user", func() api.DockerHost { h := sshHost("b9", "p"); h.URL = "ssh://b9.internal"; return h }(), "names no SSH user"},
		{"ssh without known hosts", func() api.DockerHost { h := sshHost("b9", "p"); h.KnownHosts = ""; return h }(), "needs --ssh-key and --known-hosts"},
		{"TLS files on ssh", func() api.DockerHost { h := sshHost("b9", "p"); h.TLSCA = "SSM:/ca"; return h }(), "TLS files are for tcp:// hosts"},
		{"half the TLS files", func() api.DockerHost { h := tlsHost; h.Name = "t9"; h.TLSKey = ""; return h }(), "all of --tls-ca, --tls-cert and --tls-key, or none"},
		{"a key on tcp", func() api.DockerHost { h := tlsHost; h.Name = "t9"; h.SSHKey = "SSM:/k"; return h }(), "are for ssh:// hosts"},
		{"this machine's daemon", api.DockerHost{Name: "l1", URL: "unix:///var/run/docker.sock", Pool: "p"}, "--allow-local-docker"},
		{"negative max builds", func() api.DockerHost { h := sshHost("b9", "p"); h.MaxBuilds = -1; return h }(), "--max-builds -1"},
		{"a negative size", func() api.DockerHost { h := sshHost("b9", "p"); h.GC.MaxUsed = -1; return h }(), "GC sizes are bytes"},
		{"100% free", func() api.DockerHost { h := sshHost("b9", "p"); h.GC.MinFreePercent = 100; return h }(), "--gc-min-free 100%"},
	} {
		err := c.Do(ctx, http.MethodPost, "/v1/hosts", nil, bad.host, nil)
		if statusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v, want a 400 saying %q", bad.name, err, bad.want)
		}
	}
	addHost(t, c, tlsHost)
	if got := listHosts(t, c); len(got) != 2 || got["t1"].TLSKey != "SECRET:tls:key" {
		t.Fatalf("after the refusals: %+v", got)
	}
	// Put replaces the settings; draining has its own route.
	var put api.DockerHost
	changed := sshHost("b1", "cold")
	if err := c.Do(ctx, http.MethodPut, "/v1/hosts/b1", nil, changed, &put); err != nil || put.Pool != "cold" || put.MaxBuilds != 0 || put.GC != (api.GCPolicy{}) || !put.CreatedAt.Equal(b1.CreatedAt) {
		t.Fatalf("put: %+v %v", put, err)
	}
	if err := c.Do(ctx, http.MethodPut, "/v1/hosts/b1", nil, sshHost("b2", "cold"), nil); statusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), `the body names host "b2", the path "b1"`) {
		t.Fatalf("put another name: %v", err)
	}
	if err := c.Do(ctx, http.MethodPut, "/v1/hosts/nope", nil, sshHost("nope", "cold"), nil); statusOf(err) != http.StatusNotFound {
		t.Fatalf("put an unknown host: %v", err)
	}
	var drained api.DockerHost
	if err := c.Do(ctx, http.MethodPost, "/v1/hosts/b1/drain", nil, nil, &drained); err != nil || !drained.Draining {
		t.Fatalf("drain: %+v %v", drained, err)
	}
	if err := c.Do(ctx, http.MethodPut, "/v1/hosts/b1", nil, changed, &put); err != nil || !put.Draining {
		t.Fatalf("put undrained a host: %+v %v", put, err)
	}
	var undrained api.DockerHost // draining is omitted when false
	if err := c.Do(ctx, http.MethodPost, "/v1/hosts/b1/drain?undo=1", nil, nil, &undrained); err != nil || undrained.Draining {
		t.Fatalf("undrain: %+v %v", undrained, err)
	}
	var got api.DockerHost
	if err := c.Do(ctx, http.MethodGet, "/v1/hosts/b1", nil, nil, &got); err != nil || got.Pool != "cold" || got.Draining {
		t.Fatalf("get: %+v %v", got, err)
	}
	if err := c.Do(ctx, http.MethodDelete, "/v1/hosts/b1", nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	for _, call := range []struct{ method, path string }{
		{http.MethodGet, "/v1/hosts/b1"}, {http.MethodDelete, "/v1/hosts/b1"}, {http.MethodPost, "/v1/hosts/b1/drain"}, {http.MethodPost, "/v1/hosts/b1/gc"},
	} {
		if err := c.Do(ctx, call.method, call.path, nil, nil, nil); statusOf(err) != http.StatusNotFound || !strings.Contains(err.Error(), "jetway hosts ls") {
			t.Errorf("%s %s after delete: %v", call.method, call.path, err)
		}
	}
	if got := listHosts(t, c); len(got) != 1 {
		t.Fatalf("after delete: %+v", got)
	}
	// A server started with --allow-local-docker takes a local socket.
	local, localToken := startQuietServer(t, server.Options{AllowLocalDocker: true})
	addHost(t, apiclient.New(local, localToken), api.DockerHost{Name: "l1", URL: "unix:///var/run/docker.sock", Pool: "p"})
}

// A run of a pool gets its hosts in the order of its key's ranking when
// its runner fetches its spec: its home first, hosts that cannot take it
// passed over with the reason, last resorts when none can. The run
// records the choice, its builds count on its host, and its summary's
// host and GC are recorded.
func TestRunSpecChoosesADockerHost(t *testing.T) {
	base, token := startQuietServer(t, server.Options{})
	ctx := context.Background()
	c := apiclient.New(base, token)
	var pool []api.DockerHost
	for _, name := range []string{"b1", "b2", "b3"} {
		h := sshHost(name, "warm")
		h.MaxBuilds = 1
		pool = append(pool, addHost(t, c, h))
	}
	addHost(t, c, sshHost("c1", "cold"))
	ranked := hosts.Rank(hosts.Key("web", "docker/web.Dockerfile"), pool)
	home, second, third := ranked[0].Name, ranked[1].Name, ranked[2].Name

	spec := func(project, pool string) (api.Run, string, api.RunSpec) {
		t.Helper()
		run := queuePoolRun(t, base, token, project, pool, "docker/web.Dockerfile")
		runToken := leaseRun(t, base, token, run.ID)
		spec, err := runproto.NewRunClient(base, run.ID, runToken, "").Spec(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return run, runToken, spec
	}
	run, runToken, got := spec("web", "warm")
	a := got.DockerHost
	if a == nil || a.Pool != "warm" || !slices.Equal(candidateNames(a), []string{home, second, third}) || !a.Candidates[0].Home || a.Candidates[1].Home || len(a.Skipped) != 0 {
		t.Fatalf("the first run's host: %+v, want %s, %s, %s", a, home, second, third)
	}
	if c0 := a.Candidates[0]; c0.URL != "ssh://builder@"+home+".internal" || c0.SSHKey != "SSM:/hosts/"+home+"/key" || c0.KnownHosts != "SSM:/hosts/known_hosts" {
		t.Fatalf("what the runner needs of %s: %+v", home, c0)
	}
	// The run builds on its home now: another project whose home it is
	// too goes to its next host (max builds 1), and the home shows it.
	hs := listHosts(t, c)
	if hs[home].State.Builds != 1 || hs[second].State.Builds != 0 || hs[home].State.Home != 1 || !slices.Equal(hs[home].State.HomeProjects, []string{"web"}) {
		t.Fatalf("the home while the run builds: %+v", hs[home].State)
	}
	other := ""
	for i := range 100 {
		p := "app" + string(rune('a'+i%26)) + strings.Repeat("x", i/26)
		if hosts.Rank(hosts.Key(p, "docker/web.Dockerfile"), pool)[0].Name == home {
			other = p
			break
		}
	}
	run2, run2Token, got2 := spec(other, "warm")
	if a2 := got2.DockerHost; a2 == nil || a2.Candidates[0].Name == home || len(a2.Skipped) != 1 || a2.Skipped[0].Name != home || a2.Skipped[0].Reason != "at its max builds (1)" {
		t.Fatalf("a second project at home on %s: %+v", home, a2)
	}
	// A summary naming a host the run was not given is not believed.
	finish(t, base, run2.ID, run2Token, api.Summary{DockerHostName: "c1", GC: []api.GCReport{{At: time.Now(), Reason: "after the run", ImagesFreed: 1}}})
	if h := listHosts(t, c)["c1"]; h.State.LastGC != nil {
		t.Fatalf("c1 took a GC from a run that was not given it: %+v", h.State.LastGC)
	}
	// The first run failed over to its second host: its summary says so,
	// and its GC reports become that host's last.
	gcAt := time.Now().UTC().Truncate(time.Millisecond)
	finish(t, base, run.ID, runToken, api.Summary{DockerHostName: second, DockerHostChoice: hosts.Describe(second, []api.SkippedHost{{Name: home, Reason: "connection refused"}}),
		GC: []api.GCReport{{At: gcAt.Add(-time.Minute), Reason: "before the build"}, {At: gcAt, Reason: "after the run", ImagesFreed: 60 << 20, UsedAfter: 200 << 20}, {At: gcAt.Add(time.Minute), DryRun: true}}})
	hs = listHosts(t, c)
	if g := hs[second].State.LastGC; g == nil || !g.At.Equal(gcAt) || g.Reason != "after the run" || g.ImagesFreed != 60<<20 {
		t.Fatalf("%s's last GC: %+v", second, g)
	}
	if hs[home].State.Builds != 0 || hs[second].State.Builds != 0 {
		t.Fatalf("builds after both runs ended: %s %d, %s %d", home, hs[home].State.Builds, second, hs[second].State.Builds)
	}
	if r := getRun(t, c, run.ID); r.Summary == nil || r.Summary.DockerHostChoice != second+" ("+home+": connection refused)" {
		t.Fatalf("the run's summary: %+v", r.Summary)
	}
	// A draining home and a host found down are passed over with the
	// reason; the project goes home again when they are back.
	if err := c.Do(ctx, http.MethodPost, "/v1/hosts/"+home+"/drain", nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	run3, run3Token, got3 := spec("web", "warm")
	if a3 := got3.DockerHost; a3.Candidates[0].Name != second || a3.Candidates[0].Home || a3.Skipped[0] != (api.SkippedHost{Name: home, Reason: "draining"}) {
		t.Fatalf("a draining home: %+v", a3)
	}
	finish(t, base, run3.ID, run3Token, api.Summary{})
	if err := c.Do(ctx, http.MethodPost, "/v1/hosts/"+home+"/drain?undo=1", nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	run4, run4Token, got4 := spec("web", "warm")
	if a4 := got4.DockerHost; a4.Candidates[0].Name != home || !a4.Candidates[0].Home {
		t.Fatalf("back home: %+v", a4)
	}
	finish(t, base, run4.ID, run4Token, api.Summary{})
	// A pool without hosts: no candidate, and the runner says so.
	run5, run5Token, got5 := spec("web", "empty")
	if a5 := got5.DockerHost; a5 == nil || a5.Pool != "empty" || a5.Candidates == nil || len(a5.Candidates) != 0 {
		t.Fatalf("an empty pool: %+v", a5)
	}
	finish(t, base, run5.ID, run5Token, api.Summary{})
	// A project that names its own DOCKER_HOST gets none.
	plain := queueRun(t, base, token, "plain")
	plainSpec, err := runproto.NewRunClient(base, plain.ID, leaseRun(t, base, token, plain.ID), "").Spec(ctx)
	if err != nil || plainSpec.DockerHost != nil {
		t.Fatalf("a project outside pools: %+v %v", plainSpec.DockerHost, err)
	}
}

// A run's token reads the credentials of the hosts it was handed, and
// no other host's: not those of its pool's hosts it was not given, nor
// another pool's.
func TestRunTokenReadsItsHostsCredentials(t *testing.T) {
	base, token := startQuietServer(t, server.Options{})
	ctx := context.Background()
	c := apiclient.New(base, token)
	for _, p := range []api.PutParamRequest{
		{Name: "/hosts/b1/key", Type: "SecureString", Value: "key of b1"},
		{Name: "/hosts/b2/key", Type: "SecureString", Value: "key of b2"},
		{Name: "/hosts/c1/key", Type: "SecureString", Value: "key of c1"},
		{Name: "/hosts/known_hosts", Type: "String", Value: "b1 ssh-ed25519 AAAA"},
		{Name: "/dev/OTHER", Type: "SecureString", Value: "not the run's"},
	} {
		if err := c.Do(ctx, http.MethodPost, "/v1/params", nil, p, nil); err != nil {
			t.Fatal(err)
		}
	}
	addHost(t, c, sshHost("b1", "warm"))
	b2 := sshHost("b2", "warm")
	addHost(t, c, b2)
	if err := c.Do(ctx, http.MethodPost, "/v1/hosts/b2/drain", nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	addHost(t, c, sshHost("c1", "cold"))
	addHost(t, c, api.DockerHost{Name: "t1", URL: "tcp://t1.internal:2376", Pool: "warm", TLSCA: "SSM:/tls/ca", TLSCert: "SSM:/tls/cert", TLSKey: "SECRET:tls:key"})
	run := queuePoolRun(t, base, token, "web", "warm", "Dockerfile")
	runToken := leaseRun(t, base, token, run.ID)
	spec, err := runproto.NewRunClient(base, run.ID, runToken, "").Spec(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if names := candidateNames(spec.DockerHost); len(names) != 2 || !slices.Contains(names, "b1") || !slices.Contains(names, "t1") {
		t.Fatalf("candidates %q, want b1 and t1 (b2 drains)", names)
	}
	var creds api.Credentials
	if err := apiclient.New(base, runToken).Do(ctx, http.MethodPost, "/v1/credentials", nil, api.CredentialsRequest{Parameters: []string{"/hosts/b2/key", "/hosts/c1/key"}}, &creds); err != nil {
		t.Fatal(err)
	}
	cfg := aws.Config{Region: creds.Region, Credentials: credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, "")}
	ssmc := ssm.NewFromConfig(cfg, func(o *ssm.Options) { o.BaseEndpoint = aws.String(base) })
	read := func(name string) (string, error) {
		out, err := ssmc.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(true)})
		if err != nil {
			return "", err
		}
		return aws.ToString(out.Parameter.Value), nil
	}
	if v, err := read("/hosts/b1/key"); err != nil || v != "key of b1" {
		t.Fatalf("b1's key: %q %v", v, err)
	}
	if v, err := read("/hosts/known_hosts"); err != nil || v != "b1 ssh-ed25519 AAAA" {
		t.Fatalf("known hosts: %q %v", v, err)
	}
	// The run asked for more; it gets its references only.
	for _, name := range []string{"/hosts/b2/key", "/hosts/c1/key", "/dev/OTHER"} {
		_, err := read(name)
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDeniedException" {
			t.Errorf("%s: %v, want AccessDeniedException", name, err)
		}
	}
	// t1's key is a secret: it is in the run's scope (read denied would
	// say AccessDenied; not found says the scope let it through).
	smc := secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.BaseEndpoint = aws.String(base) })
	_, err = smc.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("tls")})
	var nf interface{ ErrorCode() string }
	if !errors.As(err, &nf) || nf.ErrorCode() != "ResourceNotFoundException" {
		t.Fatalf("t1's TLS key secret: %v, want ResourceNotFoundException", err)
	}
	_, err = smc.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("other")})
	if !errors.As(err, &nf) || nf.ErrorCode() != "AccessDeniedException" {
		t.Fatalf("a secret no host names: %v, want AccessDeniedException", err)
	}
}

// Attack: a phase holds its run's token (the runner's) or steals its
// agent's, and points its pool at a host of its own, or drains the
// others, or reads the hosts' references. Every host route is the API
// token's: both are refused, and nothing changes.
func TestAttackRunTokenChangesDockerHosts(t *testing.T) {
	base, token := startQuietServer(t, server.Options{})
	ctx := context.Background()
	c := apiclient.New(base, token)
	addHost(t, c, sshHost("b1", "warm"))
	run := queuePoolRun(t, base, token, "victim", "warm", "Dockerfile")
	runToken := leaseRun(t, base, token, run.ID)
	var agentToken api.NewAgentResponse
	if err := c.Do(ctx, http.MethodPost, "/v1/agents", nil, api.NewAgentRequest{Name: "thief"}, &agentToken); err != nil {
		t.Fatal(err)
	}
	evil := api.DockerHost{Name: "evil", URL: "ssh://me@attacker.example", Pool: "warm", SSHKey: "SSM:/hosts/b1/key", KnownHosts: "SSM:/mine"}
	for who, stolen := range map[string]string{"run token": runToken, "agent token": agentToken.Token} {
		tc := apiclient.New(base, stolen)
		for _, call := range []struct {
			method, path string
			body         any
		}{
			{http.MethodPost, "/v1/hosts", evil},
			{http.MethodPut, "/v1/hosts/b1", func() api.DockerHost { h := evil; h.Name = "b1"; return h }()},
			{http.MethodPost, "/v1/hosts/b1/drain", nil},
			{http.MethodPost, "/v1/hosts/b1/gc", nil},
			{http.MethodDelete, "/v1/hosts/b1", nil},
			{http.MethodGet, "/v1/hosts/b1", nil},
			{http.MethodGet, "/v1/hosts", nil},
		} {
			if err := tc.Do(ctx, call.method, call.path, nil, call.body, nil); statusOf(err) != http.StatusUnauthorized {
				t.Errorf("%s: %s %s: %v, want 401", who, call.method, call.path, err)
			}
		}
	}
	hs := listHosts(t, c)
	if len(hs) != 1 || hs["b1"].URL != "ssh://builder@b1.internal" || hs["b1"].Draining {
		t.Fatalf("the hosts after the attempts: %+v", hs)
	}
	// The run token still gets its spec, with the operator's host.
	spec, err := runproto.NewRunClient(base, run.ID, runToken, "").Spec(ctx)
	if err != nil || !slices.Equal(candidateNames(spec.DockerHost), []string{"b1"}) || spec.DockerHost.Candidates[0].URL != "ssh://builder@b1.internal" {
		t.Fatalf("the run's spec after the attempts: %+v %v", spec.DockerHost, err)
	}
}

// A host an operator gives to some projects (--projects) is no other
// project's to choose: a run of another project naming its pool is handed
// none of its hosts — nor their credentials — and is told why.
func TestHostsOpenToSomeProjectsOnly(t *testing.T) {
	base, token := startQuietServer(t, server.Options{})
	ctx := context.Background()
	c := apiclient.New(base, token)
	for _, p := range []api.PutParamRequest{
		{Name: "/hosts/t1/key", Type: "SecureString", Value: "key of t1"},
		{Name: "/hosts/known_hosts", Type: "String", Value: "t1 ssh-ed25519 AAAA"},
	} {
		if err := c.Do(ctx, http.MethodPost, "/v1/params", nil, p, nil); err != nil {
			t.Fatal(err)
		}
	}
	t1 := sshHost("t1", "team")
	t1.Projects = []string{"team-*"}
	if got := addHost(t, c, t1); !slices.Equal(got.Projects, []string{"team-*"}) {
		t.Fatalf("stored %+v", got.Projects)
	}
	bad := sshHost("t2", "team")
	bad.Projects = []string{" "}
	if err := c.Do(ctx, http.MethodPost, "/v1/hosts", nil, bad, nil); err == nil {
		t.Error("an empty glob was taken")
	}
	spec := func(project string) (string, api.RunSpec) {
		t.Helper()
		run := queuePoolRun(t, base, token, project, "team", "Dockerfile")
		runToken := leaseRun(t, base, token, run.ID)
		spec, err := runproto.NewRunClient(base, run.ID, runToken, "").Spec(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return runToken, spec
	}
	_, own := spec("team-web")
	if a := own.DockerHost; a == nil || !slices.Equal(candidateNames(a), []string{"t1"}) {
		t.Fatalf("the team's run: %+v", a)
	}
	outsiderToken, outsider := spec("intruder")
	a := outsider.DockerHost
	if a == nil || len(a.Candidates) != 0 || len(a.Skipped) != 1 || a.Skipped[0].Reason != "not open to project intruder (its projects: team-*)" {
		t.Fatalf("another project's run: %+v", a)
	}
	var creds api.Credentials
	if err := apiclient.New(base, outsiderToken).Do(ctx, http.MethodPost, "/v1/credentials", nil, api.CredentialsRequest{}, &creds); err != nil {
		t.Fatal(err)
	}
	sc := ssm.NewFromConfig(aws.Config{Region: creds.Region, Credentials: credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, "")},
		func(o *ssm.Options) { o.BaseEndpoint = aws.String(base) })
	if _, err := sc.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/hosts/t1/key"), WithDecryption: aws.Bool(true)}); err == nil {
		t.Error("another project's run reads the key of a host it was not given")
	}
	// Open to all again.
	t1.Projects = nil
	if err := c.Do(ctx, http.MethodPut, "/v1/hosts/t1", nil, t1, nil); err != nil {
		t.Fatal(err)
	}
	if _, again := spec("intruder2"); again.DockerHost == nil || !slices.Equal(candidateNames(again.DockerHost), []string{"t1"}) {
		t.Fatalf("after opening t1 to all: %+v", again.DockerHost)
	}
}
