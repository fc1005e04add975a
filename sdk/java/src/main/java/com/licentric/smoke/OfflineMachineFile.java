package com.licentric.smoke;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.licentric.client.ApiClient;
import com.licentric.client.api.MachinesApi;
import com.licentric.client.api.SigningKeysApi;
import com.licentric.client.model.ActivateMachineRequest;
import com.licentric.client.model.CheckOutRequest;
import com.licentric.client.model.CheckedOutFile;
import com.licentric.client.model.Machine;
import com.licentric.client.model.SigningKey;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.MessageDigest;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.spec.X509EncodedKeySpec;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/**
 * A machine file verified the way shipped software does it: offline, with the JDK's Ed25519 and
 * AES/GCM only, from the public key (64 hex characters), the license key and the machine's
 * fingerprint. The steps and their order are Keygen's verifiers' (docs/offline-design.md): armor
 * and envelope, the signature over "machine/" + enc, then decryption, then the dates.
 */
final class OfflineMachineFile {
  private static final String BEGIN = "-----BEGIN MACHINE FILE-----";
  private static final String END = "-----END MACHINE FILE-----";
  /** How far `issued` may lie ahead of this clock (keygen-go's MaxClockDrift). */
  private static final Duration MAX_CLOCK_DRIFT = Duration.ofMinutes(5);
  /** Ed25519 SPKI DER is this 12-byte prefix and the 32 raw bytes of the key. */
  private static final byte[] ED25519_SPKI_PREFIX = HexFormat.of().parseHex("302a300506032b6570032100");
  private static final ObjectMapper JSON = new ObjectMapper();

  private OfflineMachineFile() {}

  private static void check(boolean condition, String message) {
    if (!condition) throw new AssertionError("smoke check failed: " + message);
  }

  /**
   * Checks out a machine file through the client, saves it, and reads it back offline: with only
   * the public key fetched before, the license key and the fingerprint.
   */
  static void smoke(ApiClient client, String licenseKey) throws Exception {
    MachinesApi machines = new MachinesApi(client);
    Map<String, String> asLicense = Map.of("Authorization", "License " + licenseKey);
    byte[] random = new byte[6];
    new SecureRandom().nextBytes(random);
    String fingerprint = "sdk-java-offline-" + HexFormat.of().formatHex(random);
    Machine machine = machines.activateMachine(new ActivateMachineRequest().fingerprint(fingerprint), null, null, asLicense).getData();

    // Fetched while online, as shipped software bakes the key in: no authentication needed.
    List<SigningKey> keys = new SigningKeysApi(client).listSigningKeys(null).getData();
    int ttl = 86_400;
    CheckedOutFile file = machines.checkOutMachine(machine.getId(), null, new CheckOutRequest().ttl(ttl), asLicense).getData();
    check("aes-256-gcm+ed25519".equals(file.getAlgorithm()), "a machine file checked out with the license key is encrypted: " + file.getAlgorithm());
    String publicKey = keys.stream()
        .filter(key -> key.getId().equals(file.getKeyId()))
        .map(SigningKey::getPublicKey)
        .findFirst()
        .orElseThrow(() -> new AssertionError("smoke check failed: the file's key " + file.getKeyId() + " is published"));
    Path folder = Files.createTempDirectory("licentric-smoke-");
    Path path = folder.resolve(machine.getId() + ".lic");
    Files.writeString(path, file.getCertificate());
    System.out.println("checked out " + path + " (key " + file.getKeyId() + ", expires " + file.getExpiry() + ")");

    // Offline from here: the file, the public key, the license key and the fingerprint.
    String saved = Files.readString(path);
    JsonNode document = verify(saved, publicKey, licenseKey, fingerprint, Instant.now());
    JsonNode data = document.path("data");
    JsonNode meta = document.path("meta");
    check(
        "machines".equals(data.path("type").asText()) && machine.getId().toString().equals(data.path("id").asText()),
        "the file is machine " + data.path("id"));
    check(fingerprint.equals(data.path("attributes").path("fingerprint").asText()), "the file names the fingerprint");
    check(meta.path("ttl").asInt() == ttl, "the file's ttl is " + meta.path("ttl"));
    check(
        file.getExpiry() != null && Instant.parse(meta.path("expiry").asText()).equals(file.getExpiry().toInstant()),
        "the file expires at " + meta.path("expiry") + ", the check-out said " + file.getExpiry());
    System.out.println("verified offline: machine " + data.path("id").asText() + ", expires " + meta.path("expiry").asText());

    String changed = refusalStep(withOneByteChanged(saved), publicKey, licenseKey, fingerprint);
    check("signature".equals(changed), "a copy with one byte changed must fail its signature, failed at " + changed);
    String elsewhere = refusalStep(saved, publicKey, licenseKey, fingerprint + "-other");
    check("decryption".equals(elsewhere), "another fingerprint must not decrypt it, failed at " + elsewhere);
    System.out.println("refused: one byte changed (" + changed + "); another fingerprint (" + elsewhere + ")");

    Files.delete(path);
    Files.delete(folder);
    check(Boolean.TRUE.equals(machines.deactivateMachine(machine.getId(), null, asLicense).getData().getDeleted()), "deactivate");
  }

  /** Why a file was refused: {@code step} is the check that refused it. */
  static final class Refused extends Exception {
    private static final long serialVersionUID = 1L;
    final String step;

    Refused(String step, String message) {
      super(step + ": " + message);
      this.step = step;
    }
  }

  /** The JSON:API document a genuine machine file for this machine carries. */
  static JsonNode verify(String certificate, String publicKeyHex, String licenseKey, String fingerprint, Instant now)
      throws Refused, GeneralSecurityException {
    String armored = certificate.strip();
    if (!armored.startsWith(BEGIN) || !armored.endsWith(END)) throw new Refused("envelope", "not a machine file");
    String enc;
    String sig;
    String alg;
    try {
      String body = armored.substring(BEGIN.length(), armored.length() - END.length()).replaceAll("\\s", "");
      JsonNode envelope = JSON.readTree(Base64.getDecoder().decode(body));
      enc = envelope.path("enc").asText(null);
      sig = envelope.path("sig").asText(null);
      alg = envelope.path("alg").asText(null);
    } catch (IllegalArgumentException | java.io.IOException notACertificate) {
      throw new Refused("envelope", "the body is not a certificate");
    }
    if (enc == null || sig == null) throw new Refused("envelope", "enc or sig missing");
    if (!"aes-256-gcm+ed25519".equals(alg)) throw new Refused("envelope", "unsupported algorithm " + alg);

    byte[] raw = HexFormat.of().parseHex(publicKeyHex);
    byte[] spki = new byte[ED25519_SPKI_PREFIX.length + raw.length];
    System.arraycopy(ED25519_SPKI_PREFIX, 0, spki, 0, ED25519_SPKI_PREFIX.length);
    System.arraycopy(raw, 0, spki, ED25519_SPKI_PREFIX.length, raw.length);
    PublicKey publicKey = KeyFactory.getInstance("Ed25519").generatePublic(new X509EncodedKeySpec(spki));
    Signature verifier = Signature.getInstance("Ed25519");
    verifier.initVerify(publicKey);
    verifier.update(("machine/" + enc).getBytes(StandardCharsets.UTF_8));
    boolean genuine;
    try {
      genuine = verifier.verify(Base64.getDecoder().decode(sig));
    } catch (IllegalArgumentException notBase64) {
      genuine = false;
    }
    if (!genuine) throw new Refused("signature", "the file is not what the server signed");

    String[] parts = enc.split("\\.", -1);
    if (parts.length != 3) throw new Refused("envelope", "enc is not ciphertext.iv.tag");
    byte[] ciphertext = Base64.getDecoder().decode(parts[0]);
    byte[] iv = Base64.getDecoder().decode(parts[1]);
    byte[] tag = Base64.getDecoder().decode(parts[2]);
    byte[] key = MessageDigest.getInstance("SHA-256").digest((licenseKey + fingerprint).getBytes(StandardCharsets.UTF_8));
    Cipher gcm = Cipher.getInstance("AES/GCM/NoPadding");
    gcm.init(Cipher.DECRYPT_MODE, new SecretKeySpec(key, "AES"), new GCMParameterSpec(128, iv));
    // The JDK's GCM takes the tag appended to the ciphertext.
    byte[] sealed = new byte[ciphertext.length + tag.length];
    System.arraycopy(ciphertext, 0, sealed, 0, ciphertext.length);
    System.arraycopy(tag, 0, sealed, ciphertext.length, tag.length);
    JsonNode document;
    try {
      document = JSON.readTree(gcm.doFinal(sealed));
    } catch (AEADBadTagException wrongKey) {
      throw new Refused("decryption", "another license key or fingerprint");
    } catch (java.io.IOException notJson) {
      throw new Refused("envelope", "the payload is not a machine document");
    }

    JsonNode meta = document.path("meta");
    if (Duration.between(now, Instant.parse(meta.path("issued").asText())).compareTo(MAX_CLOCK_DRIFT) > 0) {
      throw new Refused("dates", "issued ahead of this clock");
    }
    if (!meta.path("expiry").isNull() && now.isAfter(Instant.parse(meta.path("expiry").asText()))) {
      throw new Refused("dates", "expired at " + meta.path("expiry").asText());
    }
    return document;
  }

  /** The step at which {@link #verify} refuses the file, or null when it accepts it. */
  static String refusalStep(String certificate, String publicKeyHex, String licenseKey, String fingerprint)
      throws GeneralSecurityException {
    try {
      verify(certificate, publicKeyHex, licenseKey, fingerprint, Instant.now());
      return null;
    } catch (Refused refused) {
      return refused.step;
    }
  }

  /**
   * The file with one character of its base64 body changed, so that one byte of enc (the
   * ciphertext) changes and the envelope stays well-formed JSON: the refusal must then come from
   * the signature, not from a parser. The 16th character of the first line holds the low six bits
   * of the envelope's 12th byte, which lies inside enc ({@code {"enc":"} is 8 bytes); flipping the
   * lowest of those bits turns a base64 character into another printable ASCII one.
   */
  static String withOneByteChanged(String certificate) {
    String alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    String[] lines = certificate.split("\n", -1);
    char[] first = lines[1].toCharArray();
    first[15] = alphabet.charAt(alphabet.indexOf(first[15]) ^ 1);
    lines[1] = new String(first);
    return String.join("\n", lines);
  }
}
