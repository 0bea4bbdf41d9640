package gateway_test

import (
	"fmt"
	"log"
	"os"

	"github.com/hooklane/hooklane/flowlane/gateway"
)

func ExampleParsePlatica() {
	body, err := os.ReadFile("testdata/platica_screen_advance.json")
	if err != nil {
		log.Fatal(err)
	}
	req, err := gateway.ParsePlatica(body, "platica")
	if err != nil {
		log.Fatal(err)
	}
	var form struct {
		Product string `json:"selected_product"`
		Email   string `json:"email"`
	}
	if err := req.DecodeData(&form); err != nil {
		log.Fatal(err)
	}
	fmt.Println(req.Action, req.Screen, req.FlowID, req.FlowToken)
	fmt.Println(form.Product, form.Email)
	// Output:
	// data_exchange WELCOME flow_doc_abc ZmxvdyQwMQ==
	// p2 juan@empresa.com
}

func ExampleValidAnswer() {
	for _, answer := range []string{`{"data":{"amount_mxn":499}}`, `{"screen":"PAYMENT"}`, `{"screen":""}`, `[]`} {
		fmt.Println(answer, gateway.ValidAnswer([]byte(answer)))
	}
	// Output:
	// {"data":{"amount_mxn":499}} true
	// {"screen":"PAYMENT"} true
	// {"screen":""} false
	// [] false
}
