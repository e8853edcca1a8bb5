//! A first end-to-end check: quickstart's files verify with openssl.
use crate::common;
use common::*;

#[test]
fn quickstart_files_verify_with_openssl() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["quickstart", "--out", "qs"]).ok();
    openssl(
        d,
        &[
            "verify",
            "-CAfile",
            "qs/pki/ca.crt",
            "-purpose",
            "sslserver",
            "-verify_hostname",
            "localhost",
            "qs/server.crt",
        ],
    )
    .ok();
    openssl(
        d,
        &[
            "verify",
            "-CAfile",
            "qs/pki/ca.crt",
            "-purpose",
            "sslclient",
            "qs/client.crt",
        ],
    )
    .ok();
    let r = openssl(
        d,
        &[
            "verify",
            "-CAfile",
            "qs/pki/ca.crt",
            "-purpose",
            "sslclient",
            "qs/server.crt",
        ],
    );
    assert_ne!(
        r.code, 0,
        "a server certificate must not pass as a client certificate"
    );
    pkilint_cert(d, &d.join("qs/client.crt"));
    pkilint_chain(d, &d.join("qs/pki/ca.crt"), &d.join("qs/client.crt"));
}
