package apiclient

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/bundle"
)

// BundlesService uploads a deploy's source: the server keeps contents by
// their sha256, so a deploy sends only those it lacks (Upload), then the
// manifest naming them (Create).
type BundlesService struct{ c *Client }

// Missing returns which of the hashes the server has no blob of.
func (s BundlesService) Missing(ctx context.Context, hashes []string) ([]string, error) {
	var out api.MissingResponse
	err := s.c.call(ctx, api.RouteMissingBlobs, api.BundlesMissingPath, nil, api.MissingRequest{Hashes: hashes}, &out)
	return out.Missing, err
}

// PutBlob stores one content under its sha256 hash: body is the content
// zstd-compressed, size its length uncompressed, which bounds the server's
// decompression (a zstd bomb stops there). It returns the compressed bytes
// sent.
func (s BundlesService) PutBlob(ctx context.Context, hash string, size int64, body io.Reader) (int64, error) {
	counted := &countReader{r: body}
	q := url.Values{"size": {strconv.FormatInt(size, 10)}}
	resp, err := s.c.stream(ctx, api.RoutePutBlob, api.BlobPath(hash), q, counted, http.Header{"Content-Type": {"application/zstd"}})
	if err != nil {
		return counted.n.Load(), err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return counted.n.Load(), resp.Body.Close()
}

// Create records a bundle whose blobs the server has, and returns its id
// (for api.NewRunRequest.Bundle).
func (s BundlesService) Create(ctx context.Context, m api.Manifest) (string, error) {
	var out struct {
		ID string `json:"id"`
	}
	err := s.c.call(ctx, api.RouteCreateBundle, api.BundlesPath, nil, m, &out)
	return out.ID, err
}

// UploadOptions tune Upload.
type UploadOptions struct {
	// Progress, when set, is told the bytes (uncompressed) the server
	// lacks, first with done 0, then after each blob it has stored.
	Progress func(done, need int64)
}

// Uploaded is what Upload sent.
type Uploaded struct {
	Blobs int   // contents the server lacked
	Need  int64 // their size, uncompressed
	Sent  int64 // the bytes sent for them, compressed
	Total int64 // the size of every content of the bundle
}

// Upload sends the contents of manifest m that the server lacks,
// zstd-compressed, one at a time, reading each from paths (by hash, as
// bundle.Scan returns them). Create then records the bundle.
func (s BundlesService) Upload(ctx context.Context, m api.Manifest, paths map[string]string, opts UploadOptions) (Uploaded, error) {
	var up Uploaded
	sizes := map[string]int64{}
	for _, f := range m.Files {
		if f.SHA256 != "" {
			sizes[f.SHA256] = f.Size
			up.Total += f.Size
		}
	}
	missing, err := s.Missing(ctx, bundle.Hashes(m))
	if err != nil {
		return up, err
	}
	up.Blobs = len(missing)
	for _, h := range missing {
		up.Need += sizes[h]
	}
	var done int64
	if opts.Progress != nil {
		opts.Progress(0, up.Need)
	}
	for _, h := range missing {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(bundle.Compress(pw, paths[h])) }()
		n, err := s.PutBlob(ctx, h, sizes[h], pr)
		pr.Close()
		up.Sent += n
		if err != nil {
			return up, err
		}
		done += sizes[h]
		if opts.Progress != nil {
			opts.Progress(done, up.Need)
		}
	}
	return up, nil
}

// countReader counts what the transport reads, which it may still do
// while the answer is read (a server may answer before the body's end).
type countReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
