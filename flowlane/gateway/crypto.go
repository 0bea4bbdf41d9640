package gateway

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
)

// ErrDecrypt reports a request to Meta's encrypted endpoint that cannot be
// decrypted. Answer it with HTTP 421: Meta then refetches the public key and
// retries.
var ErrDecrypt = errors.New("flowlane: cannot decrypt flow request")

// ivSize is the size of Meta's initial vector, used whole as the GCM nonce.
const ivSize = 16

// LoadPrivateKey reads the RSA private key whose public half is uploaded to
// Meta, from PEM: PKCS#1 ("RSA PRIVATE KEY") or PKCS#8 ("PRIVATE KEY").
// A legacy encrypted PEM block (Proc-Type: 4,ENCRYPTED, as written by
// `openssl genrsa -aes256`) is decrypted with passphrase. Encrypted PKCS#8
// ("ENCRYPTED PRIVATE KEY") is not supported, as the standard library cannot
// read it: convert such a key with `openssl pkey -traditional` or
// `openssl pkcs8 -nocrypt`.
func LoadPrivateKey(pemBytes []byte, passphrase string) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("flowlane: private key: no PEM block")
	}
	if block.Type == "ENCRYPTED PRIVATE KEY" {
		return nil, errors.New("flowlane: private key: encrypted PKCS#8 is not supported; convert it with openssl pkey -traditional")
	}
	der := block.Bytes
	// Legacy PEM encryption is deprecated in crypto/x509, being weak (no
	// integrity check: a wrong passphrase may go unnoticed until parsing),
	// but it is what `openssl genrsa -aes256` writes and the only encrypted
	// form the standard library reads.
	//lint:ignore SA1019 deliberate, see above
	if x509.IsEncryptedPEMBlock(block) {
		if passphrase == "" {
			return nil, errors.New("flowlane: private key is encrypted and no passphrase is set")
		}
		var err error
		//lint:ignore SA1019 deliberate, see above
		if der, err = x509.DecryptPEMBlock(block, []byte(passphrase)); err != nil {
			return nil, fmt.Errorf("flowlane: private key: %w", err)
		}
	}
	if key, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return key, nil
	}
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("flowlane: private key: neither PKCS#1 nor PKCS#8: %w", err)
	}
	rsaKey, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("flowlane: private key is %T, not RSA", key)
	}
	return rsaKey, nil
}

// A Session encrypts the response to one request decrypted by
// [DecryptRequest].
type Session struct {
	aead cipher.AEAD
	iv   [ivSize]byte // the request's IV, flipped
	// id is the SHA-256 of the request's AES key and IV: two requests
	// with the same id would have their answers sealed under one nonce.
	id [sha256.Size]byte
}

// DecryptRequest decrypts a request to Meta's encrypted flow endpoint: the
// AES key with RSA-OAEP (SHA-256, empty label), then the flow data with
// AES-GCM under the request's 16-byte IV. Every failure wraps [ErrDecrypt].
func DecryptRequest(priv *rsa.PrivateKey, body []byte) (plain []byte, s *Session, err error) {
	var in struct {
		Data string `json:"encrypted_flow_data"`
		Key  string `json:"encrypted_aes_key"`
		IV   string `json:"initial_vector"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrDecrypt, err)
	}
	data, err1 := base64.StdEncoding.DecodeString(in.Data)
	encKey, err2 := base64.StdEncoding.DecodeString(in.Key)
	iv, err3 := base64.StdEncoding.DecodeString(in.IV)
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, nil, fmt.Errorf("%w: base64: %v", ErrDecrypt, err)
	}
	key, err := rsa.DecryptOAEP(sha256.New(), nil, priv, encKey, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: aes key: %v", ErrDecrypt, err)
	}
	return open(key, iv, data)
}

// open decrypts the flow data under the AES key and IV of a request.
func open(key, iv, data []byte) ([]byte, *Session, error) {
	if len(iv) != ivSize {
		return nil, nil, fmt.Errorf("%w: initial vector is %d bytes, want %d", ErrDecrypt, len(iv), ivSize)
	}
	// Meta's key is 16 bytes (AES-128); aes.NewCipher takes 16, 24 or 32.
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrDecrypt, err)
	}
	aead, err := cipher.NewGCMWithNonceSize(block, ivSize)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrDecrypt, err)
	}
	plain, err := aead.Open(nil, iv, data, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: flow data: %v", ErrDecrypt, err)
	}
	s := &Session{aead: aead, id: sha256.Sum256(append(append([]byte{}, key...), iv...))}
	for i, b := range iv {
		s.iv[i] = b ^ 0xff
	}
	return plain, s, nil
}

// EncryptResponse encrypts the answer to the session's request, under the
// request's key and flipped IV, and returns it base64-encoded: the body to
// send with Content-Type text/plain. The nonce is fixed per session, so call
// it once: two responses under one nonce would expose both.
func (s *Session) EncryptResponse(plain []byte) string {
	return base64.StdEncoding.EncodeToString(s.aead.Seal(nil, s.iv[:], plain, nil))
}
