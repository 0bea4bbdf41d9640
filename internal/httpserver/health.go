package httpserver

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// Check reports whether one dependency is usable.
type Check struct {
	Name string
	Func func(ctx context.Context) error
}

// Health serves GET /healthz (the process is alive) and GET /readyz (every
// check passes, each within two seconds) on mux.
func Health(mux *http.ServeMux, checks ...Check) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		status, result := http.StatusOK, map[string]string{}
		for _, c := range checks {
			if err := c.Func(ctx); err != nil {
				status, result[c.Name] = http.StatusServiceUnavailable, err.Error()
				continue
			}
			result[c.Name] = "ok"
		}
		writeJSON(w, status, result)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
