package storage

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hooklane/hooklane"
)

// FuzzMergeOrderFree checks the Go side of the merges: the facts a fuzzed
// byte string describes give the same rows whatever their order, merged
// twice or once. (The property test checks that SQL's merges agree.) A
// message's own fact and its conversation are one per message, as event keys
// make them.
func FuzzMergeOrderFree(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	f.Add([]byte("statuses out of order, edits, names"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var facts []newFact
		for i := 0; i+3 < len(data) && len(facts) < 24; i += 4 {
			facts = append(facts, fuzzFact(data[i:i+4]))
		}
		want := mergedRows(facts)
		reversed := make([]newFact, len(facts))
		for i, f := range facts {
			reversed[len(facts)-1-i] = f
		}
		if got := mergedRows(reversed); got != want {
			t.Fatalf("reversed order:\n got %s\nwant %s", got, want)
		}
		if got := mergedRows(append(append([]newFact{}, facts...), reversed...)); got != want {
			t.Fatalf("every fact twice:\n got %s\nwant %s", got, want)
		}
		// In two batches merged with each other, as the upsert does.
		half := len(facts) / 2
		a, b := batchOf(facts[:half]), batchOf(facts[half:])
		for k, r := range b.messages {
			if old, ok := a.messages[k]; ok {
				mergeMessage(old, r)
			} else {
				a.messages[k] = r
			}
		}
		for k, r := range b.contacts {
			if old, ok := a.contacts[k]; ok {
				mergeContact(old, r)
			} else {
				a.contacts[k] = r
			}
		}
		for k, r := range b.conversations {
			if old, ok := a.conversations[k]; ok {
				mergeConversation(old, r)
			} else {
				a.conversations[k] = r
			}
		}
		if got := describeBatch(a); got != want {
			t.Fatalf("two batches:\n got %s\nwant %s", got, want)
		}
	})
}

var fuzzStatuses = []string{"", "pending", "sent", "received", "failed", "delivered", "read", "played"}

// fuzzFact is one of a few facts about two messages, two contacts and two
// conversations, chosen by b.
func fuzzFact(b []byte) newFact {
	at := time.Unix(1700000000+int64(b[1]%4)*60, 0).UTC()
	msg := int(b[2] % 2)
	f := hooklane.Fact{
		At:             at,
		MessageID:      fmt.Sprintf("m%d", msg),
		ConversationID: fmt.Sprintf("c%d", msg),
		Contact:        hooklane.Contact{ID: fmt.Sprintf("k%d", b[3]%2), Name: []string{"", "Ana", "Beto"}[b[3]/2%3]},
	}
	switch b[0] % 6 {
	case 0:
		f.Kind, f.Direction, f.Status = hooklane.FactMessage, "in", "received"
		f.At = time.Unix(1700000000-int64(msg), 0).UTC() // one message fact per message
		f.Message = hooklane.Message{Type: "text", Text: fmt.Sprintf("text %d", msg)}
	case 1:
		f.Kind, f.Direction = hooklane.FactStatus, "out"
		f.Status = fuzzStatuses[b[3]%byte(len(fuzzStatuses))]
		if f.Status == "failed" {
			f.Error = json.RawMessage(`[{"code":` + fmt.Sprint(b[1]%2) + `}]`)
		}
	case 2:
		f.Kind, f.Text = hooklane.FactEdit, fmt.Sprintf("edit %d", b[3]%3)
	case 3:
		f.Kind = hooklane.FactDelete
	case 4:
		f.Kind, f.MessageID, f.ConversationID = hooklane.FactContact, "", ""
	case 5:
		f.Kind, f.MessageID = hooklane.FactConversation, ""
		f.Conversation = hooklane.Conversation{Status: []string{"", "open", "closed"}[b[3]%3], Tags: json.RawMessage(`["t` + fmt.Sprint(b[3]%2) + `"]`)}
	}
	return newFact{source: "s", provider: "p", account: "a", received: time.Unix(1800000000, 0), fact: &f}
}

func batchOf(facts []newFact) *modelBatch {
	b := newModelBatch()
	for _, f := range facts {
		b.add(f)
	}
	return b
}

func mergedRows(facts []newFact) string { return describeBatch(batchOf(facts)) }

// describeBatch prints a batch's rows in key order.
func describeBatch(b *modelBatch) string {
	out := ""
	for _, k := range sortedKeys(b.messages) {
		out += fmt.Sprintf("%v=%+v\n", k, *b.messages[k])
	}
	for _, k := range sortedKeys(b.contacts) {
		out += fmt.Sprintf("%v=%+v\n", k, *b.contacts[k])
	}
	for _, k := range sortedKeys(b.conversations) {
		out += fmt.Sprintf("%v=%+v\n", k, *b.conversations[k])
	}
	return out
}

func sortedKeys[K comparable, V any](m map[K]V) []K {
	return slices.SortedFunc(maps.Keys(m), func(a, b K) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
}
