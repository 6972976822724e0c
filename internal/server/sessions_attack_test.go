package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/jetway-dev/jetway/internal/server"
	"github.com/jetway-dev/jetway/internal/server/servertest"
	"github.com/jetway-dev/jetway/internal/sqldb"
)

var csrfInput = regexp.MustCompile(`name="csrf" value="([0-9a-f]{64})"`)

// A reader of the database finds no session's CSRF token in it: it is
// derived from the session's ID, which only the browser holds. Every
// replica derives the same, so a page of one replica posts to another.
func TestAttackSessionsKeepNoCSRF(t *testing.T) {
	ctx := context.Background()
	dbURL := server.SharedPG(t)
	dirA, dirB := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	a, token := servertest.Start(t, server.Options{DataDir: dirA}, servertest.WithDatabase(dbURL))
	if err := os.MkdirAll(dirB, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"token", "master.key"} {
		data, err := os.ReadFile(filepath.Join(dirA, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dirB, f), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := servertest.Start(t, server.Options{DataDir: dirB}, servertest.WithDatabase(dbURL))
	noRedirects := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirects.PostForm(a+"/login", url.Values{"token": {token}, "next": {"/"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(resp.Cookies()) != 1 {
		t.Fatalf("sign in: %d %v", resp.StatusCode, resp.Cookies())
	}
	cookie := resp.Cookies()[0]
	req, _ := http.NewRequest(http.MethodGet, a+"/", nil)
	req.AddCookie(cookie)
	resp, err = noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfInput.FindSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token in the page: %d\n%s", resp.StatusCode, page)
	}
	csrf := string(m[1])

	db, err := sqldb.OpenPostgres(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT * FROM sessions`)
	if err != nil {
		t.Fatal(err)
	}
	cols, _ := rows.Columns()
	n := 0
	for rows.Next() {
		n++
		values := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range values {
			ptrs[i] = &values[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, v := range values {
			if strings.Contains(fmt.Sprintf("%s", v), csrf) {
				t.Errorf("sessions.%s holds the session's CSRF token", cols[i])
			}
		}
	}
	rows.Close()
	if n != 1 {
		t.Fatalf("%d sessions stored", n)
	}

	logout := func(csrf string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, b+"/logout", strings.NewReader(url.Values{"csrf": {csrf}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", b)
		req.AddCookie(cookie)
		resp, err := noRedirects.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := logout(strings.Repeat("0", 64)); code != http.StatusForbidden {
		t.Fatalf("sign-out on replica B with another CSRF token: %d, want 403", code)
	}
	if code := logout(csrf); code != http.StatusSeeOther {
		t.Fatalf("sign-out on replica B with the token of A's page: %d, want 303", code)
	}
	// Signed out on B, the cookie opens nothing on A.
	for _, path := range []string{"/", "/params"} {
		req, _ = http.NewRequest(http.MethodGet, a+path, nil)
		req.AddCookie(cookie)
		resp, err = noRedirects.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
			t.Errorf("%s on replica A after sign-out on B: %d %s, want a redirect to /login", path, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}
