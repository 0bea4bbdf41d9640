// Package flowlane answers WhatsApp Flows requests synchronously, by asking
// responder services over NATS request-reply, and is the SDK for writing
// those responders.
//
// A provider (Platica, or Meta itself on an encrypted endpoint) calls
// hooklane when a user opens, advances or goes back in a flow, and waits a
// short time for the next screen. hooklane parses the call into a [Request]
// ([ParsePlatica], [ParseEndpoint], after [DecryptRequest] for Meta) and an
// [Exchanger] sends it to the responders, which answer with a [Response].
// When no valid answer arrives before the deadline, hooklane answers with
// [Fallback] instead, so the provider always gets an answer in time.
//
// A responder registers a [HandlerFunc] per source and flow on a
// [Responder] and runs it; replicas share the load in a queue group:
//
//	r := flowlane.NewResponder(nc, flowlane.ResponderConfig{})
//	r.Handle("platica", "*", func(ctx context.Context, req *flowlane.Request) (*flowlane.Response, error) {
//		return flowlane.Screen("WELCOME", map[string]any{"name": "Juan"}), nil
//	})
//	err := r.Run(ctx)
//
// # Wire protocol
//
// A request is a NATS message on <prefix>.flows.<source>.<flow id>.<action>
// (see [FlowSubject]) whose data is the [Request] as JSON and whose
// [HeaderDeadline] is the absolute deadline. The reply's data is the answer,
// a JSON object. A failed responder replies with empty data and
// [HeaderError] (and [HeaderErrorCode]), so hooklane falls back at once
// rather than at the deadline. Responders in any language can speak it.
//
// [FlowSubject]: https://pkg.go.dev/github.com/hooklane/hooklane/internal/delivery#FlowSubject
package flowlane
