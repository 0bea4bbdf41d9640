package gateway

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"testing"
	"time"
)

func TestBudgetDeadline(t *testing.T) {
	now := time.Date(2026, 5, 6, 19, 0, 0, 0, time.UTC)
	start := now.Add(-100 * time.Millisecond)
	for _, tc := range []struct {
		name     string
		budget   Budget
		ctxAfter time.Duration // the context's deadline after now; 0 for none
		want     time.Duration // the deadline after now
	}{
		{"default", Budget{}, 0, 700*time.Millisecond - 50*time.Millisecond},
		{"platica", Budget{Total: 700 * time.Millisecond}, 0, 650 * time.Millisecond},
		{"small budget margin is 10%", Budget{Total: 200 * time.Millisecond}, 0, 180 * time.Millisecond},
		{"from start", Budget{Start: start, Total: 700 * time.Millisecond}, 0, 550 * time.Millisecond},
		{"explicit margin", Budget{Total: time.Second, Margin: 5 * time.Millisecond}, 0, 995 * time.Millisecond},
		{"no margin", Budget{Total: time.Second, Margin: -1}, 0, time.Second},
		{"context only", Budget{}, 2 * time.Second, 2*time.Second - 50*time.Millisecond},
		{"context earlier", Budget{Total: 10 * time.Second}, time.Second, time.Second - 50*time.Millisecond},
		{"context later", Budget{Total: 300 * time.Millisecond}, time.Second, 270 * time.Millisecond},
		{"already late", Budget{Start: now.Add(-time.Second), Total: 500 * time.Millisecond}, 0, -550 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			if tc.ctxAfter != 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, now.Add(tc.ctxAfter))
				defer cancel()
			}
			if got := tc.budget.deadline(ctx, now).Sub(now); got != tc.want {
				t.Errorf("deadline in %v, want %v", got, tc.want)
			}
		})
	}
}

// TestResponderSubjectMatchesFlowSubject guards the subject layout the
// responder builds its subscriptions with.
// The fixed AES vectors of Meta's Flows encryption: key 00..0f, IV 10..1f.
const (
	vectorPlain        = `{"version":"3.0","action":"ping"}`
	vectorCiphertext   = "vryB0w/BTee4OvmgkgEf9dnfQfwZb8iWi7yl5iotFMJeuQl749lOptdzv/L1T2V2PA=="
	vectorFlippedIV    = "7+7t7Ovq6ejn5uXk4+Lh4A=="
	vectorResponse     = `{"data":{"status":"active"}}`
	vectorResponseData = "IHgL0mWXHJ6FDPLH6+aygF5BfT+mPzwvzktiKvlmYpg8eFKqJX/07YVStaI="
)

func counting(from byte) []byte {
	b := make([]byte, 16)
	for i := range b {
		b[i] = from + byte(i)
	}
	return b
}

func TestAESVectors(t *testing.T) {
	data, err := base64.StdEncoding.DecodeString(vectorCiphertext)
	if err != nil {
		t.Fatal(err)
	}
	plain, s, err := open(counting(0x00), counting(0x10), data)
	if err != nil {
		t.Fatal(err)
	}
	if string(plain) != vectorPlain {
		t.Errorf("plaintext %s, want %s", plain, vectorPlain)
	}
	if got := base64.StdEncoding.EncodeToString(s.iv[:]); got != vectorFlippedIV {
		t.Errorf("flipped IV %s, want %s", got, vectorFlippedIV)
	}
	if got := s.EncryptResponse([]byte(vectorResponse)); got != vectorResponseData {
		t.Errorf("response %s, want %s", got, vectorResponseData)
	}
	// And the other way: the request encrypts to the vector.
	block, _ := aes.NewCipher(counting(0x00))
	aead, _ := cipher.NewGCMWithNonceSize(block, 16)
	if got := base64.StdEncoding.EncodeToString(aead.Seal(nil, counting(0x10), []byte(vectorPlain), nil)); got != vectorCiphertext {
		t.Errorf("request encrypts to %s, want %s", got, vectorCiphertext)
	}
}

func TestWarningsAreRateLimitedPerOutcome(t *testing.T) {
	var w warnings
	t0 := time.Unix(1000, 0)
	if n, ok := w.allow(OutcomeTimeout, t0); !ok || n != 1 {
		t.Fatalf("first warning: %d, %v", n, ok)
	}
	for i := range 5 {
		if _, ok := w.allow(OutcomeTimeout, t0.Add(time.Duration(i)*time.Second)); ok {
			t.Fatalf("warning %d within the interval was allowed", i)
		}
	}
	if _, ok := w.allow(OutcomeNoResponders, t0); !ok {
		t.Error("another outcome's first warning was held back")
	}
	if n, ok := w.allow(OutcomeTimeout, t0.Add(warnEvery)); !ok || n != 6 {
		t.Errorf("after the interval: %d, %v; want 6 fallbacks counted", n, ok)
	}
}
