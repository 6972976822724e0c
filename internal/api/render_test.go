package api

import "testing"

func TestLogEventText(t *testing.T) {
	tests := []struct {
		name string
		e    Event
		want string
	}{
		{"a line", Event{Type: "log", Message: "hello"}, "hello\n"},
		{"a piece that goes on", Event{Type: "log", Message: "hel", Continued: true}, "hel" + ContinuedMark + "\n"},
		{"an empty line", Event{Type: "log"}, "\n"},
	}
	for _, tt := range tests {
		if got := tt.e.Text(); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestCheckArtifactName(t *testing.T) {
	for _, good := range []string{"coverage/index.html", "log/a b.xml", "é/ü.txt", ".hidden"} {
		if err := CheckArtifactName(good); err != nil {
			t.Errorf("%q: %v", good, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "../x", "a/../../x", "/etc/passwd", "a//b", "a/./b", "a/", "x\ny", "x\x00", "\xff", string(make([]byte, MaxArtifactName+1))} {
		if err := CheckArtifactName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
