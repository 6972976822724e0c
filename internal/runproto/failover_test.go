package runproto

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A runner's requests move to the next address of its server when the
// first stops answering, bodies included, and stay there.
func TestFailoverMovesToTheNextServer(t *testing.T) {
	var hits [2][]string
	servers := make([]*httptest.Server, 2)
	for i := range servers {
		servers[i] = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			hits[i] = append(hits[i], r.Method+" "+r.URL.Path+" "+string(body))
		}))
		defer servers[i].Close()
	}
	f, err := newFailover(http.DefaultTransport, []string{servers[0].URL, servers[1].URL})
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: f}
	post := func(body string) {
		t.Helper()
		resp, err := client.Post(servers[0].URL+"/v1/runs/r1/events", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	post("one")
	servers[0].Close()
	post("two")
	post("three")
	if got := strings.Join(hits[0], "|"); got != "POST /v1/runs/r1/events one" {
		t.Errorf("first server got %q", got)
	}
	if got := strings.Join(hits[1], "|"); got != "POST /v1/runs/r1/events two|POST /v1/runs/r1/events three" {
		t.Errorf("second server got %q", got)
	}
	// AWS-signed requests name their host in the signature: they stay.
	req, _ := http.NewRequest(http.MethodPost, servers[0].URL+"/", strings.NewReader("{}"))
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=…")
	if _, err := client.Do(req); err == nil {
		t.Error("a signed request was moved to another server")
	}
}

func TestServers(t *testing.T) {
	got := Servers(" http://a:7070/, http://b:7070,,")
	if strings.Join(got, " ") != "http://a:7070 http://b:7070" {
		t.Fatalf("%q", got)
	}
}
