package excerpt_test

import (
	"strings"
	"testing"

	"github.com/hooklane/hooklane/internal/excerpt"
)

func TestQuote(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"data_exchange", `"data_exchange"`},
		{"a\nlevel=ERROR msg=forged", `"a\nlevel=ERROR msg=forged"`},
		{"\x00\xff", `"\x00\xff"`},
		{strings.Repeat("a", 900<<10), `"` + strings.Repeat("a", excerpt.MaxBytes) + `…" (921600 bytes)`},
		{strings.Repeat("é", 100), `"` + strings.Repeat("é", excerpt.MaxBytes/2) + `…" (200 bytes)`},
		{"x" + strings.Repeat("é", 100), `"x` + strings.Repeat("é", excerpt.MaxBytes/2-1) + `…" (201 bytes)`},
	} {
		if got := excerpt.Quote(tt.in); got != tt.want {
			t.Errorf("Quote(%.20q) = %.60s, want %.60s", tt.in, got, tt.want)
		}
	}
}

func TestClip(t *testing.T) {
	if got := excerpt.Clip("short", 10); got != "short" {
		t.Errorf("Clip(short) = %q", got)
	}
	if got := excerpt.Clip(strings.Repeat("b", 50), 10); got != strings.Repeat("b", 10)+"… (50 bytes)" {
		t.Errorf("Clip(50 b) = %q", got)
	}
}
