package build

import (
	"bytes"
	"strings"
	"testing"
	"time"

	controlapi "github.com/moby/buildkit/api/services/control"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The cache import of image.cache_from fails on the first build of an
// image (nothing pushed yet) and BuildKit goes on: the log says so
// instead of ERROR. A plain-HTTP registry gets what to do.
func TestStatusReportCacheImport(t *testing.T) {
	const plain = `failed to do request: Head "https://10.0.0.1:5000/v2/app/manifests/latest": http: server gave HTTP response to HTTPS client`
	for _, tc := range []struct {
		name, err string
		want      []string
		not       []string
	}{
		{"importing cache manifest from reg:5000/app:latest", "reg:5000/app:latest: not found",
			[]string{"nothing imported (reg:5000/app:latest: not found); building without it"}, []string{"ERROR", "insecure-registries"}},
		{"importing cache manifest from reg:5000/app:latest", plain,
			[]string{"nothing imported", `"http://HOST:PORT"`}, []string{"ERROR"}},
		{"[internal] load metadata for 10.0.0.1:5000/base:latest", plain,
			[]string{"ERROR: " + plain, `"insecure-registries": ["http://HOST:PORT"]`}, nil},
		{"[2/3] RUN false", "exit code: 1",
			[]string{"#1 [2/3] RUN false ERROR: exit code: 1"}, []string{"insecure-registries"}},
	} {
		var log bytes.Buffer
		r := newStatusReport(&log, nil)
		now := timestamppb.New(time.Now())
		r.update(&controlapi.StatusResponse{Vertexes: []*controlapi.Vertex{{Digest: "sha256:1", Name: tc.name, Started: now, Completed: now, Error: tc.err}}})
		for _, w := range tc.want {
			if !strings.Contains(log.String(), w) {
				t.Errorf("%s: log %q lacks %q", tc.name, log.String(), w)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(log.String(), n) {
				t.Errorf("%s: log %q holds %q", tc.name, log.String(), n)
			}
		}
	}
}
