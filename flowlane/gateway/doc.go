// Package gateway is the server side of hooklane's flow lane: it answers
// WhatsApp Flows requests within their provider's budget by asking the
// responders written with package flowlane.
//
// A [Gateway] answers Platica's whatsapp.flows.* deliveries for ingest
// ([Gateway.AnswerFlow]) and serves POST /flows/{source} as a WhatsApp
// Flows data endpoint, in plain JSON or in Meta's encrypted form
// ([DecryptRequest], [Session.EncryptResponse]). It parses each call into a
// flowlane.Request ([ParsePlatica], [ParseEndpoint]), and an [Exchanger]
// sends it on flowlane.Subject and waits until the deadline its [Budget]
// leaves. When no valid answer ([ValidAnswer]) arrives in time, the answer
// is the source's fallback ([Fallback] unless configured). Every exchange is
// counted, and handed to a [Recorder] as a hooklane.FlowExchange.
package gateway
