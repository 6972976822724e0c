package server

import (
	"slices"
	"strings"
	"testing"

	"github.com/jetway-dev/jetway/internal/api"
)

func TestCheckProject(t *testing.T) {
	tests := []struct {
		name      string
		path      string
		in        api.Project
		wantAllow []string
		err       string
	}{
		{"strict", "web", api.Project{}, nil, ""},
		{"digits and dashes", "shop-2", api.Project{Name: "shop-2"}, nil, ""},
		{"allowances sorted and once", "web", api.Project{Docker: api.DockerPolicy{Allow: []string{"unconfined", "devices", "unconfined"}}}, []string{"devices", "unconfined"}, ""},
		{"empty name", "", api.Project{}, nil, `project name "": use lower-case letters, digits and - only`},
		{"upper case", "Web", api.Project{}, nil, `project name "Web"`},
		{"underscore", "my_app", api.Project{}, nil, `project name "my_app"`},
		{"leading dash", "-web", api.Project{}, nil, `project name "-web"`},
		{"dot", "web.app", api.Project{}, nil, `project name "web.app"`},
		{"body names another", "web", api.Project{Name: "api"}, nil, `the body names project "api", the path "web"`},
		{"unknown allowance", "web", api.Project{Docker: api.DockerPolicy{Allow: []string{"devices", "everything"}}}, nil,
			`unknown Docker allowance "everything"; the allowances are privileged, host-mounts,`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := checkProject(tt.path, tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || got.Name != tt.path || !slices.Equal(got.Docker.Allow, tt.wantAllow) {
				t.Fatalf("got %+v, %v; want %s allowing %q", got, err, tt.path, tt.wantAllow)
			}
		})
	}
	// ExposeCredentials is kept as given.
	if got, err := checkProject("web", api.Project{Docker: api.DockerPolicy{ExposeCredentials: true}}); err != nil || !got.Docker.ExposeCredentials {
		t.Fatalf("expose credentials: %+v %v", got, err)
	}
}
