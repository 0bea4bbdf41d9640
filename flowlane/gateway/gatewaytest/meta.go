// Package gatewaytest plays Meta's side of the encrypted WhatsApp Flows
// protocol, for tests of a flow endpoint: it seals a request as Meta does
// and opens the endpoint's answer.
package gatewaytest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// Seal returns the body Meta sends for the request plain: plain encrypted
// with AES-GCM under key and iv (a 16-byte nonce, the tag appended), and
// key wrapped for pub with RSA-OAEP (SHA-256), all base64 in JSON.
func Seal(pub *rsa.PublicKey, key, iv, plain []byte) ([]byte, error) {
	gcm, err := newGCM(key, len(iv))
	if err != nil {
		return nil, err
	}
	wrapped, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, key, nil)
	if err != nil {
		return nil, fmt.Errorf("gatewaytest: wrap key: %w", err)
	}
	return json.Marshal(map[string]string{
		"encrypted_flow_data": base64.StdEncoding.EncodeToString(gcm.Seal(nil, iv, plain, nil)),
		"encrypted_aes_key":   base64.StdEncoding.EncodeToString(wrapped),
		"initial_vector":      base64.StdEncoding.EncodeToString(iv),
	})
}

// Open decrypts an answer to a request sealed under key and iv: base64 of
// AES-GCM under the same key with the flipped IV (every byte XOR 0xFF).
func Open(key, iv, answer []byte) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(string(answer))
	if err != nil {
		return nil, fmt.Errorf("gatewaytest: answer is not base64: %w", err)
	}
	flipped := make([]byte, len(iv))
	for i, b := range iv {
		flipped[i] = ^b
	}
	gcm, err := newGCM(key, len(iv))
	if err != nil {
		return nil, err
	}
	plain, err := gcm.Open(nil, flipped, raw, nil)
	if err != nil {
		return nil, fmt.Errorf("gatewaytest: answer does not open with the flipped IV: %w", err)
	}
	return plain, nil
}

func newGCM(key []byte, nonceSize int) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("gatewaytest: %w", err)
	}
	return cipher.NewGCMWithNonceSize(block, nonceSize)
}
