package console

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/hooklane/hooklane/storage"
)

// The browser tests drive Debian's chromium (CHROMIUM names another). A
// developer machine without it skips them with a message; CI (CI=true)
// must have it, and fails loudly without.

// browser starts a headless Chromium for the test and returns a context
// that drives one tab of it. Dialogs that a page opens (alert, confirm)
// are counted in dialogs: a page that runs a payload's script opens one.
func browser(t *testing.T) (ctx context.Context, dialogs *atomic.Int32) {
	t.Helper()
	path := os.Getenv("CHROMIUM")
	if path == "" {
		for _, name := range []string{"chromium", "chromium-browser"} {
			if p, err := exec.LookPath(name); err == nil {
				path = p
				break
			}
		}
	}
	if path == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed, and CI must run the browser tests: .ci/run installs it (apt-get install -y chromium)")
		}
		t.Skip("chromium not found: apt-get install -y chromium (or set CHROMIUM) to run the browser tests")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1000, 800),
	}
	// The deadline only ends a test that would hang.
	base, cancelBase := context.WithTimeout(context.Background(), 5*time.Minute)
	alloc, cancelAlloc := chromedp.NewExecAllocator(base, opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
		cancelBase()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium %s: %v", path, err)
	}
	dialogs = &atomic.Int32{}
	opened := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for _, err := range opened {
			if err != nil {
				return
			}
			dialogs.Add(1)
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	return ctx, dialogs
}

// do runs steps in the browser, which must all succeed.
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// value runs one step that returns a value.
func value[T any](t *testing.T, ctx context.Context, step chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, step)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// text is the text of the first element sel selects.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	return value(t, ctx, chromedp.Text(chromedp.CSS(sel)))
}

// class is the class attribute of the first element sel selects.
func class(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	return value(t, ctx, chromedp.AttributeValue(chromedp.CSS(sel), "class")).Value
}

func TestBrowser(t *testing.T) {
	r := newRig(t)
	ctx, dialogs := browser(t)
	base := r.server.URL
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }

	t.Run("overview and events after deliveries of each provider", func(t *testing.T) {
		r.post(t, "wa", metaMessage)
		r.post(t, "platica", platicaMessage)
		r.post(t, "whatz", whatzMessage)
		r.post(t, "whapi", whapiMessage)
		r.waitEvents(t, 4)
		do(t, ctx, "overview", chromedp.Navigate(base+"/"))
		legend := text(t, ctx, ".chart .legend")
		for _, s := range []string{"wa stored", "platica stored", "whatz stored", "whapi stored"} {
			if !strings.Contains(legend, s) {
				t.Errorf("chart legend %q lacks %q", legend, s)
			}
		}
		do(t, ctx, "events search",
			chromedp.Navigate(base+"/events"),
			chromedp.SetValue(css(`input[name="contains"]`), `{"text":{"body":"Hi, is my order ready?"}}`),
			chromedp.Submit(css(`input[name="contains"]`)),
			chromedp.WaitVisible(css(`#events tbody a`)),
		)
		if events := text(t, ctx, `#events tbody`); !strings.Contains(events, "message:wamid.IN1") || strings.Contains(events, "WH1") {
			t.Errorf("search by containment shows %q", events)
		}
		do(t, ctx, "event", chromedp.Click(css(`#events tbody a`)), chromedp.WaitVisible(css(`#payload`)))
		payload, requestID := text(t, ctx, `#payload`), text(t, ctx, `#request-id`)
		if !strings.Contains(payload, `"body": "Hi, is my order ready?"`) || !strings.HasPrefix(requestID, "req-wa-") {
			t.Errorf("event page: payload %q, request id %q", payload, requestID)
		}
	})

	t.Run("a payload holding script renders as text", func(t *testing.T) {
		r.post(t, "whapi", whapiText("XSS2", `<script>alert("owned")</script><img src=x onerror="alert(2)">`))
		var id string
		waitFor(t, "the script payload stored", func() bool {
			events, _, err := r.store.SearchEvents(context.Background(), storage.EventFilter{Contains: []byte(`{"id":"XSS2"}`)})
			if err == nil && len(events) == 1 {
				id = strconv.FormatInt(events[0].ID, 10)
			}
			return id != ""
		})
		do(t, ctx, "script payload", chromedp.Navigate(base+"/events/"+id))
		payload := text(t, ctx, `#payload`)
		scripts := value(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("script").length`))
		images := value(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("main img").length`))
		if !strings.Contains(payload, `<script>alert(\"owned\")</script>`) {
			t.Errorf("the payload does not show its markup as text: %q", payload)
		}
		if scripts != 0 || images != 0 || dialogs.Load() != 0 {
			t.Errorf("the payload became markup: %d scripts, %d images, %d dialogs", scripts, images, dialogs.Load())
		}
	})

	t.Run("the conversation's ticks turn blue when the read status arrives", func(t *testing.T) {
		r.postConversation(t)
		do(t, ctx, "conversation",
			chromedp.Navigate(base+"/conversations?source=whapi"),
			chromedp.Click(css(`#conversations a`)),
			chromedp.WaitVisible(css(`#messages`)),
		)
		if before := class(t, ctx, `[data-id="OUT-W1"] .tick`); before != "tick delivered" {
			t.Errorf("before the read status the answer's tick is %q, want delivered", before)
		}
		r.readReceipt(t)
		do(t, ctx, "conversation after the read status", chromedp.Reload(), chromedp.WaitVisible(css(`#messages`)))
		after := class(t, ctx, `[data-id="OUT-W1"] .tick`)
		color := value(t, ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector('[data-id="OUT-W1"] .tick')).color`))
		if after != "tick read" || color != "rgb(52, 183, 241)" {
			t.Errorf("after the read status the tick is %q, colour %s, want read in blue", after, color)
		}
		do(t, ctx, "viewport", chromedp.EmulateViewport(900, 640))
		shot := value(t, ctx, chromedp.FullScreenshot(100))
		if _, err := png.Decode(bytes.NewReader(shot)); err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		// CONSOLE_SCREENSHOT=path keeps it, for the README.
		if out := os.Getenv("CONSOLE_SCREENSHOT"); out != "" {
			if err := os.WriteFile(out, shot, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	})

	t.Run("the live page shows a delivery posted after it opened", func(t *testing.T) {
		do(t, ctx, "live page",
			chromedp.Navigate(base+"/live?source=whapi"),
			chromedp.Poll[chromedp.Void](`document.getElementById("live-status").textContent.startsWith("Watching")`,
				chromedp.WithPollingTimeout(0)),
		)
		r.post(t, "whapi", whapiText("LIVE2", "typed just now"))
		do(t, ctx, "live row", chromedp.WaitVisible(css(`#live tbody tr`)))
		if row := text(t, ctx, `#live tbody tr`); !strings.Contains(row, "message:LIVE2") || !strings.Contains(row, "typed just now") {
			t.Errorf("live row %q", row)
		}
		if status := text(t, ctx, `#live-status`); !strings.HasPrefix(status, "1 new event") {
			t.Errorf("live status %q", status)
		}
	})

	t.Run("a redrive from the page stores the dead letter", func(t *testing.T) {
		r.deadLetter(t, "whapi", "DLB1", "database unreachable after 20 tries")
		do(t, ctx, "dead letter",
			chromedp.Navigate(base+"/dead-letters"),
			chromedp.Click(css(`#dead-letters tbody a`)),
			chromedp.WaitVisible(css(`#reason`)),
		)
		if reason := text(t, ctx, `#reason`); reason != "database unreachable after 20 tries" {
			t.Errorf("reason %q", reason)
		}
		do(t, ctx, "redrive", chromedp.Click(css(`#redrive`)), chromedp.WaitVisible(css(`#notice`)))
		if notice := text(t, ctx, `#notice`); !strings.HasPrefix(notice, "1 dead letter(s) sent back") {
			t.Errorf("notice %q", notice)
		}
		waitFor(t, "the redriven dead letter stored", func() bool {
			return r.count(t, "SELECT count(*) FROM events WHERE resource_id = 'DLB1'") == 1
		})
	})
}
