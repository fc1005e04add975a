//! Reads a machine or license file with keygen-rs (Keygen's Rust SDK) and prints what its own
//! verifier and decryptor make of it, so Licentric's files are checked by code we did not write.
//!
//! Usage: keygen-rs-verify machine FILE PUBLIC_KEY_HEX LICENSE_KEY FINGERPRINT
//!        keygen-rs-verify license FILE PUBLIC_KEY_HEX LICENSE_KEY
//! Prints the verified file as JSON and exits 0, or names keygen-rs's error and exits 1.

use keygen_rs::config::{self, KeygenConfig};
use keygen_rs::license::LicenseFileAlgorithm;
use keygen_rs::license_file::LicenseFile;
use keygen_rs::machine_file::MachineFile;
use serde_json::json;
use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!("usage: keygen-rs-verify machine FILE PUBLIC_KEY_HEX LICENSE_KEY FINGERPRINT");
    eprintln!("       keygen-rs-verify license FILE PUBLIC_KEY_HEX LICENSE_KEY");
    ExitCode::from(2)
}

fn refuse(what: &str, err: impl std::fmt::Debug) -> ExitCode {
    eprintln!("refused by keygen-rs ({what}): {err:?}");
    ExitCode::from(1)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (kind, path, public_key, license_key) = match args.as_slice() {
        [kind, path, public_key, license_key, ..] => (kind.as_str(), path, public_key, license_key),
        _ => return usage(),
    };
    let certificate = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) => {
            eprintln!("cannot read {path}: {err}");
            return ExitCode::from(2);
        }
    };

    match (kind, args.len()) {
        ("machine", 5) => {
            let fingerprint = &args[4];
            // A machine file carries no verify-with-key method: the SDK's `verify` takes the
            // public key from its global configuration, as an application using it would set it.
            if let Err(err) = config::set_config(KeygenConfig {
                public_key: Some(public_key.clone()),
                ..KeygenConfig::default()
            }) {
                return refuse("config", err);
            }
            // Keygen's machine file secret is the license key followed by the fingerprint.
            let secret = format!("{license_key}{fingerprint}");
            let file = match MachineFile::from_cert(&secret, &certificate) {
                Ok(file) => file,
                Err(err) => return refuse("from_cert", err),
            };
            if let Err(err) = file.verify() {
                return refuse("verify", err);
            }
            let dataset = match file.decrypt(&secret) {
                Ok(dataset) => dataset,
                Err(err) => return refuse("decrypt", err),
            };
            println!(
                "{}",
                json!({
                    "kind": "machine",
                    "id": file.id,
                    "fingerprint": dataset.machine.fingerprint,
                    "licenseId": dataset.license.id,
                    "licenseKey": dataset.license.key,
                    "issued": dataset.issued.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    "expiry": dataset.expiry.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    "ttl": dataset.ttl,
                })
            );
            ExitCode::SUCCESS
        }
        ("license", 4) => {
            let file = match LicenseFile::from_cert(license_key, &certificate) {
                Ok(file) => file,
                Err(err) => return refuse("from_cert", err),
            };
            // The SDK's recommended call for untrusted input: the algorithm is the caller's, not
            // the file's, and the signature is checked before anything is decrypted.
            let dataset = match file.verify_and_decrypt(
                public_key,
                license_key,
                LicenseFileAlgorithm::Aes256GcmEd25519,
            ) {
                Ok(dataset) => dataset,
                Err(err) => return refuse("verify_and_decrypt", err),
            };
            println!(
                "{}",
                json!({
                    "kind": "license",
                    "id": dataset.license.id,
                    "licenseKey": dataset.license.key,
                    "issued": dataset.issued.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    "expiry": dataset.expiry.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    "ttl": dataset.ttl,
                })
            );
            ExitCode::SUCCESS
        }
        _ => usage(),
    }
}
