package com.licentric.smoke;

import com.licentric.client.ApiClient;
import com.licentric.client.ApiException;
import com.licentric.client.api.EventsApi;
import com.licentric.client.api.MachinesApi;
import com.licentric.client.model.EventList;
import com.licentric.client.model.ActivateMachineRequest;
import com.licentric.client.model.Machine;
import com.licentric.client.model.MachineHeartbeatResponse;
import com.licentric.client.model.MachineList;
import com.licentric.client.model.Platform;
import com.licentric.client.model.Problem;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

/**
 * The SDK smoke flow in Java, with the client openapi-generator makes. Run by `make sdk-check`
 * against a live server (see sdk/run-smoke.sh).
 */
public final class Smoke {
  private static String env(String name) {
    String value = System.getenv(name);
    if (value == null || value.isEmpty()) throw new IllegalStateException(name + " is not set");
    return value;
  }

  private static void check(boolean condition, String message) {
    if (!condition) throw new AssertionError("smoke check failed: " + message);
  }

  /** The problem+json body of a refused call, as the generated Problem model. */
  private static Problem problemOf(ApiClient client, ApiException error) throws Exception {
    return client.getObjectMapper().readValue(error.getResponseBody(), Problem.class);
  }

  public static void main(String[] args) throws Exception {
    ApiClient client = new ApiClient();
    client.updateBaseUri(env("LICENTRIC_BASE_URL"));
    MachinesApi machines = new MachinesApi(client);
    // Authorization per call: the license key for device calls, the API key for back-office ones.
    Map<String, String> asLicense = Map.of("Authorization", "License " + env("LICENTRIC_LICENSE_KEY"));
    Map<String, String> asApiKey = Map.of("Authorization", "Bearer " + env("LICENTRIC_API_KEY"));
    byte[] random = new byte[6];
    new SecureRandom().nextBytes(random);
    String fingerprint = "sdk-java-" + HexFormat.of().formatHex(random);

    Machine machine = machines
        .activateMachine(
            new ActivateMachineRequest().fingerprint(fingerprint).name("Java smoke").platform(Platform.LINUX).cores(4),
            // A retry with the same Idempotency-Key would get this answer replayed.
            "sdk-java-activate-" + HexFormat.of().formatHex(random),
            asLicense)
        .getData();
    check(fingerprint.equals(machine.getFingerprint()) && machine.getDeletedAt() == null, "activate returns the active machine");
    System.out.println("activated " + machine.getId());

    MachineHeartbeatResponse ping = machines.pingMachineHeartbeat(machine.getId(), asLicense);
    check(machine.getId().equals(ping.getData().getId()), "heartbeat answers for the machine");
    System.out.println("heartbeat at " + ping.getData().getLastHeartbeatAt());

    MachineList listed = machines.listMachines(machine.getLicenseId(), null, 100, null, null, asApiKey);
    check(listed.getData().stream().anyMatch(m -> m.getId().equals(machine.getId())), "list shows the machine");
    System.out.println("listed " + listed.getData().size() + " machine(s)");

    check(Boolean.TRUE.equals(machines.deactivateMachine(machine.getId(), asLicense).getData().getDeleted()), "deactivate");
    System.out.println("deactivated " + machine.getId());

    EventList events = new EventsApi(client).listEvents(null, null, machine.getId(), null, null, null, 100, asApiKey);
    List<String> types = events.getData().stream().map(e -> e.getType().getValue()).toList();
    check(types.equals(List.of("machine.activated", "machine.deactivated")), "the machine's events are " + types);
    // `data` is an open object (its shape depends on the type): the generator makes it a plain Object.
    Map<?, ?> deactivation = (Map<?, ?>) events.getData().get(1).getData();
    check("MANUAL".equals(deactivation.get("reason")), "the deactivation says why");
    System.out.println("events: " + types);

    Machine again = machines.activateMachine(new ActivateMachineRequest().fingerprint(fingerprint), null, asLicense).getData();
    try {
      machines.activateMachine(new ActivateMachineRequest().fingerprint(fingerprint), null, asLicense);
      throw new AssertionError("smoke check failed: a second activation of one fingerprint must be refused");
    } catch (ApiException refused) {
      check(refused.getCode() == 409, "second activation must be 409, got " + refused.getCode());
      Problem problem = problemOf(client, refused);
      check("FINGERPRINT_TAKEN".equals(problem.getCode()), "code is " + problem.getCode());
      check(again.getId().equals(problem.getMachineId()), "the problem names the machine holding the fingerprint");
      System.out.println("second activation refused: " + problem.getCode() + " (machine " + problem.getMachineId() + ")");
    }

    machines.deactivateMachine(again.getId(), asLicense);
    System.out.println("java smoke: ok");
  }
}
