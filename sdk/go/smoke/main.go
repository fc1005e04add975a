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

	ping, err := asLicense.PingMachineHeartbeatWithResponse(ctx, machine.Id)
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

	deactivated, err := asLicense.DeactivateMachineWithResponse(ctx, machine.Id)
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

	_, _ = asLicense.DeactivateMachineWithResponse(ctx, again.JSON201.Data.Id)
	fmt.Println("go smoke: ok")
}
