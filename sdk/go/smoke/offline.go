package main

// A machine file verified the way shipped software does it: offline, with the standard library's
// crypto/ed25519 and crypto/aes + crypto/cipher only, from the public key (64 hex characters),
// the license key and the machine's fingerprint. The steps and their order are Keygen's
// verifiers' (docs/offline-design.md): armor and envelope, the signature over "machine/" + enc,
// then decryption, then the dates.

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	licentric "licentric/sdk-smoke/generated"
)

// fileRefused says which check refused a file.
type fileRefused struct {
	step    string // envelope, signature, decryption or dates
	message string
}

func (e *fileRefused) Error() string { return e.step + ": " + e.message }

// machineFileDocument is the part of the JSON:API document the smoke reads.
type machineFileDocument struct {
	Data struct {
		Type       string `json:"type"`
		ID         string `json:"id"`
		Attributes struct {
			Fingerprint string `json:"fingerprint"`
		} `json:"attributes"`
	} `json:"data"`
	Meta struct {
		Issued time.Time  `json:"issued"`
		Expiry *time.Time `json:"expiry"`
		TTL    *int64     `json:"ttl"`
	} `json:"meta"`
}

const (
	machineFileBegin = "-----BEGIN MACHINE FILE-----"
	machineFileEnd   = "-----END MACHINE FILE-----"
	// How far `issued` may lie ahead of this clock (keygen-go's MaxClockDrift).
	maxClockDrift = 5 * time.Minute
)

func verifyMachineFile(certificate, publicKeyHex, licenseKey, fingerprint string, now time.Time) (*machineFileDocument, error) {
	armored := strings.TrimSpace(certificate)
	if !strings.HasPrefix(armored, machineFileBegin) || !strings.HasSuffix(armored, machineFileEnd) {
		return nil, &fileRefused{"envelope", "not a machine file"}
	}
	body := strings.Join(strings.Fields(armored[len(machineFileBegin):len(armored)-len(machineFileEnd)]), "")
	decoded, err := base64.StdEncoding.DecodeString(body)
	var envelope struct{ Enc, Sig, Alg string }
	if err != nil || json.Unmarshal(decoded, &envelope) != nil || envelope.Enc == "" || envelope.Sig == "" {
		return nil, &fileRefused{"envelope", "the body is not a certificate"}
	}
	if envelope.Alg != "aes-256-gcm+ed25519" {
		return nil, &fileRefused{"envelope", "unsupported algorithm " + envelope.Alg}
	}

	publicKey, err := hex.DecodeString(publicKeyHex)
	if err != nil || len(publicKey) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("the public key is not 64 hex characters")
	}
	signature, err := base64.StdEncoding.DecodeString(envelope.Sig)
	if err != nil || !ed25519.Verify(publicKey, []byte("machine/"+envelope.Enc), signature) {
		return nil, &fileRefused{"signature", "the file is not what the server signed"}
	}

	parts := strings.SplitN(envelope.Enc, ".", 3)
	if len(parts) != 3 {
		return nil, &fileRefused{"envelope", "enc is not ciphertext.iv.tag"}
	}
	var decodedParts [3][]byte
	for i, part := range parts {
		if decodedParts[i], err = base64.StdEncoding.DecodeString(part); err != nil {
			return nil, &fileRefused{"envelope", "enc is not ciphertext.iv.tag"}
		}
	}
	ciphertext, iv, tag := decodedParts[0], decodedParts[1], decodedParts[2]
	key := sha256.Sum256([]byte(licenseKey + fingerprint))
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil || len(iv) != gcm.NonceSize() || len(tag) != gcm.Overhead() {
		return nil, &fileRefused{"envelope", "enc is not ciphertext.iv.tag"}
	}
	// Go's GCM takes the tag appended to the ciphertext.
	plaintext, err := gcm.Open(nil, iv, append(ciphertext, tag...), nil)
	if err != nil {
		return nil, &fileRefused{"decryption", "another license key or fingerprint"}
	}
	var document machineFileDocument
	if err := json.Unmarshal(plaintext, &document); err != nil {
		return nil, &fileRefused{"envelope", "the payload is not a machine document: " + err.Error()}
	}

	if document.Meta.Issued.Sub(now) > maxClockDrift {
		return nil, &fileRefused{"dates", "issued ahead of this clock"}
	}
	if document.Meta.Expiry != nil && now.After(*document.Meta.Expiry) {
		return nil, &fileRefused{"dates", "expired at " + document.Meta.Expiry.Format(time.RFC3339)}
	}
	return &document, nil
}

// refusalStep is the step at which verifyMachineFile refuses, or "" when it accepts the file.
func refusalStep(err error) string {
	if refused, ok := err.(*fileRefused); ok {
		return refused.step
	}
	if err != nil {
		return "error: " + err.Error()
	}
	return ""
}

// withOneByteChanged is the file with one character of its base64 body changed, so that one
// byte of enc (the ciphertext) changes and the envelope stays well-formed JSON: the refusal must
// then come from the signature, not from a parser. The 16th character of the first line holds
// the low six bits of the envelope's 12th byte, which lies inside enc (`{"enc":"` is 8 bytes);
// flipping the lowest of those bits turns a base64 character into another printable ASCII one.
func withOneByteChanged(certificate string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	lines := strings.Split(certificate, "\n")
	first := []byte(lines[1])
	first[15] = alphabet[strings.IndexByte(alphabet, first[15])^1]
	lines[1] = string(first)
	return strings.Join(lines, "\n")
}

// offlineMachineFile checks out a machine file through the client, saves it, and reads it back
// offline: with only the public key fetched before, the license key and the fingerprint.
func offlineMachineFile(ctx context.Context, baseURL, licenseKey string) {
	asLicense, err := licentric.NewClientWithResponses(baseURL, authorization("License "+licenseKey))
	check(err == nil, "client: %v", err)
	random := make([]byte, 6)
	_, _ = rand.Read(random)
	fingerprint := "sdk-go-offline-" + hex.EncodeToString(random)
	activated, err := asLicense.ActivateMachineWithResponse(ctx, nil, licentric.ActivateMachineRequest{Fingerprint: fingerprint})
	check(err == nil && activated.JSON201 != nil, "activate: %v %s", err, activated.Body)
	machine := activated.JSON201.Data

	// Fetched while online, as shipped software bakes the key in: no authentication needed.
	anonymous, err := licentric.NewClientWithResponses(baseURL)
	check(err == nil, "client: %v", err)
	keys, err := anonymous.ListSigningKeysWithResponse(ctx, nil)
	check(err == nil && keys.JSON200 != nil, "signing keys: %v %s", err, keys.Body)
	ttl := int32(86400)
	checkedOut, err := asLicense.CheckOutMachineWithResponse(ctx, machine.Id, nil, licentric.CheckOutRequest{Ttl: &ttl})
	check(err == nil && checkedOut.JSON200 != nil, "check out: %v %s", err, checkedOut.Body)
	file := checkedOut.JSON200.Data
	check(file.Algorithm == "aes-256-gcm+ed25519", "a machine file checked out with the license key is encrypted: %s", file.Algorithm)
	publicKey := ""
	for _, key := range keys.JSON200.Data {
		if key.Id == file.KeyId {
			publicKey = key.PublicKey
		}
	}
	check(publicKey != "", "the file's key %s is published", file.KeyId)
	dir, err := os.MkdirTemp("", "licentric-smoke-")
	check(err == nil, "temporary folder: %v", err)
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, machine.Id.String()+".lic")
	check(os.WriteFile(path, []byte(file.Certificate), 0o600) == nil, "save %s", path)
	fmt.Printf("checked out %s (key %s, expires %v)\n", path, file.KeyId, file.Expiry)

	// Offline from here: the file, the public key, the license key and the fingerprint.
	saved, err := os.ReadFile(path)
	check(err == nil, "read %s: %v", path, err)
	document, err := verifyMachineFile(string(saved), publicKey, licenseKey, fingerprint, time.Now())
	check(err == nil, "verify offline: %v", err)
	check(document.Data.Type == "machines" && document.Data.ID == machine.Id.String(), "the file is machine %s", document.Data.ID)
	check(document.Data.Attributes.Fingerprint == fingerprint, "the file names the fingerprint")
	check(document.Meta.TTL != nil && *document.Meta.TTL == int64(ttl), "the file's ttl is %v", document.Meta.TTL)
	check(document.Meta.Expiry != nil && file.Expiry != nil && document.Meta.Expiry.Equal(*file.Expiry),
		"the file expires at %v, the check-out said %v", document.Meta.Expiry, file.Expiry)
	fmt.Println("verified offline: machine", document.Data.ID, "expires", document.Meta.Expiry.Format(time.RFC3339))

	_, changed := verifyMachineFile(withOneByteChanged(string(saved)), publicKey, licenseKey, fingerprint, time.Now())
	check(refusalStep(changed) == "signature", "a copy with one byte changed must fail its signature: %v", changed)
	_, elsewhere := verifyMachineFile(string(saved), publicKey, licenseKey, fingerprint+"-other", time.Now())
	check(refusalStep(elsewhere) == "decryption", "another fingerprint must not decrypt it: %v", elsewhere)
	fmt.Printf("refused: one byte changed (%v); another fingerprint (%v)\n", changed, elsewhere)

	deactivated, err := asLicense.DeactivateMachineWithResponse(ctx, machine.Id, nil)
	check(err == nil && deactivated.JSON200 != nil && deactivated.JSON200.Data.Deleted, "deactivate: %v %s", err, deactivated.Body)
}
