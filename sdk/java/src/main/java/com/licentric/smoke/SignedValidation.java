package com.licentric.smoke;

import com.licentric.client.ApiClient;
import com.licentric.client.ApiResponse;
import com.licentric.client.api.LicensesApi;
import com.licentric.client.api.SigningKeysApi;
import com.licentric.client.model.LicenseValidationResponse;
import com.licentric.client.model.SigningKey;
import com.licentric.client.model.ValidateLicenseRequest;
import com.licentric.client.model.ValidationNonce;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.security.KeyFactory;
import java.security.MessageDigest;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.spec.X509EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A signed answer, asked for through the client's typed {@code acceptSignature} argument: the
 * response carries {@code Signature-Input}, {@code Signature} and a {@code Content-Digest} that is
 * the SHA-256 of the body bytes, the body echoes the nonce, and the Ed25519 signature verifies
 * over the RFC 9421 signature base with the JDK's Ed25519.
 */
final class SignedValidation {
  static final String ACCEPT_SIGNATURE =
      "sig1=(\"@status\" \"content-type\" \"content-digest\" \"@method\";req \"@path\";req \"@query\";req);alg=\"ed25519\"";

  private static final Pattern INNER_LIST = Pattern.compile("^\\(([^)]*)\\)");
  private static final Pattern KEY_ID = Pattern.compile(";keyid=\"([^\"\\\\]*)\"");

  private SignedValidation() {}

  /**
   * RFC 9421 §2.5's signature base for the components this server covers, taken from the response
   * and the request it answered; an unknown component is refused, not skipped.
   */
  static String signatureBase(ApiResponse<?> response, String method, URI request, String signatureParams) {
    Matcher list = INNER_LIST.matcher(signatureParams);
    check(list.find(), "Signature-Input is not an inner list: " + signatureParams);
    List<String> lines = new ArrayList<>();
    for (String component : list.group(1).split(" ")) {
      String value = switch (component) {
        case "\"@status\"" -> String.valueOf(response.getStatusCode());
        case "\"content-type\"" -> header(response, "Content-Type").trim();
        case "\"content-digest\"" -> header(response, "Content-Digest").trim();
        case "\"@method\";req" -> method.toUpperCase();
        case "\"@path\";req" -> request.getRawPath();
        case "\"@query\";req" -> "?" + (request.getRawQuery() == null ? "" : request.getRawQuery());
        default -> throw new AssertionError("smoke check failed: unexpected covered component " + component);
      };
      lines.add(component + ": " + value);
    }
    lines.add("\"@signature-params\": " + signatureParams);
    return String.join("\n", lines);
  }

  private static boolean verifies(PublicKey key, String base, byte[] signature) throws Exception {
    Signature verifier = Signature.getInstance("Ed25519");
    verifier.initVerify(key);
    verifier.update(base.getBytes(StandardCharsets.UTF_8));
    return verifier.verify(signature);
  }

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
    // digest is over the bytes: this client's interceptor reads and keeps them (the client then
    // finds the stream read and returns no data), and the generated model is parsed from them.
    byte[][] bodyBytes = new byte[1][];
    URI[] sent = new URI[1];
    String[] method = new String[1];
    ApiClient client = new ApiClient();
    client.updateBaseUri(baseUri);
    client.setResponseInterceptor(response -> {
      sent[0] = response.request().uri();
      method[0] = response.request().method();
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

    Matcher keyId = KEY_ID.matcher(input);
    check(keyId.find(), "Signature-Input names no keyid: " + input);
    // Fetched without authentication, as shipped software does before it goes offline.
    ApiClient anonymous = new ApiClient();
    anonymous.updateBaseUri(baseUri);
    SigningKey key = new SigningKeysApi(anonymous).listSigningKeys(null).getData().stream()
        .filter(k -> k.getId().toString().equals(keyId.group(1)))
        .findFirst()
        .orElseThrow(() -> new AssertionError("smoke check failed: the signing key " + keyId.group(1) + " is published"));
    String pem = key.getPublicKeyPem().replaceAll("-----[A-Z ]+-----|\\s", "");
    PublicKey publicKey = KeyFactory.getInstance("Ed25519").generatePublic(new X509EncodedKeySpec(Base64.getDecoder().decode(pem)));
    String base = signatureBase(answer, method[0], sent[0], input.substring("sig1=".length()));
    byte[] signatureBytes = Base64.getDecoder().decode(signature.substring("sig1=:".length(), signature.length() - 1));
    check(verifies(publicKey, base, signatureBytes), "the signature does not verify over:\n" + base);
    // The same check must refuse an answer recorded for another nonce.
    String otherBody = base.replace(digest, "sha-256=:" + Base64.getEncoder().encodeToString(new byte[32]) + ":");
    check(!verifies(publicKey, otherBody, signatureBytes), "a signature must not verify over another body");
    System.out.println("signed validation: " + body.getData().getCode() + ", nonce " + echoed + ", key " + keyId.group(1));
  }
}
