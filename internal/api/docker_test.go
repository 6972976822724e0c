package api

import (
	"slices"
	"strings"
	"testing"
)

func TestNormalizeDockerAllowances(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string
		err  string
	}{
		{"none", nil, nil, ""},
		{"empty list", []string{}, nil, ""},
		{"one", []string{"devices"}, []string{"devices"}, ""},
		{"sorted in the documented order", []string{"build-entitlements", "host-mounts", "privileged"}, []string{"privileged", "host-mounts", "build-entitlements"}, ""},
		{"duplicates removed", []string{"unconfined", "privileged", "unconfined", "privileged"}, []string{"privileged", "unconfined"}, ""},
		{"all, given backwards", reversed(DockerAllowances), DockerAllowances, ""},
		{"unknown", []string{"privileged", "root"}, nil, `unknown Docker allowance "root"; the allowances are privileged, host-mounts, host-namespaces, devices, capabilities, unconfined, build-entitlements`},
		{"unknown twice counts once", []string{"root", "root"}, nil, `unknown Docker allowance "root";`},
		{"several unknown", []string{"root", "x", "root"}, nil, `unknown Docker allowances "root", "x";`},
		{"case matters", []string{"Privileged"}, nil, `"Privileged"`},
		{"an empty name", []string{""}, nil, `unknown Docker allowance ""`},
		{"none is no allowance", []string{"none"}, nil, `unknown Docker allowance "none"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizeDockerAllowances(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestDockerPolicyString(t *testing.T) {
	tests := []struct {
		p    DockerPolicy
		want string
	}{
		{DockerPolicy{}, "strict (default)"},
		{DockerPolicy{Allow: []string{"privileged", "devices"}}, "allows privileged, devices"},
		{DockerPolicy{ExposeCredentials: true}, "phases hold the Docker host's credentials"},
		{DockerPolicy{Allow: []string{"host-mounts"}, ExposeCredentials: true}, "allows host-mounts; phases hold the Docker host's credentials"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.p, got, tt.want)
		}
	}
}

func reversed(list []string) []string {
	out := slices.Clone(list)
	slices.Reverse(out)
	return out
}
