package hooklane

import (
	"strconv"

	"github.com/nats-io/nats.go"
)

// Headers a redriven dead letter carries, so that the worker that takes it
// can report what became of it.
const (
	HeaderRedriveOf      = "Hooklane-Redrive-Of"      // the dead letter's id
	HeaderRedriveAttempt = "Hooklane-Redrive-Attempt" // its redrive count when sent
)

// RedriveOf returns the dead letter id and attempt a message's headers name,
// or zeros when it is no redrive.
func RedriveOf(h nats.Header) (id int64, attempt int) {
	id, err := strconv.ParseInt(h.Get(HeaderRedriveOf), 10, 64)
	if err != nil || id <= 0 {
		return 0, 0
	}
	attempt, _ = strconv.Atoi(h.Get(HeaderRedriveAttempt))
	return id, attempt
}

// RedriveMsgID is the JetStream message id of a redrive: unique to the
// attempt, so that JetStream's duplicate window never drops a redrive as a
// repeat of the original publish or of an earlier redrive. Postgres' unique
// keys keep a redrive of something stored from storing it twice.
func RedriveMsgID(deadLetterID int64, attempt int) string {
	return "redrive:" + strconv.FormatInt(deadLetterID, 10) + ":" + strconv.Itoa(attempt)
}
