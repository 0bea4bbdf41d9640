package flowlane

import "github.com/hooklane/hooklane"

// Subject is the subject a flow request is sent on:
// <prefix>.flows.<source>.<flow id>.<action>, each part made a safe subject
// token (see [hooklane.Token]). Responders subscribe to the same layout.
func Subject(prefix, source, flowID, action string) string {
	return subject(prefix, hooklane.Token(source), hooklane.Token(flowID), hooklane.Token(action))
}

// subject joins tokens that are safe already, or wildcards, in Subject's
// layout.
func subject(prefix, source, flow, action string) string {
	return prefix + ".flows." + source + "." + flow + "." + action
}
