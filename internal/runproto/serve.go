package runproto

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/jetway-dev/jetway/internal/api"
)

// MaxEventsBody bounds the body of a batch of events the server reads. The
// Uploader sends at most MaxBatchBytes (1 MiB) unless told otherwise.
const MaxEventsBody = 64 << 20

// HandleEvents is the server's half of POST /v1/runs/{id}/events, after
// the run token is checked: it reads the batch, stores it with
// StoreEvents, calls stored with it, and answers. stored runs for a batch
// stored before too (its answer was lost), so what it does must bear
// repeating; an error from it answers 500, and the runner sends again.
func HandleEvents(w http.ResponseWriter, r *http.Request, st EventStore, runID string, stored func(context.Context, []api.Event) error) {
	var batch []api.Event
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxEventsBody)).Decode(&batch); err != nil {
		answer(w, http.StatusBadRequest, EventsAck{Error: fmt.Sprintf("the events are not valid JSON: %v", err)})
		return
	}
	acked, err := StoreEvents(r.Context(), st, runID, batch)
	var gap *GapError
	var bad *BatchError
	switch {
	case errors.As(err, &gap):
		answer(w, http.StatusConflict, EventsAck{Acked: gap.Acked, Error: err.Error()})
		return
	case errors.As(err, &bad):
		answer(w, http.StatusBadRequest, EventsAck{Acked: acked, Error: err.Error()})
		return
	case err != nil:
		answer(w, http.StatusInternalServerError, EventsAck{Error: err.Error()})
		return
	}
	if stored != nil {
		if err := stored(r.Context(), batch); err != nil {
			answer(w, http.StatusInternalServerError, EventsAck{Acked: acked, Error: err.Error()})
			return
		}
	}
	answer(w, http.StatusOK, EventsAck{Acked: acked})
}

func answer(w http.ResponseWriter, status int, ack EventsAck) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(ack)
}

// StoreEvents is the server's half: it stores the events of batch the run
// has not stored yet, as the rendered text of its log, and returns the
// number of the last event stored. It returns a *GapError for a batch that
// starts after the next expected event and a *BatchError for one that is
// not numbered consecutively. An empty batch only asks for the number.
func StoreEvents(ctx context.Context, st EventStore, runID string, batch []api.Event) (int64, error) {
	for i, e := range batch {
		if e.Seq < 1 {
			return 0, &BatchError{Reason: fmt.Sprintf("event %d has no sequence number", i)}
		}
		if i > 0 && e.Seq != batch[i-1].Seq+1 {
			return 0, &BatchError{Reason: fmt.Sprintf("event number %d follows %d", e.Seq, batch[i-1].Seq)}
		}
	}
	// Another request for the same run may store events between reading
	// the number and storing; then read it again. Requests of one runner
	// only overlap when it gave up waiting on one, so a few rounds do.
	for range 5 {
		acked, err := st.EventsAcked(ctx, runID)
		if err != nil {
			return 0, err
		}
		if len(batch) == 0 {
			return acked, nil
		}
		if first := batch[0].Seq; first > acked+1 {
			return acked, &GapError{First: first, Acked: acked}
		}
		last := batch[len(batch)-1].Seq
		if last <= acked {
			return acked, nil
		}
		var text strings.Builder
		for _, e := range batch[acked+1-batch[0].Seq:] {
			text.WriteString(e.Text())
		}
		ok, err := st.AppendEvents(ctx, runID, acked, last, text.String())
		if err != nil {
			return 0, err
		}
		if ok {
			return last, nil
		}
	}
	return 0, fmt.Errorf("storing the events of run %s: other requests kept storing them at the same time", runID)
}
