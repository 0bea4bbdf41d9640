// Package demo holds an example responder: the "Cotizador" (quote) flow of
// Platica's WhatsApp Flows documentation, in Spanish as its users in Mexico
// see it.
//
// The flow has two screens. WELCOME offers the plans and asks for an email;
// PAYMENT shows the price and, once confirmed, completes the flow.
package demo

import (
	"context"
	"fmt"
	"net/mail"

	"github.com/hooklane/hooklane/flowlane"
)

type plan struct {
	id, title string
	priceMXN  int
}

var plans = []plan{
	{id: "p1", title: "Plan Básico", priceMXN: 199},
	{id: "p2", title: "Plan Premium", priceMXN: 499},
}

// RegisterCotizador registers the Cotizador on r for every flow of source.
func RegisterCotizador(r *flowlane.Responder, source string) {
	r.Handle(source, "*", cotizador)
}

func cotizador(_ context.Context, req *flowlane.Request) (*flowlane.Response, error) {
	switch req.Action {
	case flowlane.ActionInit, flowlane.ActionBack:
		// BACK can only come from PAYMENT: restore WELCOME's data.
		return welcome(""), nil
	case flowlane.ActionDataExchange:
	default:
		return nil, fmt.Errorf("cotizador: unexpected action %q", req.Action)
	}

	var in struct {
		Product string `json:"selected_product"`
		Email   string `json:"email"`
	}
	if err := req.DecodeData(&in); err != nil {
		return welcome("No pudimos leer tus datos. Inténtalo de nuevo."), nil
	}
	p, ok := findPlan(in.Product)
	if !ok {
		return welcome("Elige uno de los planes disponibles."), nil
	}
	switch req.Screen {
	case "WELCOME":
		if !validEmail(in.Email) {
			return welcome("Escribe un correo electrónico válido."), nil
		}
		return flowlane.Screen("PAYMENT", map[string]any{
			"amount_mxn":       p.priceMXN,
			"selected_product": p.id,
			"email":            in.Email,
		}), nil
	case "PAYMENT":
		// The price comes from the catalogue, never from the client.
		return flowlane.Complete(req.FlowToken, map[string]any{
			"selected_product": p.id,
			"amount_mxn":       p.priceMXN,
		}), nil
	default:
		return nil, fmt.Errorf("cotizador: unknown screen %q", req.Screen)
	}
}

// welcome is the WELCOME screen with its plans and, if set, an error.
func welcome(errorMessage string) *flowlane.Response {
	products := make([]map[string]any, len(plans))
	for i, p := range plans {
		products[i] = map[string]any{"id": p.id, "title": p.title}
	}
	resp := flowlane.Screen("WELCOME", map[string]any{"products": products})
	if errorMessage != "" {
		resp.Data["error_message"] = errorMessage
	}
	return resp
}

func findPlan(id string) (plan, bool) {
	for _, p := range plans {
		if p.id == id {
			return p, true
		}
	}
	return plan{}, false
}

// validEmail accepts a bare address, such as juan@empresa.com.
func validEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s
}
