package flowlane_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/hooklane/hooklane/flowlane"
	"github.com/hooklane/hooklane/flowlane/gateway"
)

// A responder serves one screen of a flow; hooklane's side asks it through
// an Exchanger.
func ExampleResponder() {
	// In production: nc, err := nats.Connect("nats://nats:4222").
	nc, stopNATS := embeddedNATS()
	defer stopNATS()

	r := flowlane.NewResponder(nc, flowlane.ResponderConfig{})
	r.Handle("platica", "*", func(ctx context.Context, req *flowlane.Request) (*flowlane.Response, error) {
		var in struct {
			Email string `json:"email"`
		}
		if err := req.DecodeData(&in); err != nil {
			return nil, err
		}
		if in.Email == "" {
			return flowlane.StayWithError(req.Screen, "Escribe tu correo."), nil
		}
		return flowlane.Screen("PAYMENT", map[string]any{"email": in.Email, "amount_mxn": 499}), nil
	})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	<-r.Ready()

	// hooklane's side, for a flow request that has arrived over HTTP.
	x := gateway.NewExchanger(nc, gateway.ExchangerConfig{})
	for _, data := range []string{`{"email":"juan@empresa.com"}`, `{}`} {
		req := &flowlane.Request{Action: flowlane.ActionDataExchange, Source: "platica", FlowID: "flow_doc_abc", Screen: "WELCOME", Data: json.RawMessage(data)}
		res := x.Exchange(ctx, req, gateway.Budget{Total: 5 * time.Second})
		fmt.Println(res.Outcome, string(res.Answer))
	}

	stop()
	fmt.Println("stopped:", <-done)
	// Output:
	// answered {"screen":"PAYMENT","data":{"amount_mxn":499,"email":"juan@empresa.com"}}
	// answered {"screen":"WELCOME","data":{"error_message":"Escribe tu correo."}}
	// stopped: <nil>
}

func ExampleComplete() {
	resp := flowlane.Complete("ZmxvdyQwMQ==", map[string]any{"selected_product": "p2", "amount_mxn": 499})
	b, _ := json.Marshal(resp)
	fmt.Println(string(b))
	// Output:
	// {"screen":"SUCCESS","data":{"extension_message_response":{"params":{"amount_mxn":499,"flow_token":"ZmxvdyQwMQ==","selected_product":"p2"}}}}
}

func ExampleStayWithError() {
	b, _ := json.Marshal(flowlane.StayWithError("WELCOME", "El código postal no es válido"))
	fmt.Println(string(b))
	// Output:
	// {"screen":"WELCOME","data":{"error_message":"El código postal no es válido"}}
}

func ExampleFlowTokenInvalid() {
	handler := func(ctx context.Context, req *flowlane.Request) (*flowlane.Response, error) {
		return nil, flowlane.FlowTokenInvalid("Tu sesión expiró. Abre el flow de nuevo.")
	}
	_, err := handler(context.Background(), &flowlane.Request{})
	fmt.Println(errors.Is(err, flowlane.ErrFlowTokenInvalid))
	// Output:
	// true
}

// embeddedNATS starts an in-process NATS server for the examples.
func embeddedNATS() (*nats.Conn, func()) {
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true})
	if err != nil {
		log.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		log.Fatal("nats-server not ready")
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		log.Fatal(err)
	}
	return nc, func() {
		nc.Close()
		srv.Shutdown()
		srv.WaitForShutdown()
	}
}
