package config

import (
	"strings"
	"testing"
)

func TestParseRef(t *testing.T) {
	tests := []struct {
		value   string
		want    Ref
		isRef   bool
		wantErr string
	}{
		{value: "SSM:/dev/JETS_SSH_KEY", want: Ref{Store: ParameterStore, Name: "/dev/JETS_SSH_KEY"}, isRef: true},
		{value: "ssm:/dev/KEY", want: Ref{Store: ParameterStore, Name: "/dev/KEY"}, isRef: true},
		{value: "Parameter_Store:/a/b", want: Ref{Store: ParameterStore, Name: "/a/b"}, isRef: true},
		{value: "PARAMETER_STORE:plain_name", want: Ref{Store: ParameterStore, Name: "plain_name"}, isRef: true},
		{value: "SECRET:prod/db", want: Ref{Store: SecretsManager, Name: "prod/db"}, isRef: true},
		{value: "secrets_manager:prod/db", want: Ref{Store: SecretsManager, Name: "prod/db"}, isRef: true},
		{value: "SECRET:prod/db:password", want: Ref{Store: SecretsManager, Name: "prod/db", JSONKey: "password"}, isRef: true},
		{value: "SECRET:arn:aws:secretsmanager:us-east-1:123:secret:x", want: Ref{Store: SecretsManager, Name: "arn:aws:secretsmanager:us-east-1:123:secret:x"}, isRef: true},
		{value: "ssh://ubuntu@docker.myhost.com", isRef: false},
		{value: "tcp://docker.myhost.com:2375", isRef: false},
		{value: "a:b", isRef: false},
		{value: "plain value", isRef: false},
		{value: "", isRef: false},
		{value: "SSM:", isRef: true, wantErr: "empty parameter name"},
		{value: "SSM:/dev/bad name", isRef: true, wantErr: `"/dev/bad name"`},
		{value: "SSM:dev/KEY", isRef: true, wantErr: "must begin with /"},
		{value: "SSM:/dev//KEY", isRef: true, wantErr: "empty path segment"},
		{value: "SSM:/aws/reserved", isRef: true, wantErr: "reserved"},
		{value: "SECRET:", isRef: true, wantErr: "empty secret name"},
		{value: "SECRET:db:", isRef: true, wantErr: "empty JSON key"},
		{value: "SECRET:bad*name", isRef: true, wantErr: `"bad*name"`},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			got, isRef, err := ParseRef(tt.value)
			if isRef != tt.isRef {
				t.Fatalf("isRef = %v, want %v", isRef, tt.isRef)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.value) {
					t.Errorf("error %q does not quote the reference", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestExpandEnv(t *testing.T) {
	tests := []struct{ in, want string }{
		{"SSM:/#{ssm_env}/JETS_SSH_KEY", "SSM:/dev/JETS_SSH_KEY"},
		{"SSM:/${ssm_env}/KEY", "SSM:/dev/KEY"},
		{"/#{ssm_env}/#{ssm_env}/x", "/dev/dev/x"},
		{"#{other} stays", "#{other} stays"},
		{"${HOME} stays", "${HOME} stays"},
		{"#{ssm_env", "#{ssm_env"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := ExpandEnv(tt.in, "dev"); got != tt.want {
			t.Errorf("ExpandEnv(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
