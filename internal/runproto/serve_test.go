package runproto

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/jetway-dev/jetway/internal/api"
)

// memStore is an EventStore in memory, with the same check-and-store as
// the SQLite one.
type memStore struct {
	mu    sync.Mutex
	acked int64
	log   strings.Builder
	// beforeAppend, if set, runs before each AppendEvents, outside the lock.
	beforeAppend func()
}

func (m *memStore) EventsAcked(context.Context, string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.acked, nil
}

func (m *memStore) AppendEvents(_ context.Context, _ string, after, upTo int64, text string) (bool, error) {
	if m.beforeAppend != nil {
		m.beforeAppend()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.acked != after {
		return false, nil
	}
	m.acked = upTo
	m.log.WriteString(text)
	return true, nil
}

func (m *memStore) String() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.log.String()
}

func logs(first int64, msgs ...string) []api.Event {
	var out []api.Event
	for i, m := range msgs {
		out = append(out, api.Event{Seq: first + int64(i), Type: "log", Message: m})
	}
	return out
}

func TestStoreEvents(t *testing.T) {
	st := &memStore{}
	steps := []struct {
		name      string
		batch     []api.Event
		wantAcked int64
		wantErr   any // nil, *GapError or *BatchError
		wantLog   string
	}{
		{"first batch", logs(1, "a", "b"), 2, nil, "a\nb\n"},
		{"the same batch again", logs(1, "a", "b"), 2, nil, "a\nb\n"},
		{"an overlapping batch stores only the new events", logs(2, "b", "c"), 3, nil, "a\nb\nc\n"},
		{"a batch after a gap", logs(5, "e"), 3, &GapError{}, "a\nb\nc\n"},
		{"an empty batch asks for the number", nil, 3, nil, "a\nb\nc\n"},
		{"numbers must follow each other", append(logs(4, "d"), logs(6, "f")...), 0, &BatchError{}, "a\nb\nc\n"},
		{"numbers start at 1", logs(0, "x"), 0, &BatchError{}, "a\nb\nc\n"},
		{"the gap filled", logs(4, "d", "e"), 5, nil, "a\nb\nc\nd\ne\n"},
	}
	for _, s := range steps {
		acked, err := StoreEvents(context.Background(), st, "r", s.batch)
		switch want := s.wantErr.(type) {
		case nil:
			if err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
		case *GapError:
			if !errors.As(err, &want) || want.Acked != s.wantAcked {
				t.Fatalf("%s: got %v, want a gap after %d", s.name, err, s.wantAcked)
			}
		case *BatchError:
			if !errors.As(err, &want) {
				t.Fatalf("%s: got %v, want a batch error", s.name, err)
			}
		}
		if acked != s.wantAcked {
			t.Errorf("%s: acked %d, want %d", s.name, acked, s.wantAcked)
		}
		if got := st.String(); got != s.wantLog {
			t.Errorf("%s: log %q, want %q", s.name, got, s.wantLog)
		}
	}
}

// TestStoreEventsConcurrentResend: the same batch stored by many requests
// at once (a runner resending while its first request still runs) lands
// once.
func TestStoreEventsConcurrentResend(t *testing.T) {
	st := &memStore{beforeAppend: runtime.Gosched}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int64(1); i <= 20; i++ {
				if _, err := StoreEvents(context.Background(), st, "r", logs(i, fmt.Sprint(i))); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	var want strings.Builder
	for i := 1; i <= 20; i++ {
		fmt.Fprintf(&want, "%d\n", i)
	}
	if got := st.String(); got != want.String() {
		t.Errorf("log %q, want %q", got, want.String())
	}
}

// TestHandleEventsAnswers: the wire answers of the server's half.
func TestHandleEventsAnswers(t *testing.T) {
	st := &memStore{}
	var applied []int64
	stored := func(_ context.Context, batch []api.Event) error {
		for _, e := range batch {
			applied = append(applied, e.Seq)
		}
		return nil
	}
	steps := []struct {
		name       string
		body       string
		wantStatus int
		wantAcked  int64
	}{
		{"a batch", `[{"seq":1,"type":"log","message":"a"},{"seq":2,"type":"log","message":"b"}]`, http.StatusOK, 2},
		{"resent", `[{"seq":1,"type":"log","message":"a"},{"seq":2,"type":"log","message":"b"}]`, http.StatusOK, 2},
		{"past a gap", `[{"seq":4,"type":"log","message":"d"}]`, http.StatusConflict, 2},
		{"unnumbered", `[{"type":"log","message":"x"}]`, http.StatusBadRequest, 0},
		{"not JSON", `[{`, http.StatusBadRequest, 0},
		{"empty", `[]`, http.StatusOK, 2},
	}
	for _, s := range steps {
		w := httptest.NewRecorder()
		HandleEvents(w, httptest.NewRequest(http.MethodPost, EventsPath("r"), strings.NewReader(s.body)), st, "r", stored)
		var ack EventsAck
		if err := json.Unmarshal(w.Body.Bytes(), &ack); err != nil {
			t.Fatalf("%s: answer %q: %v", s.name, w.Body.String(), err)
		}
		if w.Code != s.wantStatus || ack.Acked != s.wantAcked || (w.Code != http.StatusOK) != (ack.Error != "") {
			t.Errorf("%s: %d %+v, want %d with acked %d", s.name, w.Code, ack, s.wantStatus, s.wantAcked)
		}
	}
	if fmt.Sprint(applied) != "[1 2 1 2]" {
		t.Errorf("stored was called with %v, want each stored batch, the resent one too", applied)
	}
	if st.String() != "a\nb\n" {
		t.Errorf("log %q", st.String())
	}
}
