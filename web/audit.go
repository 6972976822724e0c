package web

import (
	"net/http"
	"time"
)

// auditPage shows the last day of the audit log, newest first (admins
// only: the Source refuses others).
func (d *Dashboard) auditPage(w http.ResponseWriter, r *http.Request, sess Session) {
	since := d.now().Add(-24 * time.Hour)
	if days := r.URL.Query().Get("days"); days == "7" || days == "30" {
		since = d.now().AddDate(0, 0, -map[string]int{"7": 7, "30": 30}[days])
	}
	entries, err := d.source.ListAudit(r.Context(), since, 10000)
	if err != nil {
		http.Error(w, err.Error(), refusalStatus(err, http.StatusInternalServerError))
		return
	}
	for i, j := 0, len(entries)-1; i < j; i, j = i+1, j-1 {
		entries[i], entries[j] = entries[j], entries[i]
	}
	d.render(w, http.StatusOK, "audit", &sess, map[string]any{"Title": "Audit log", "Entries": entries, "Days": r.URL.Query().Get("days")})
}
