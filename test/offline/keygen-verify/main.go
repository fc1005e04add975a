// Command keygen-verify reads a machine or license file and checks it step by step as
// keygen-go v3 (Keygen's Go SDK) does in MachineFile/LicenseFile Verify and Decrypt: the same
// armor trimming, base64 and JSON decoding, the signature over "<kind>/<enc>" with a 64-hex
// Ed25519 public key, AES-256-GCM under SHA-256 of the secret, and the payload decoded into
// structs with the field types of keygen-go's Machine, License and Entitlement, so an
// attribute of the wrong type fails here as it would there. It shares no code with
// src/offline/: it is the independent side of test/offline-format.test.ts.
//
// Usage: keygen-verify -kind machine|license -file F -public-key HEX [-license-key K] [-fingerprint F]
// Prints what the file holds as JSON and exits 0, or prints the refusal and exits 1.
package main

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

// keygen-go's MaxClockDrift default.
const maxClockDrift = 5 * time.Minute

// ISO 8601 in UTC with milliseconds, as the files write their dates.
const isoMillis = "2006-01-02T15:04:05.000Z07:00"

type certificate struct {
	Enc string `json:"enc"`
	Sig string `json:"sig"`
	Alg string `json:"alg"`
}

type identifier struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

type resource struct {
	Type          string                     `json:"type"`
	ID            string                     `json:"id"`
	Attributes    json.RawMessage            `json:"attributes"`
	Relationships map[string]json.RawMessage `json:"relationships"`
}

// Field types as keygen-go's Machine.
type machineAttributes struct {
	Name              string                 `json:"name"`
	Fingerprint       string                 `json:"fingerprint"`
	Hostname          string                 `json:"hostname"`
	Platform          string                 `json:"platform"`
	Cores             int                    `json:"cores"`
	HeartbeatStatus   string                 `json:"heartbeatStatus"`
	HeartbeatDuration int                    `json:"heartbeatDuration"`
	Created           time.Time              `json:"created"`
	Updated           time.Time              `json:"updated"`
	Metadata          map[string]interface{} `json:"metadata"`
}

// Field types as keygen-go's License.
type licenseAttributes struct {
	Name     string                 `json:"name"`
	Key      string                 `json:"key"`
	Expiry   *time.Time             `json:"expiry"`
	Status   string                 `json:"status"`
	Created  time.Time              `json:"created"`
	Updated  time.Time              `json:"updated"`
	Metadata map[string]interface{} `json:"metadata"`
}

// Field types as keygen-go's Entitlement.
type entitlementAttributes struct {
	Name     string                 `json:"name"`
	Code     string                 `json:"code"`
	Created  time.Time              `json:"created"`
	Updated  time.Time              `json:"updated"`
	Metadata map[string]interface{} `json:"metadata"`
}

// As keygen-go's MachineFileDataset/LicenseFileDataset meta: null leaves the zero value.
type meta struct {
	Issued time.Time `json:"issued"`
	Expiry time.Time `json:"expiry"`
	TTL    int       `json:"ttl"`
}

type document struct {
	Data     resource   `json:"data"`
	Included []resource `json:"included"`
	Meta     meta       `json:"meta"`
}

type result struct {
	Kind         string   `json:"kind"`
	Type         string   `json:"type"`
	ID           string   `json:"id"`
	LicenseID    string   `json:"licenseId,omitempty"`
	Fingerprint  string   `json:"fingerprint,omitempty"`
	Entitlements []string `json:"entitlements"`
	Issued       string   `json:"issued"`
	Expiry       *string  `json:"expiry"`
	TTL          int      `json:"ttl"`
	Alg          string   `json:"alg"`
}

func readCertificate(kind, text string) (*certificate, error) {
	payload := text
	if kind == "machine" {
		// machine_file.go trims space around the armor and inside it.
		payload = strings.TrimSpace(payload)
		payload = strings.TrimPrefix(payload, "-----BEGIN MACHINE FILE-----")
		payload = strings.TrimSuffix(payload, "-----END MACHINE FILE-----")
		payload = strings.TrimSpace(payload)
	} else {
		// license_file.go trims the armor lines with their newlines, and nothing else.
		payload = strings.TrimPrefix(payload, "-----BEGIN LICENSE FILE-----\n")
		payload = strings.TrimSuffix(payload, "-----END LICENSE FILE-----\n")
	}
	// StdEncoding skips the newlines between the 60-character lines.
	dec, err := base64.StdEncoding.DecodeString(payload)
	if err != nil {
		return nil, fmt.Errorf("file is invalid: %w", err)
	}
	var cert *certificate
	if err := json.Unmarshal(dec, &cert); err != nil || cert == nil {
		return nil, fmt.Errorf("file is invalid: %v", err)
	}
	return cert, nil
}

func verifySignature(kind string, cert *certificate, publicKeyHex string) error {
	if cert.Alg != "aes-256-gcm+ed25519" && cert.Alg != "base64+ed25519" {
		return errors.New("file algorithm is not supported")
	}
	sig, err := base64.StdEncoding.DecodeString(cert.Sig)
	if err != nil {
		return errors.New("file is not genuine")
	}
	key, err := hex.DecodeString(publicKeyHex)
	if err != nil || len(key) != ed25519.PublicKeySize {
		return errors.New("public key is invalid")
	}
	if !ed25519.Verify(ed25519.PublicKey(key), []byte(kind+"/"+cert.Enc), sig) {
		return errors.New("file is not genuine")
	}
	return nil
}

func decrypt(cert *certificate, secret string) ([]byte, error) {
	parts := strings.SplitN(cert.Enc, ".", 3)
	if len(parts) != 3 {
		return nil, errors.New("file is invalid")
	}
	var decoded [3][]byte
	for i, part := range parts {
		b, err := base64.StdEncoding.DecodeString(part)
		if err != nil {
			return nil, err
		}
		decoded[i] = b
	}
	key := sha256.Sum256([]byte(secret))
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	if len(decoded[1]) != gcm.NonceSize() {
		return nil, errors.New("file is invalid")
	}
	plaintext, err := gcm.Open(nil, decoded[1], append(decoded[0], decoded[2]...), nil)
	if err != nil {
		return nil, errors.New("file could not be decrypted")
	}
	return plaintext, nil
}

// keygen-go's License.SetRelationships type-asserts the policy linkage whenever the key is
// present, so a license whose policy linkage is null would panic there: refuse it here.
func checkLicense(res resource) error {
	var attrs licenseAttributes
	if err := json.Unmarshal(res.Attributes, &attrs); err != nil {
		return fmt.Errorf("license is invalid: %w", err)
	}
	if raw, ok := res.Relationships["policy"]; ok {
		var policy struct {
			Data *identifier `json:"data"`
		}
		if err := json.Unmarshal(raw, &policy); err != nil || policy.Data == nil {
			return errors.New("license has a null policy linkage")
		}
	}
	return nil
}

func run() (*result, error) {
	kind := flag.String("kind", "machine", "machine or license")
	file := flag.String("file", "", "the file")
	publicKey := flag.String("public-key", "", "Ed25519 public key, 64 hex characters")
	licenseKey := flag.String("license-key", "", "the license key")
	fingerprint := flag.String("fingerprint", "", "the machine's fingerprint (machine files)")
	flag.Parse()
	if *kind != "machine" && *kind != "license" {
		return nil, errors.New("-kind is machine or license")
	}

	text, err := os.ReadFile(*file)
	if err != nil {
		return nil, err
	}
	cert, err := readCertificate(*kind, string(text))
	if err != nil {
		return nil, err
	}
	if err := verifySignature(*kind, cert, *publicKey); err != nil {
		return nil, err
	}

	var data []byte
	if cert.Alg == "aes-256-gcm+ed25519" {
		secret := *licenseKey
		if *kind == "machine" {
			secret += *fingerprint
		}
		if data, err = decrypt(cert, secret); err != nil {
			return nil, err
		}
	} else if data, err = base64.StdEncoding.DecodeString(cert.Enc); err != nil {
		return nil, fmt.Errorf("file is invalid: %w", err)
	}

	var doc document
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("payload is invalid: %w", err)
	}
	out := &result{Kind: *kind, Type: doc.Data.Type, ID: doc.Data.ID, Alg: cert.Alg, Entitlements: []string{}}
	switch {
	case *kind == "machine" && doc.Data.Type == "machines":
		var attrs machineAttributes
		if err := json.Unmarshal(doc.Data.Attributes, &attrs); err != nil {
			return nil, fmt.Errorf("machine is invalid: %w", err)
		}
		out.Fingerprint = attrs.Fingerprint
		var license struct {
			Data *identifier `json:"data"`
		}
		if err := json.Unmarshal(doc.Data.Relationships["license"], &license); err != nil || license.Data == nil {
			return nil, errors.New("machine has no license relationship")
		}
		out.LicenseID = license.Data.ID
	case *kind == "license" && doc.Data.Type == "licenses":
		if err := checkLicense(doc.Data); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("a %s file holds %q", *kind, doc.Data.Type)
	}
	for _, included := range doc.Included {
		switch included.Type {
		case "licenses":
			if err := checkLicense(included); err != nil {
				return nil, fmt.Errorf("included %w", err)
			}
		case "entitlements":
			var attrs entitlementAttributes
			if err := json.Unmarshal(included.Attributes, &attrs); err != nil {
				return nil, fmt.Errorf("included entitlement is invalid: %w", err)
			}
			out.Entitlements = append(out.Entitlements, attrs.Code)
		}
	}

	if time.Until(doc.Meta.Issued) > maxClockDrift {
		return nil, errors.New("system clock is out of sync")
	}
	if doc.Meta.TTL != 0 && time.Now().After(doc.Meta.Expiry) {
		return nil, errors.New("file is expired")
	}
	out.Issued = doc.Meta.Issued.UTC().Format(isoMillis)
	out.TTL = doc.Meta.TTL
	if doc.Meta.TTL != 0 {
		expiry := doc.Meta.Expiry.UTC().Format(isoMillis)
		out.Expiry = &expiry
	}
	return out, nil
}

func main() {
	out, err := run()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		os.Exit(2)
	}
}
