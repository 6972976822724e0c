package server

import (
	"testing"

	"github.com/jetway-dev/jetway/internal/api"
	"github.com/jetway-dev/jetway/internal/config"
)

func TestMatchGlob(t *testing.T) {
	for _, tc := range []struct {
		glob, name string
		want       bool
	}{
		{"shop-*", "shop-web", true},
		{"shop-*", "shop", false},
		{"shop-*", "myshop-web", false},
		{"/prod/app/*", "/prod/app/DB", true},
		{"/prod/app/*", "/prod/app/sub/DB", false},
		{"/prod/app/**", "/prod/app/sub/DB", true},
		{"/prod/**", "/prod", false},
		{"/prod/?B", "/prod/DB", true},
		{"/prod/?B", "/prod//B", false},
		{"/prod/a.b", "/prod/aXb", false},
		{"/prod/(x)+", "/prod/(x)+", true},
		{"*", "", true},
		{"", "x", false},
	} {
		if got := matchGlob(tc.glob, tc.name); got != tc.want {
			t.Errorf("matchGlob(%q, %q) = %v, want %v", tc.glob, tc.name, got, tc.want)
		}
	}
}

func TestMayResolve(t *testing.T) {
	ssm := func(name string) config.Ref { return config.Ref{Store: config.ParameterStore, Name: name} }
	secret := func(name string) config.Ref { return config.Ref{Store: config.SecretsManager, Name: name} }
	for _, tc := range []struct {
		grants []string
		ref    config.Ref
		want   bool
	}{
		{nil, ssm("/anything"), true},
		{[]string{}, ssm("/anything"), false},
		{[]string{"/prod/*"}, ssm("/prod/DB"), true},
		{[]string{"/prod/*"}, secret("/prod/DB"), true},
		{[]string{"SSM:/prod/*"}, secret("/prod/DB"), false},
		{[]string{"parameter_store:/prod/*"}, ssm("/prod/DB"), true},
		{[]string{"secret:prod/**"}, secret("prod/app/key"), true},
		{[]string{"SECRETS_MANAGER:prod/*"}, ssm("prod/key"), false},
		{[]string{"/dev/*", "/prod/*"}, ssm("/prod/DB"), true},
	} {
		if got := mayResolve(tc.grants, tc.ref); got != tc.want {
			t.Errorf("mayResolve(%q, %v) = %v, want %v", tc.grants, tc.ref, got, tc.want)
		}
	}
}

func TestRolesRights(t *testing.T) {
	for _, tc := range []struct {
		role string
		has  []right
		not  []right
	}{
		{api.RoleViewer, []right{rightRead}, []right{rightDeploy, rightParams, rightAdmin}},
		{api.RoleDeployer, []right{rightRead, rightDeploy}, []right{rightParams, rightAdmin}},
		{api.RoleAdmin, []right{rightRead, rightDeploy, rightParams, rightAdmin}, nil},
		{"root", nil, []right{rightRead}},
	} {
		p := principal{Role: tc.role}
		for _, r := range tc.has {
			if !p.has(r) {
				t.Errorf("%s lacks %s", tc.role, r)
			}
		}
		for _, r := range tc.not {
			if p.has(r) {
				t.Errorf("%s may %s", tc.role, r)
			}
		}
	}
	if got := (principal{Role: api.RoleAdmin}).grants(); got != nil {
		t.Errorf("an admin's grants %q, want nil (any)", got)
	}
	if got := (principal{Role: api.RoleDeployer}).grants(); got == nil || len(got) != 0 {
		t.Errorf("a bare deployer's grants %q, want none", got)
	}
}
