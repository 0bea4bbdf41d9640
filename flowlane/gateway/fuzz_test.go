package gateway_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hooklane/hooklane/flowlane"
	"github.com/hooklane/hooklane/flowlane/gateway"
)

// addTestdata seeds f with the testdata files matching pattern.
func addTestdata(f *testing.F, pattern string) {
	files, err := filepath.Glob(filepath.Join("testdata", pattern))
	if err != nil || len(files) == 0 {
		f.Fatalf("no testdata matches %s: %v", pattern, err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// checkParsed holds for every parser: an error is ErrMalformed, and a
// request has a known action and can be sent to responders.
func checkParsed(t *testing.T, req *flowlane.Request, err error) {
	if err != nil {
		if !errors.Is(err, gateway.ErrMalformed) || req != nil {
			t.Fatalf("got %v, %v; want nil, ErrMalformed", req, err)
		}
		return
	}
	switch req.Action {
	case flowlane.ActionInit, flowlane.ActionDataExchange, flowlane.ActionBack, flowlane.ActionPing, flowlane.ActionError:
	default:
		t.Fatalf("action %q", req.Action)
	}
	if _, err := json.Marshal(req); err != nil {
		t.Fatalf("request cannot be encoded: %v", err)
	}
}

func FuzzParseEndpoint(f *testing.F) {
	addTestdata(f, "endpoint_*.json")
	f.Add([]byte(`{"action":"data_exchange","data":{"error":7,"error_message":"x"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := gateway.ParseEndpoint(body, "meta")
		checkParsed(t, req, err)
	})
}

func FuzzParsePlatica(f *testing.F) {
	addTestdata(f, "platica_*.json")
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := gateway.ParsePlatica(body, "platica")
		checkParsed(t, req, err)
	})
}

func FuzzDecryptRequest(f *testing.F) {
	priv := testKey()
	f.Add(metaRequest(f, &priv.PublicKey).json())
	f.Add([]byte(`{"encrypted_flow_data":"","encrypted_aes_key":"","initial_vector":""}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		plain, s, err := gateway.DecryptRequest(priv, body)
		if err != nil {
			if !errors.Is(err, gateway.ErrDecrypt) || plain != nil || s != nil {
				t.Fatalf("got %q, %v, %v; want nil, nil, ErrDecrypt", plain, s, err)
			}
			return
		}
		s.EncryptResponse(plain)
	})
}
