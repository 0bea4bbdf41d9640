// Package flowlane is the SDK for writing WhatsApp Flows responders: the
// services that hooklane asks, over NATS request-reply, for the next screen
// of a flow. It depends on the standard library, nats.go and the root
// hooklane package alone, so a responder in a module of its own pulls in
// nothing else.
//
// A provider (Platica, or Meta itself on an encrypted endpoint) calls
// hooklane when a user opens, advances or goes back in a flow, and waits a
// short time for the next screen. hooklane's flow gateway
// (package flowlane/gateway) turns the call into a [Request] and asks the
// responders, which answer with a [Response]. When no valid answer arrives
// before the deadline, the gateway answers with its fallback instead, so the
// provider always gets an answer in time.
//
// A responder registers a [HandlerFunc] per source and flow on a
// [Responder] and runs it; replicas share the load in a queue group:
//
//	nc, err := nats.Connect("nats://TOKEN@hooklane-nats:4222") // the token of nats.token, if set
//	r := flowlane.NewResponder(nc, flowlane.ResponderConfig{})
//	r.Handle("platica", "*", func(ctx context.Context, req *flowlane.Request) (*flowlane.Response, error) {
//		return flowlane.Screen("WELCOME", map[string]any{"name": "Juan"}), nil
//	})
//	err := r.Run(ctx)
//
// # Wire protocol
//
// A request is a NATS message on <prefix>.flows.<source>.<flow id>.<action>
// (see [Subject]) whose data is the [Request] as JSON and whose
// [HeaderDeadline] is the absolute deadline. The reply's data is the answer,
// a JSON object. A failed responder replies with empty data and
// [HeaderError] (and [HeaderErrorCode]), so hooklane falls back at once
// rather than at the deadline. Responders in any language can speak it.
//
// # Why not nats.go's micro
//
// The Responder is built on plain queue subscriptions rather than on
// nats.go's micro services (service discovery, `nats micro info/stats`).
// The budget (the deadline header) and the queue group would carry over,
// but tried against nats.go v1.55's micro package, three things responders
// rely on would not:
//   - Routing. A Responder's registrations overlap ("platica"/"*" and
//     "platica"/"flow_a" both match a flow_a request) and the most specific
//     one wins. Subscriptions of one queue group that match a message
//     receive it once between them, so with a micro endpoint per
//     registration, in one queue group, 101 of 200 flow_a requests went to
//     the "*" endpoint's handler. The Responder would have to route by
//     subject itself whatever it subscribed with.
//   - Concurrency and stop. A micro endpoint calls its handler on the
//     subscription's goroutine: four requests sent at once ran one at a
//     time. Service.Stop returned 25 µs after it was called while a handler
//     was still running; Run serves each request in a goroutine of its own
//     and returns only once the requests already delivered are answered.
//   - The wire. micro reports failures in Nats-Service-Error and
//     Nats-Service-Error-Code; responders written in other languages speak
//     [HeaderError] and [HeaderErrorCode], which the gateway reads.
package flowlane
