package com.licentric.smoke;

import com.licentric.client.ApiClient;
import com.licentric.client.ApiResponse;
import com.licentric.client.api.LicensesApi;
import com.licentric.client.model.LicenseValidationResponse;
import com.licentric.client.model.ValidateLicenseRequest;
import com.licentric.client.model.ValidationNonce;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.HexFormat;
import java.util.Map;

/**
 * A signed answer, asked for through the client's typed {@code acceptSignature} argument: the
 * response carries {@code Signature-Input}, {@code Signature} and a {@code Content-Digest} that is
 * the SHA-256 of the body bytes, and the body echoes the nonce. The Ed25519 signature itself is
 * verified by the Go and TypeScript smoke programs; here the digest binds the body to it.
 */
final class SignedValidation {
  static final String ACCEPT_SIGNATURE =
      "sig1=(\"@status\" \"content-type\" \"content-digest\" \"@method\";req \"@path\";req \"@query\";req);alg=\"ed25519\"";

  private SignedValidation() {}

  private static void check(boolean condition, String message) {
    if (!condition) throw new AssertionError("smoke check failed: " + message);
  }

  private static String header(ApiResponse<?> response, String name) {
    return response.getHeaders().entrySet().stream()
        .filter(entry -> entry.getKey().equalsIgnoreCase(name))
        .flatMap(entry -> entry.getValue().stream())
        .findFirst()
        .orElse("");
  }

  static void smoke(String baseUri, String licenseKey) throws Exception {
    // The native client decodes the body into a String without handing out its bytes, and the
    // digest is over the bytes: this client's interceptor keeps them, so it parses nothing itself.
    byte[][] bodyBytes = new byte[1][];
    ApiClient client = new ApiClient();
    client.updateBaseUri(baseUri);
    client.setResponseInterceptor(response -> {
      try {
        bodyBytes[0] = ApiClient.getResponseBody(response).readAllBytes();
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    });
    byte[] random = new byte[8];
    new SecureRandom().nextBytes(random);
    String nonce = "sdk-java-" + HexFormat.of().formatHex(random);
    ApiResponse<LicenseValidationResponse> answer = new LicensesApi(client).validateLicenseWithHttpInfo(
        ACCEPT_SIGNATURE,
        new ValidateLicenseRequest().nonce(new ValidationNonce(nonce)),
        Map.of("Authorization", "License " + licenseKey));
    check(answer.getStatusCode() == 200 && bodyBytes[0] != null, "signed validate answered " + answer.getStatusCode());
    LicenseValidationResponse body = client.getObjectMapper().readValue(bodyBytes[0], LicenseValidationResponse.class);
    check(body.getData().getValid(), "the smoke license validates: " + body.getData().getCode());
    Object echoed = body.getMeta() == null ? null : body.getMeta().getNonce().getActualInstance();
    check(nonce.equals(echoed), "meta.nonce is " + echoed + ", sent " + nonce);

    String digest = "sha-256=:" + Base64.getEncoder().encodeToString(MessageDigest.getInstance("SHA-256").digest(bodyBytes[0])) + ":";
    check(digest.equals(header(answer, "Content-Digest")), "Content-Digest is " + header(answer, "Content-Digest") + ", the body's is " + digest);
    String input = header(answer, "Signature-Input");
    String signature = header(answer, "Signature");
    check(input.startsWith("sig1=(") && input.contains(";keyid=\"") && input.endsWith(";alg=\"ed25519\""), "Signature-Input: " + input);
    check(signature.matches("sig1=:[A-Za-z0-9+/]{86}==:"), "Signature: " + signature);
    System.out.println("signed validation: " + body.getData().getCode() + ", nonce " + echoed + ", " + input);
  }
}
