// The SDK smoke flow in Go, with the client oapi-codegen generates. Run by `make sdk-check`
// against a live server (see sdk/run-smoke.sh).
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"

	licentric "licentric/sdk-smoke/generated"
)

func env(name string) string {
	value := os.Getenv(name)
	if value == "" {
		fail("%s is not set", name)
	}
	return value
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "smoke check failed: "+format+"\n", args...)
	os.Exit(1)
}

func check(ok bool, format string, args ...any) {
	if !ok {
		fail(format, args...)
	}
}

// authorization sets the Authorization header on every request of one client.
func authorization(value string) licentric.ClientOption {
	return licentric.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", value)
		return nil
	})
}

func main() {
	ctx := context.Background()
	baseURL := env("LICENTRIC_BASE_URL")
	asLicense, err := licentric.NewClientWithResponses(baseURL, authorization("License "+env("LICENTRIC_LICENSE_KEY")))
	check(err == nil, "client: %v", err)
	asAPIKey, err := licentric.NewClientWithResponses(baseURL, authorization("Bearer "+env("LICENTRIC_API_KEY")))
	check(err == nil, "client: %v", err)

	random := make([]byte, 6)
	_, _ = rand.Read(random)
	fingerprint := "sdk-go-" + hex.EncodeToString(random)
	name, platform, cores := "Go smoke", licentric.PlatformLinux, int32(4)

	// A retry of this activation with the same Idempotency-Key would get this answer replayed.
	idempotencyKey := "sdk-go-activate-" + hex.EncodeToString(random)
	activated, err := asLicense.ActivateMachineWithResponse(ctx, &licentric.ActivateMachineParams{IdempotencyKey: &idempotencyKey}, licentric.ActivateMachineRequest{
		Fingerprint: fingerprint, Name: &name, Platform: &platform, Cores: &cores,
	})
	check(err == nil && activated.JSON201 != nil, "activate: %v %s", err, activated.Body)
	machine := activated.JSON201.Data
	check(machine.Fingerprint == fingerprint && machine.DeletedAt == nil, "activate returns the active machine")
	fmt.Println("activated", machine.Id)

	ping, err := asLicense.PingMachineHeartbeatWithResponse(ctx, machine.Id, nil)
	check(err == nil && ping.JSON200 != nil && ping.JSON200.Data.Id == machine.Id, "heartbeat: %v %s", err, ping.Body)
	fmt.Println("heartbeat at", ping.JSON200.Data.LastHeartbeatAt)

	limit := int32(100)
	listed, err := asAPIKey.ListMachinesWithResponse(ctx, &licentric.ListMachinesParams{LicenseId: &machine.LicenseId, Limit: &limit})
	check(err == nil && listed.JSON200 != nil, "list: %v %s", err, listed.Body)
	found := false
	for _, m := range listed.JSON200.Data {
		found = found || m.Id == machine.Id
	}
	check(found, "list shows the machine")
	fmt.Printf("listed %d machine(s)\n", len(listed.JSON200.Data))

	deactivated, err := asLicense.DeactivateMachineWithResponse(ctx, machine.Id, nil)
	check(err == nil && deactivated.JSON200 != nil && deactivated.JSON200.Data.Deleted, "deactivate: %v %s", err, deactivated.Body)
	fmt.Println("deactivated", machine.Id)

	events, err := asAPIKey.ListEventsWithResponse(ctx, &licentric.ListEventsParams{MachineId: &machine.Id, Limit: &limit})
	check(err == nil && events.JSON200 != nil, "events: %v %s", err, events.Body)
	types := []string{}
	for _, e := range events.JSON200.Data {
		types = append(types, string(e.Type))
	}
	check(len(types) == 2 && types[0] == "machine.activated" && types[1] == "machine.deactivated", "the machine's events are %v", types)
	check(events.JSON200.Data[1].Data["reason"] == "MANUAL", "the deactivation says why")
	fmt.Println("events:", types)

	again, err := asLicense.ActivateMachineWithResponse(ctx, nil, licentric.ActivateMachineRequest{Fingerprint: fingerprint})
	check(err == nil && again.JSON201 != nil, "re-activate: %v %s", err, again.Body)
	twice, err := asLicense.ActivateMachineWithResponse(ctx, nil, licentric.ActivateMachineRequest{Fingerprint: fingerprint})
	check(err == nil && twice.StatusCode() == http.StatusConflict, "second activation must be 409, got %d", twice.StatusCode())
	var problem *licentric.Problem = twice.ApplicationproblemJSON409
	check(problem != nil, "the 409 body parses as a Problem: %s", twice.Body)
	check(problem.Code == "FINGERPRINT_TAKEN", "code is %s", problem.Code)
	check(problem.MachineId != nil && *problem.MachineId == again.JSON201.Data.Id, "the problem names the machine holding the fingerprint")
	fmt.Printf("second activation refused: %s (machine %s)\n", problem.Code, *problem.MachineId)

	_, _ = asLicense.DeactivateMachineWithResponse(ctx, again.JSON201.Data.Id, nil)
	productsAndEntitlements(ctx, baseURL, asAPIKey)
	// A machine file checked out, saved and verified offline with the standard library alone.
	offlineMachineFile(ctx, baseURL, env("LICENTRIC_LICENSE_KEY"))
	// An answer signed for this request (RFC 9421), so a fake server's recorded "valid" is useless.
	signedValidation(ctx, baseURL, env("LICENTRIC_LICENSE_KEY"))
	processes(ctx, baseURL, asAPIKey)
	fmt.Println("go smoke: ok")
}

// productsAndEntitlements: a license of a product's policy, validated for its product and features.
func productsAndEntitlements(ctx context.Context, baseURL string, asAPIKey *licentric.ClientWithResponses) {
	// Codes are unique per server, so each run makes its own.
	random := make([]byte, 4)
	_, _ = rand.Read(random)
	suffix := strings.ToUpper(hex.EncodeToString(random))

	createdProduct, err := asAPIKey.CreateProductWithResponse(ctx, nil, licentric.CreateProductRequest{Name: "Go smoke", Code: "SDK_GO_" + suffix})
	check(err == nil && createdProduct.JSON201 != nil, "create product: %v %s", err, createdProduct.Body)
	product := createdProduct.JSON201.Data
	fmt.Println("created product", product.Code)

	createdEntitlement, err := asAPIKey.CreateEntitlementWithResponse(ctx, nil, licentric.CreateEntitlementRequest{Code: "SDK_GO_EXPORT_" + suffix, Name: "Go smoke export"})
	check(err == nil && createdEntitlement.JSON201 != nil, "create entitlement: %v %s", err, createdEntitlement.Body)
	entitlement := createdEntitlement.JSON201.Data
	fmt.Println("created entitlement", entitlement.Code)

	createdPolicy, err := asAPIKey.CreatePolicyWithResponse(ctx, nil, licentric.CreatePolicyRequest{Name: "Go smoke", ProductId: &product.Id})
	check(err == nil && createdPolicy.JSON201 != nil, "create policy: %v %s", err, createdPolicy.Body)
	policy := createdPolicy.JSON201.Data
	check(policy.ProductId != nil && *policy.ProductId == product.Id, "the policy belongs to the product")
	codes := licentric.EntitlementRefsRequest{Entitlements: []licentric.EntitlementRef{entitlement.Code}}
	attached, err := asAPIKey.AttachPolicyEntitlementsWithResponse(ctx, policy.Id, nil, codes)
	check(err == nil && attached.JSON200 != nil, "attach: %v %s", err, attached.Body)
	listed, err := asAPIKey.ListPolicyEntitlementsWithResponse(ctx, policy.Id, nil)
	check(err == nil && listed.JSON200 != nil && len(listed.JSON200.Data) == 1 && listed.JSON200.Data[0].Code == entitlement.Code,
		"the policy's entitlements: %v %s", err, listed.Body)
	fmt.Println("policy", policy.Id, "grants", entitlement.Code)

	createdLicense, err := asAPIKey.CreateLicenseWithResponse(ctx, nil, licentric.CreateLicenseRequest{PolicyId: policy.Id})
	check(err == nil && createdLicense.JSON201 != nil, "create license: %v %s", err, createdLicense.Body)
	license := createdLicense.JSON201.Data
	check(license.ProductId != nil && *license.ProductId == product.Id, "the license says which product")
	asProductLicense, err := licentric.NewClientWithResponses(baseURL, authorization("License "+license.Key))
	check(err == nil, "client: %v", err)
	fmt.Println("created license", license.Id)

	validate := func(body licentric.ValidateLicenseRequest) licentric.LicenseValidation {
		answer, err := asProductLicense.ValidateLicenseWithResponse(ctx, nil, body)
		check(err == nil && answer.JSON200 != nil, "validate: %v %s", err, answer.Body)
		return answer.JSON200.Data
	}
	entitled := validate(licentric.ValidateLicenseRequest{Product: &product.Code, Entitlements: &[]licentric.EntitlementCode{entitlement.Code}})
	check(entitled.Valid && entitled.Code == licentric.LicenseValidationCodeVALID, "validate for the product and its entitlement: %s", entitled.Code)
	check(slices.Contains(entitled.Entitlements, entitlement.Code), "validate lists the entitlement")
	fmt.Printf("validated: %s with %v\n", entitled.Code, entitled.Entitlements)

	lacking := "SDK_GO_ABSENT_" + suffix
	missing := validate(licentric.ValidateLicenseRequest{Product: &product.Code, Entitlements: &[]licentric.EntitlementCode{entitlement.Code, lacking}})
	check(!missing.Valid && missing.Code == licentric.LicenseValidationCodeENTITLEMENTSMISSING, "validate for a lacking entitlement: %s", missing.Code)
	check(slices.Equal(missing.MissingEntitlements, []licentric.EntitlementCode{lacking}), "missing entitlements are %v", missing.MissingEntitlements)
	fmt.Printf("validated: %s %v\n", missing.Code, missing.MissingEntitlements)

	other := "SDK_GO_OTHER_" + suffix
	elsewhere := validate(licentric.ValidateLicenseRequest{Product: &other})
	check(!elsewhere.Valid && elsewhere.Code == licentric.LicenseValidationCodePRODUCTSCOPEMISMATCH, "validate for another product: %s", elsewhere.Code)
	fmt.Println("validated for another product:", elsewhere.Code)

	detached, err := asAPIKey.DetachPolicyEntitlementsWithResponse(ctx, policy.Id, nil, codes)
	check(err == nil && detached.JSON200 != nil && len(detached.JSON200.Data) == 0, "detach: %v %s", err, detached.Body)
	// In this order: a policy with licenses, or a product with policies, is refused (409).
	licenseDeleted, err := asAPIKey.DeleteLicenseWithResponse(ctx, license.Id, nil)
	check(err == nil && licenseDeleted.JSON200 != nil && licenseDeleted.JSON200.Data.Deleted, "delete license: %v %s", err, licenseDeleted.Body)
	policyDeleted, err := asAPIKey.DeletePolicyWithResponse(ctx, policy.Id, nil)
	check(err == nil && policyDeleted.JSON200 != nil && policyDeleted.JSON200.Data.Deleted, "delete policy: %v %s", err, policyDeleted.Body)
	productDeleted, err := asAPIKey.DeleteProductWithResponse(ctx, product.Id, nil)
	check(err == nil && productDeleted.JSON200 != nil && productDeleted.JSON200.Data.Deleted, "delete product: %v %s", err, productDeleted.Body)
	entitlementDeleted, err := asAPIKey.DeleteEntitlementWithResponse(ctx, entitlement.Id, nil)
	check(err == nil && entitlementDeleted.JSON200 != nil && entitlementDeleted.JSON200.Data.Deleted, "delete entitlement: %v %s", err, entitlementDeleted.Body)
	gone, err := asAPIKey.GetProductWithResponse(ctx, product.Id, nil)
	check(err == nil && gone.StatusCode() == http.StatusNotFound, "a deleted product must be 404, got %d", gone.StatusCode())
	fmt.Println("deleted the license, the policy, the product and the entitlement")
}

// processes: concurrent seats. One floating seat is spawned, refused twice, kept alive and released.
func processes(ctx context.Context, baseURL string, asAPIKey *licentric.ClientWithResponses) {
	one := licentric.ProcessLimit(1)
	perLicense := licentric.ProcessLeasingStrategyPERLICENSE
	created, err := asAPIKey.CreatePolicyWithResponse(ctx, nil, licentric.CreatePolicyRequest{
		Name: "Go smoke seats", MaxProcesses: &one, ProcessLeasingStrategy: &perLicense,
	})
	check(err == nil && created.JSON201 != nil, "create policy: %v %s", err, created.Body)
	seats := created.JSON201.Data
	check(seats.MaxProcesses != nil && *seats.MaxProcesses == 1, "the policy has one seat")
	issued, err := asAPIKey.CreateLicenseWithResponse(ctx, nil, licentric.CreateLicenseRequest{PolicyId: seats.Id})
	check(err == nil && issued.JSON201 != nil, "create license: %v %s", err, issued.Body)
	asSeatLicense, err := licentric.NewClientWithResponses(baseURL, authorization("License "+issued.JSON201.Data.Key))
	check(err == nil, "client: %v", err)
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	node, err := asSeatLicense.ActivateMachineWithResponse(ctx, nil, licentric.ActivateMachineRequest{Fingerprint: "sdk-go-node-" + hex.EncodeToString(suffix)})
	check(err == nil && node.JSON201 != nil, "activate: %v %s", err, node.Body)
	machineID := node.JSON201.Data.Id

	pid := "go-smoke"
	first, err := asSeatLicense.SpawnProcessWithResponse(ctx, machineID, nil, licentric.SpawnProcessRequest{Pid: &pid})
	check(err == nil && first.JSON201 != nil, "spawn: %v %s", err, first.Body)
	lease := first.JSON201.Data
	check(lease.MachineId == machineID && lease.HeartbeatStatus == licentric.ProcessHeartbeatStatusALIVE, "spawn returns the live process")
	fmt.Println("spawned process", lease.Id)
	second, err := asSeatLicense.SpawnProcessWithResponse(ctx, machineID, nil, licentric.SpawnProcessRequest{})
	check(err == nil && second.StatusCode() == http.StatusUnprocessableEntity, "a second spawn must be 422, got %d", second.StatusCode())
	refused := second.ApplicationproblemJSON422
	check(refused != nil && refused.Code == "PROCESS_LIMIT_EXCEEDED" && refused.ProcessCount != nil && *refused.ProcessCount == 1,
		"refusal: %s", second.Body)
	fmt.Printf("second spawn refused: %s (%d held)\n", refused.Code, *refused.ProcessCount)

	beat, err := asSeatLicense.ProcessHeartbeatWithResponse(ctx, lease.Id, nil)
	check(err == nil && beat.JSON200 != nil && beat.JSON200.Data.HeartbeatStatus == licentric.ProcessHeartbeatStatusALIVE, "process heartbeat: %v %s", err, beat.Body)
	fmt.Println("process heartbeat, lease until", beat.JSON200.Data.NextHeartbeatAt)
	released, err := asSeatLicense.ReleaseProcessWithResponse(ctx, lease.Id, nil)
	check(err == nil && released.JSON200 != nil && released.JSON200.Data.Deleted, "release: %v %s", err, released.Body)
	again, err := asSeatLicense.SpawnProcessWithResponse(ctx, machineID, nil, licentric.SpawnProcessRequest{})
	check(err == nil && again.JSON201 != nil, "the released seat is free at once: %v %s", err, again.Body)
	fmt.Printf("released %s; spawned %s in its seat\n", lease.Id, again.JSON201.Data.Id)

	// Deactivating the machine releases its process; then the license and the policy can go.
	_, _ = asSeatLicense.DeactivateMachineWithResponse(ctx, machineID, nil)
	gone, err := asAPIKey.GetProcessWithResponse(ctx, again.JSON201.Data.Id, nil)
	check(err == nil && gone.StatusCode() == http.StatusNotFound, "a deactivated machine's process must be 404, got %d", gone.StatusCode())
	_, _ = asAPIKey.DeleteLicenseWithResponse(ctx, issued.JSON201.Data.Id, nil)
	_, _ = asAPIKey.DeletePolicyWithResponse(ctx, seats.Id, nil)
	fmt.Println("processes: spawned, refused past the limit, kept alive, released")
}
