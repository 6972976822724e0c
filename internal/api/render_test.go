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
