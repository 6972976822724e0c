package dockerhost

import (
	"strings"
	"testing"
)

func TestParseSpec(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		tls     bool
		want    Spec
		wantErr string
	}{
		{name: "empty is the local socket", raw: "", want: Spec{Scheme: SchemeUnix, Path: DefaultLocalSocket}},
		{name: "unix", raw: "unix:///run/d.sock", want: Spec{Scheme: SchemeUnix, Path: "/run/d.sock"}},
		{name: "unix relative", raw: "unix://run/d.sock", wantErr: "absolute socket path"},
		{name: "tcp plain default port", raw: "tcp://docker.internal", want: Spec{Scheme: SchemeTCP, Host: "docker.internal", Port: 2375}},
		{name: "tcp tls default port", raw: "tcp://docker.internal", tls: true, want: Spec{Scheme: SchemeTCP, Host: "docker.internal", Port: 2376}},
		{name: "tcp explicit port", raw: "tcp://10.0.0.1:2376", want: Spec{Scheme: SchemeTCP, Host: "10.0.0.1", Port: 2376}},
		{name: "tcp ipv6", raw: "tcp://[::1]:2375", want: Spec{Scheme: SchemeTCP, Host: "::1", Port: 2375}},
		{name: "tcp with path", raw: "tcp://h:1/x", wantErr: "no path"},
		{name: "tcp with user", raw: "tcp://u@h:1", wantErr: "no user"},
		{name: "ssh minimal", raw: "ssh://docker.myhost.com", want: Spec{Scheme: SchemeSSH, Host: "docker.myhost.com", Port: 22}},
		{name: "ssh user port path", raw: "ssh://ubuntu@h:2222/run/user/1000/docker.sock", want: Spec{Scheme: SchemeSSH, User: "ubuntu", Host: "h", Port: 2222, Path: "/run/user/1000/docker.sock"}},
		{name: "ssh upper-case scheme", raw: "SSH://u@h", want: Spec{Scheme: SchemeSSH, User: "u", Host: "h", Port: 22}},
		{name: "ssh password", raw: "ssh://u:p@h", wantErr: "passwords"},
		{name: "ssh bad port", raw: "ssh://h:99999", wantErr: "port"},
		{name: "ssh no host", raw: "ssh://", wantErr: "no host"},
		{name: "no scheme", raw: "docker.internal:2375", wantErr: "missing scheme"},
		{name: "npipe", raw: "npipe:////./pipe/docker_engine", wantErr: "not supported"},
		{name: "unknown", raw: "http://h", wantErr: "unknown scheme"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSpec(tt.raw, tt.tls)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseSpec(%q) error = %v, want one containing %q", tt.raw, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSpec(%q): %v", tt.raw, err)
			}
			if got != tt.want {
				t.Fatalf("ParseSpec(%q) = %+v, want %+v", tt.raw, got, tt.want)
			}
		})
	}
}

func TestSpecStringRoundTrips(t *testing.T) {
	for _, raw := range []string{"unix:///run/d.sock", "tcp://h:2375", "ssh://u@h:2222/run/d.sock", "ssh://h"} {
		s, err := ParseSpec(raw, false)
		if err != nil {
			t.Fatal(err)
		}
		if s.String() != raw {
			t.Errorf("String() = %q, want %q", s.String(), raw)
		}
	}
}
