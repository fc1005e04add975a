package main

// A signed answer, asked for through the client's typed Accept-Signature parameter and checked
// with the standard library alone: the Content-Digest against the body bytes, the nonce echoed
// in the body, and the Ed25519 signature over the RFC 9421 signature base.

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	licentric "licentric/sdk-smoke/generated"
)

const acceptSignature = `sig1=("@status" "content-type" "content-digest" "@method";req "@path";req "@query";req);alg="ed25519"`

var keyIDParameter = regexp.MustCompile(`;keyid="([^"\\]*)"`)

// signatureBase is RFC 9421 §2.5's signature base for the components this server covers, taken
// from the response and the request it answered; an unknown component is an error, not skipped.
func signatureBase(response *http.Response, signatureParams string) (string, error) {
	open, end := strings.IndexByte(signatureParams, '('), strings.IndexByte(signatureParams, ')')
	if open != 0 || end < 0 {
		return "", fmt.Errorf("Signature-Input is not an inner list: %s", signatureParams)
	}
	lines := []string{}
	for _, component := range strings.Fields(signatureParams[1:end]) {
		var value string
		switch component {
		case `"@status"`:
			value = strconv.Itoa(response.StatusCode)
		case `"content-type"`, `"content-digest"`:
			value = strings.TrimSpace(response.Header.Get(strings.Trim(component, `"`)))
		case `"@method";req`:
			value = strings.ToUpper(response.Request.Method)
		case `"@path";req`:
			value = response.Request.URL.EscapedPath()
		case `"@query";req`:
			value = "?" + response.Request.URL.RawQuery
		default:
			return "", fmt.Errorf("unexpected covered component %s", component)
		}
		lines = append(lines, component+": "+value)
	}
	return strings.Join(append(lines, `"@signature-params": `+signatureParams), "\n"), nil
}

// signedValidation validates the license key with a nonce and an Accept-Signature, and checks
// that the answer is the one the server signed for this request.
func signedValidation(ctx context.Context, baseURL, licenseKey string) {
	asLicense, err := licentric.NewClientWithResponses(baseURL, authorization("License "+licenseKey))
	check(err == nil, "client: %v", err)
	random := make([]byte, 8)
	_, _ = rand.Read(random)
	nonceText := "sdk-go-" + hex.EncodeToString(random)
	var nonce licentric.ValidationNonce
	check(nonce.FromNonceText(nonceText) == nil, "nonce")
	signature := acceptSignature
	answer, err := asLicense.ValidateLicenseWithResponse(ctx, &licentric.ValidateLicenseParams{AcceptSignature: &signature},
		licentric.ValidateLicenseRequest{Nonce: &nonce})
	check(err == nil && answer.JSON200 != nil, "signed validate: %v %s", err, answer.Body)
	check(answer.JSON200.Data.Valid, "the smoke license validates: %s", answer.JSON200.Data.Code)
	check(answer.JSON200.Meta != nil, "the answer echoes the nonce: %s", answer.Body)
	echoed, err := answer.JSON200.Meta.Nonce.AsNonceText()
	check(err == nil && echoed == nonceText, "meta.nonce is %q, sent %q", echoed, nonceText)

	header := answer.HTTPResponse.Header
	digest := sha256.Sum256(answer.Body)
	wantDigest := "sha-256=:" + base64.StdEncoding.EncodeToString(digest[:]) + ":"
	check(header.Get("Content-Digest") == wantDigest, "Content-Digest is %q, the body's is %q", header.Get("Content-Digest"), wantDigest)
	input, signed := header.Get("Signature-Input"), header.Get("Signature")
	check(strings.HasPrefix(input, "sig1=") && strings.HasSuffix(input, `;alg="ed25519"`), "Signature-Input: %q", input)
	check(strings.HasPrefix(signed, "sig1=:") && strings.HasSuffix(signed, ":"), "Signature: %q", signed)

	keyID := keyIDParameter.FindStringSubmatch(input)
	check(keyID != nil, "Signature-Input names no keyid: %q", input)
	anonymous, err := licentric.NewClientWithResponses(baseURL)
	check(err == nil, "client: %v", err)
	keys, err := anonymous.ListSigningKeysWithResponse(ctx, nil)
	check(err == nil && keys.JSON200 != nil, "signing keys: %v %s", err, keys.Body)
	var publicKey ed25519.PublicKey
	for _, key := range keys.JSON200.Data {
		if key.Id.String() == keyID[1] {
			publicKey, err = hex.DecodeString(key.PublicKey)
			check(err == nil && len(publicKey) == ed25519.PublicKeySize, "public key %s", key.PublicKey)
		}
	}
	check(publicKey != nil, "the signing key %s is published", keyID[1])
	base, err := signatureBase(answer.HTTPResponse, strings.TrimPrefix(input, "sig1="))
	check(err == nil, "signature base: %v", err)
	signatureBytes, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(strings.TrimPrefix(signed, "sig1=:"), ":"))
	check(err == nil, "Signature is not base64: %q", signed)
	check(ed25519.Verify(publicKey, []byte(base), signatureBytes), "the signature does not verify over:\n%s", base)
	// The same check must refuse an answer recorded for another nonce.
	otherBody := strings.Replace(base, header.Get("Content-Digest"), "sha-256=:"+base64.StdEncoding.EncodeToString(make([]byte, 32))+":", 1)
	check(!ed25519.Verify(publicKey, []byte(otherBody), signatureBytes), "a signature must not verify over another body's digest")
	fmt.Printf("signed validation: %s, nonce %s, key %s\n", answer.JSON200.Data.Code, echoed, keyID[1])
}
