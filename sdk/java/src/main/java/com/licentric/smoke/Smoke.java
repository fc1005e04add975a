package com.licentric.smoke;

import com.licentric.client.ApiClient;
import com.licentric.client.ApiException;
import com.licentric.client.api.EntitlementsApi;
import com.licentric.client.api.EventsApi;
import com.licentric.client.api.LicensesApi;
import com.licentric.client.api.MachinesApi;
import com.licentric.client.api.PoliciesApi;
import com.licentric.client.api.ProcessesApi;
import com.licentric.client.api.ProductsApi;
import com.licentric.client.model.ActivateMachineRequest;
import com.licentric.client.model.CreateEntitlementRequest;
import com.licentric.client.model.CreateLicenseRequest;
import com.licentric.client.model.CreatePolicyRequest;
import com.licentric.client.model.CreateProductRequest;
import com.licentric.client.model.CreatedLicense;
import com.licentric.client.model.Entitlement;
import com.licentric.client.model.EntitlementRefsRequest;
import com.licentric.client.model.EventList;
import com.licentric.client.model.LicenseValidation;
import com.licentric.client.model.LicenseValidationCode;
import com.licentric.client.model.Machine;
import com.licentric.client.model.MachineHeartbeatResponse;
import com.licentric.client.model.MachineList;
import com.licentric.client.model.Platform;
import com.licentric.client.model.Policy;
import com.licentric.client.model.Problem;
import com.licentric.client.model.ProcessHeartbeatStatus;
import com.licentric.client.model.ProcessLeasingStrategy;
import com.licentric.client.model.SpawnProcessRequest;
import com.licentric.client.model.Product;
import com.licentric.client.model.ValidateLicenseRequest;
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
            null,
            asLicense)
        .getData();
    check(fingerprint.equals(machine.getFingerprint()) && machine.getDeletedAt() == null, "activate returns the active machine");
    System.out.println("activated " + machine.getId());

    MachineHeartbeatResponse ping = machines.pingMachineHeartbeat(machine.getId(), null, asLicense);
    check(machine.getId().equals(ping.getData().getId()), "heartbeat answers for the machine");
    System.out.println("heartbeat at " + ping.getData().getLastHeartbeatAt());

    MachineList listed = machines.listMachines(machine.getLicenseId(), null, 100, null, null, null, asApiKey);
    check(listed.getData().stream().anyMatch(m -> m.getId().equals(machine.getId())), "list shows the machine");
    System.out.println("listed " + listed.getData().size() + " machine(s)");

    check(Boolean.TRUE.equals(machines.deactivateMachine(machine.getId(), null, asLicense).getData().getDeleted()), "deactivate");
    System.out.println("deactivated " + machine.getId());

    EventList events = new EventsApi(client).listEvents(null, null, machine.getId(), null, null, null, null, null, 100, null, asApiKey);
    List<String> types = events.getData().stream().map(e -> e.getType().getValue()).toList();
    check(types.equals(List.of("machine.activated", "machine.deactivated")), "the machine's events are " + types);
    // `data` is an open object (its shape depends on the type): the generator makes it a plain Object.
    Map<?, ?> deactivation = (Map<?, ?>) events.getData().get(1).getData();
    check("MANUAL".equals(deactivation.get("reason")), "the deactivation says why");
    System.out.println("events: " + types);

    Machine again = machines.activateMachine(new ActivateMachineRequest().fingerprint(fingerprint), null, null, asLicense).getData();
    try {
      machines.activateMachine(new ActivateMachineRequest().fingerprint(fingerprint), null, null, asLicense);
      throw new AssertionError("smoke check failed: a second activation of one fingerprint must be refused");
    } catch (ApiException refused) {
      check(refused.getCode() == 409, "second activation must be 409, got " + refused.getCode());
      Problem problem = problemOf(client, refused);
      check("FINGERPRINT_TAKEN".equals(problem.getCode()), "code is " + problem.getCode());
      check(again.getId().equals(problem.getMachineId()), "the problem names the machine holding the fingerprint");
      System.out.println("second activation refused: " + problem.getCode() + " (machine " + problem.getMachineId() + ")");
    }

    machines.deactivateMachine(again.getId(), null, asLicense);
    productsAndEntitlements(client, asApiKey);
    // A machine file checked out, saved and verified offline with the JDK's crypto alone.
    OfflineMachineFile.smoke(client, env("LICENTRIC_LICENSE_KEY"));
    // An answer signed for this request (RFC 9421), so a fake server's recorded "valid" is useless.
    SignedValidation.smoke(env("LICENTRIC_BASE_URL"), env("LICENTRIC_LICENSE_KEY"));

    processes(client, asApiKey);
    System.out.println("java smoke: ok");
  }

  /** A license of a product's policy, validated for its product and features. */
  private static void productsAndEntitlements(ApiClient client, Map<String, String> asApiKey) throws Exception {
    ProductsApi products = new ProductsApi(client);
    EntitlementsApi entitlements = new EntitlementsApi(client);
    PoliciesApi policies = new PoliciesApi(client);
    LicensesApi licenses = new LicensesApi(client);
    // Codes are unique per server, so each run makes its own.
    byte[] random = new byte[4];
    new SecureRandom().nextBytes(random);
    String suffix = HexFormat.of().withUpperCase().formatHex(random);

    Product product = products
        .createProduct(new CreateProductRequest().name("Java smoke").code("SDK_JAVA_" + suffix), null, null, asApiKey)
        .getData();
    System.out.println("created product " + product.getCode());

    Entitlement entitlement = entitlements
        .createEntitlement(
            new CreateEntitlementRequest().code("SDK_JAVA_EXPORT_" + suffix).name("Java smoke export"), null, null, asApiKey)
        .getData();
    System.out.println("created entitlement " + entitlement.getCode());

    Policy policy = policies
        .createPolicy(new CreatePolicyRequest().name("Java smoke").productId(product.getId()), null, null, asApiKey)
        .getData();
    check(product.getId().equals(policy.getProductId()), "the policy belongs to the product");
    EntitlementRefsRequest codes = new EntitlementRefsRequest().entitlements(List.of(entitlement.getCode()));
    policies.attachPolicyEntitlements(policy.getId(), codes, null, asApiKey);
    List<String> granted =
        policies.listPolicyEntitlements(policy.getId(), null, asApiKey).getData().stream().map(Entitlement::getCode).toList();
    check(granted.equals(List.of(entitlement.getCode())), "the policy's entitlements are " + granted);
    System.out.println("policy " + policy.getId() + " grants " + entitlement.getCode());

    CreatedLicense license =
        licenses.createLicense(new CreateLicenseRequest().policyId(policy.getId()), null, null, asApiKey).getData();
    check(product.getId().equals(license.getProductId()), "the license says which product");
    Map<String, String> asProductLicense = Map.of("Authorization", "License " + license.getKey());
    System.out.println("created license " + license.getId());

    ValidateLicenseRequest forProduct = new ValidateLicenseRequest().product(product.getCode());
    LicenseValidation entitled = licenses
        .validateLicense(null, forProduct.entitlements(List.of(entitlement.getCode())), asProductLicense)
        .getData();
    check(
        entitled.getValid() && entitled.getCode() == LicenseValidationCode.VALID,
        "validate for the product and its entitlement: " + entitled.getCode());
    check(entitled.getEntitlements().contains(entitlement.getCode()), "validate lists the entitlement");
    System.out.println("validated: " + entitled.getCode() + " with " + entitled.getEntitlements());

    String lacking = "SDK_JAVA_ABSENT_" + suffix;
    LicenseValidation missing = licenses
        .validateLicense(null, forProduct.entitlements(List.of(entitlement.getCode(), lacking)), asProductLicense)
        .getData();
    check(
        !missing.getValid() && missing.getCode() == LicenseValidationCode.ENTITLEMENTS_MISSING,
        "validate for a lacking entitlement: " + missing.getCode());
    check(missing.getMissingEntitlements().equals(List.of(lacking)), "missing entitlements are " + missing.getMissingEntitlements());
    System.out.println("validated: " + missing.getCode() + " " + missing.getMissingEntitlements());

    LicenseValidation elsewhere = licenses
        .validateLicense(null, new ValidateLicenseRequest().product("SDK_JAVA_OTHER_" + suffix), asProductLicense)
        .getData();
    check(
        !elsewhere.getValid() && elsewhere.getCode() == LicenseValidationCode.PRODUCT_SCOPE_MISMATCH,
        "validate for another product: " + elsewhere.getCode());
    System.out.println("validated for another product: " + elsewhere.getCode());

    check(policies.detachPolicyEntitlements(policy.getId(), codes, null, asApiKey).getData().isEmpty(), "detach");
    // In this order: a policy with licenses, or a product with policies, is refused (409).
    check(Boolean.TRUE.equals(licenses.deleteLicense(license.getId(), null, asApiKey).getData().getDeleted()), "delete license");
    check(Boolean.TRUE.equals(policies.deletePolicy(policy.getId(), null, asApiKey).getData().getDeleted()), "delete policy");
    check(Boolean.TRUE.equals(products.deleteProduct(product.getId(), null, asApiKey).getData().getDeleted()), "delete product");
    check(
        Boolean.TRUE.equals(entitlements.deleteEntitlement(entitlement.getId(), null, asApiKey).getData().getDeleted()),
        "delete entitlement");
    try {
      products.getProduct(product.getId(), null, asApiKey);
      throw new AssertionError("smoke check failed: a deleted product must be 404");
    } catch (ApiException gone) {
      check(gone.getCode() == 404, "a deleted product must be 404, got " + gone.getCode());
    }
    System.out.println("deleted the license, the policy, the product and the entitlement");
  }

  /** Concurrent seats: one floating seat is spawned, refused twice, kept alive and released. */
  private static void processes(ApiClient client, Map<String, String> asApiKey) throws Exception {
    PoliciesApi policies = new PoliciesApi(client);
    LicensesApi licenses = new LicensesApi(client);
    MachinesApi machines = new MachinesApi(client);
    ProcessesApi processes = new ProcessesApi(client);
    Policy seats = policies
        .createPolicy(
            new CreatePolicyRequest()
                .name("Java smoke seats")
                .maxProcesses(1)
                .processLeasingStrategy(ProcessLeasingStrategy.PER_LICENSE),
            null,
            null, asApiKey)
        .getData();
    check(Integer.valueOf(1).equals(seats.getMaxProcesses()), "the policy has one seat");
    CreatedLicense license =
        licenses.createLicense(new CreateLicenseRequest().policyId(seats.getId()), null, null, asApiKey).getData();
    Map<String, String> asSeatLicense = Map.of("Authorization", "License " + license.getKey());
    byte[] random = new byte[6];
    new SecureRandom().nextBytes(random);
    Machine node = machines
        .activateMachine(new ActivateMachineRequest().fingerprint("sdk-java-node-" + HexFormat.of().formatHex(random)), null, null, asSeatLicense)
        .getData();

    var lease = processes.spawnProcess(node.getId(), new SpawnProcessRequest().pid("java-smoke"), null, null, asSeatLicense).getData();
    check(node.getId().equals(lease.getMachineId()) && lease.getHeartbeatStatus() == ProcessHeartbeatStatus.ALIVE,
        "spawn returns the live process");
    System.out.println("spawned process " + lease.getId());
    try {
      processes.spawnProcess(node.getId(), new SpawnProcessRequest(), null, null, asSeatLicense);
      throw new AssertionError("smoke check failed: a spawn past the limit must be refused");
    } catch (ApiException refused) {
      check(refused.getCode() == 422, "a second spawn must be 422, got " + refused.getCode());
      Problem problem = problemOf(client, refused);
      check("PROCESS_LIMIT_EXCEEDED".equals(problem.getCode()), "code is " + problem.getCode());
      check(Integer.valueOf(1).equals(problem.getProcessCount()), "the refusal says how many hold the seats");
      System.out.println("second spawn refused: " + problem.getCode() + " (" + problem.getProcessCount() + " held)");
    }

    var beat = processes.processHeartbeat(lease.getId(), null, asSeatLicense).getData();
    check(beat.getHeartbeatStatus() == ProcessHeartbeatStatus.ALIVE, "the heartbeat keeps the lease");
    System.out.println("process heartbeat, lease until " + beat.getNextHeartbeatAt());
    check(Boolean.TRUE.equals(processes.releaseProcess(lease.getId(), null, asSeatLicense).getData().getDeleted()), "release");
    var again = processes.spawnProcess(node.getId(), new SpawnProcessRequest(), null, null, asSeatLicense).getData();
    System.out.println("released " + lease.getId() + "; spawned " + again.getId() + " in its seat");

    // Deactivating the machine releases its process; then the license and the policy can go.
    machines.deactivateMachine(node.getId(), null, asSeatLicense);
    try {
      processes.getProcess(again.getId(), null, asApiKey);
      throw new AssertionError("smoke check failed: a deactivated machine's process must be gone");
    } catch (ApiException gone) {
      check(gone.getCode() == 404, "a deactivated machine's process must be 404, got " + gone.getCode());
    }
    licenses.deleteLicense(license.getId(), null, asApiKey);
    policies.deletePolicy(seats.getId(), null, asApiKey);
    System.out.println("processes: spawned, refused past the limit, kept alive, released");
  }
}
