package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/hooklane/hooklane/internal/app"
)

// runProbe fetches url and succeeds on a 2xx answer: a healthcheck for
// images that have no shell or curl.
func runProbe(ctx context.Context, args []string, e app.Env) error {
	const probeUsage = "usage: hooklane probe URL (e.g. http://127.0.0.1:8080/readyz)"
	if len(args) == 1 && (args[0] == "--help" || args[0] == "-h") {
		fmt.Fprintln(e.Stdout, probeUsage)
		return nil
	}
	if len(args) != 1 {
		return fmt.Errorf("%s: %w", probeUsage, app.ErrUsage)
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, args[0], nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s answered %s", args[0], resp.Status)
	}
	fmt.Fprintln(e.Stdout, args[0], resp.Status)
	return nil
}
