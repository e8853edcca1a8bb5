//! Every script in examples/ runs (with this build's binary as `$MTLS_CA`) and ends with its `ok:`
//! line; what it made passes pkilint and `openssl verify`; without `$MTLS_CA_EXAMPLE_DIR` a
//! script leaves nothing behind. The scripts drive curl and nginx themselves.
use crate::common;
use common::*;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read examples/")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sh"))
        .collect();
    v.sort();
    v
}

/// Runs `script` with `MTLS_CA` set to the binary under test and TMPDIR set to `tmp`. Its output
/// goes to files, not pipes, so a server it failed to stop cannot keep the test waiting (the
/// empty-TMPDIR check then fails instead).
fn run(script: &Path, tmp: &Path, keep: Option<&Path>) -> Run {
    let logs = tempdir();
    let (out_path, err_path) = (logs.path().join("stdout"), logs.path().join("stderr"));
    let mut cmd = Command::new("bash");
    cmd.arg(script)
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .current_dir(tmp)
        .env("MTLS_CA", bin())
        .env("TMPDIR", tmp)
        .env("NO_COLOR", "1")
        .env_remove("MTLS_CA_DIR")
        .env_remove("MTLS_CA_EXAMPLE_DIR")
        .stdin(Stdio::null());
    if let Some(k) = keep {
        cmd.env("MTLS_CA_EXAMPLE_DIR", k);
    }
    let status = cmd.status().expect("run bash");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
    }
}

/// Certificates under `dir` (not fullchains, bundles or backups), a few per directory.
fn certificates(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut here: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    here.sort();
    let mut taken = 0;
    for p in here {
        if p.is_dir() {
            certificates(&p, out);
            continue;
        }
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".crt")
            && !name.ends_with(".fullchain.crt")
            && !name.contains("chain")
            && !name.contains("bundle")
            && taken < 4
        {
            out.push(p);
            taken += 1;
        }
    }
}

#[test]
fn every_example_runs_and_cleans_up() {
    let scripts = examples();
    let names: Vec<String> = scripts
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for want in [
        "mtls-curl.sh",
        "root-intermediate.sh",
        "nginx-mtls.sh",
        "ca-rotation.sh",
        "bulk-issuance.sh",
        "expiry-alarm.sh",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "examples/{want} is missing"
        );
    }
    let mut failures = Vec::new();
    for script in &scripts {
        let tmp = tempdir();
        let r = run(script, tmp.path(), None);
        let name = script.display();
        if r.code != 0 || !r.stdout.lines().last().unwrap_or("").starts_with("ok:") {
            failures.push(format!(
                "{name}: exit {}\n--- stdout\n{}\n--- stderr\n{}",
                r.code, r.stdout, r.stderr
            ));
            continue;
        }
        let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
        if !left.is_empty() {
            failures.push(format!("{name} left {} entries in TMPDIR", left.len()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn example_certificates_pass_pkilint_and_openssl() {
    for script in examples() {
        let tmp = tempdir();
        let keep = tmp.path().join("work");
        std::fs::create_dir(&keep).unwrap();
        run(script.as_path(), tmp.path(), Some(&keep)).ok();
        let mut certs = Vec::new();
        certificates(&keep, &mut certs);
        assert!(
            !certs.is_empty(),
            "{} made no certificates",
            script.display()
        );
        for cert in &certs {
            pkilint_cert(&keep, cert);
        }
        // Each CA directory's leaves verify against its root with openssl.
        let root = keep.join("pki/ca-bundle.crt");
        for cert in certs.iter().filter(|c| !c.ends_with("ca.crt")) {
            let name = cert.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with("ca-") || name.ends_with(".bak") {
                continue;
            }
            let chain = cert.with_extension("fullchain.crt");
            let untrusted = if chain.exists() { &chain } else { cert };
            openssl(
                &keep,
                &[
                    "verify",
                    "-CAfile",
                    root.to_str().unwrap(),
                    "-untrusted",
                    untrusted.to_str().unwrap(),
                    cert.to_str().unwrap(),
                ],
            )
            .ok();
        }
        for crl in ["pki/crl.pem", "pki/issuing/crl.pem"] {
            if keep.join(crl).exists() {
                pkilint_crl(&keep, &keep.join(crl));
            }
        }
    }
}
