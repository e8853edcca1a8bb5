//! CRLs one by one: which of the given CRLs rustls can use, and for which CA each one is.
//!
//! rustls refuses to build a verifier when any CRL is one it cannot read (delta, indirect,
//! partitioned by reasons, an unknown critical extension). Here every CRL is tried on its own:
//! one rustls cannot parse, or whose signature does not verify with the key of the CA it names, is
//! left out with its reason; of several usable CRLs of one CA the newest wins. The OpenSSL
//! engine does its own choosing (`openssl.rs`), as OpenSSL does.

use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use super::model::{build_chain, is_self_issued, parse, Input};
use crate::inspect::fmt_name;

/// The CRLs sorted for rustls.
pub(super) struct Sorted {
    /// Indices (into `Input::crls`) of the CRLs rustls gets.
    pub usable: Vec<usize>,
    /// Indices of the CRLs left out, with the reason.
    pub unusable: Vec<(usize, String)>,
    /// The raw issuer name of each CRL (empty when it does not parse).
    pub issuers: Vec<Vec<u8>>,
}

fn webpki_reason(e: &webpki::Error) -> String {
    use webpki::Error as W;
    match e {
        W::UnsupportedDeltaCrl => "a delta CRL (rustls reads only complete CRLs)".into(),
        W::UnsupportedIndirectCrl => "an indirect CRL (rustls does not support them)".into(),
        W::UnsupportedRevocationReasonsPartitioning => {
            "a CRL partitioned by revocation reasons (rustls does not support them)".into()
        }
        W::UnsupportedCriticalExtension => {
            "it has a critical extension rustls does not know".into()
        }
        W::UnsupportedCrlVersion => "an unsupported CRL version".into(),
        other => format!("rustls cannot read it ({other:?})"),
    }
}

/// Sorts `input.crls` for rustls.
pub(super) fn sort_for_rustls(input: &Input) -> Sorted {
    let mut out = Sorted {
        usable: Vec::new(),
        unusable: Vec::new(),
        issuers: Vec::new(),
    };
    // (index, issuer, thisUpdate) of the CRLs that pass.
    let mut ok: Vec<(usize, Vec<u8>, i64)> = Vec::new();
    let certs: Vec<&Vec<u8>> = input
        .roots
        .iter()
        .chain(input.intermediates.iter())
        .chain(std::iter::once(&input.leaf))
        .collect();
    for (i, der) in input.crls.iter().enumerate() {
        let parsed = CertificateRevocationList::from_der(der)
            .ok()
            .map(|(_, c)| c);
        out.issuers.push(
            parsed
                .as_ref()
                .map(|c| c.issuer().as_raw().to_vec())
                .unwrap_or_default(),
        );
        let Some(crl) = parsed else {
            out.unusable.push((i, "not a valid X.509 CRL".into()));
            continue;
        };
        if let Err(e) = webpki::BorrowedCertRevocationList::from_der(der) {
            out.unusable.push((i, webpki_reason(&e)));
            continue;
        }
        let signers: Vec<_> = certs
            .iter()
            .filter_map(|d| parse(d))
            .filter(|c| c.subject().as_raw() == crl.issuer().as_raw())
            .collect();
        if !signers.is_empty()
            && !signers
                .iter()
                .any(|s| crl.verify_signature(s.public_key()).is_ok())
        {
            out.unusable.push((
                i,
                format!(
                    "its signature does not verify with the key of {}",
                    fmt_name(crl.issuer())
                ),
            ));
            continue;
        }
        ok.push((
            i,
            crl.issuer().as_raw().to_vec(),
            crl.last_update().timestamp(),
        ));
    }
    for (i, issuer, at) in &ok {
        let newer = ok
            .iter()
            .find(|(j, iss, t)| iss == issuer && j != i && (t > at || (t == at && j > i)));
        match newer {
            Some((j, _, _)) => out.unusable.push((
                *i,
                format!("a newer CRL of the same CA is given (#{})", j + 1),
            )),
            None => out.usable.push(*i),
        }
    }
    out.unusable.sort();
    out
}

/// (raw issuer name, subject) of every certificate of the chain that is not self-issued.
pub(super) fn chain_issuers(input: &Input) -> Vec<(Vec<u8>, String)> {
    let (chain, _) = build_chain(&input.leaf, &input.intermediates, &input.roots);
    chain
        .iter()
        .filter_map(|d| parse(d))
        .filter(|c| !is_self_issued(c))
        .map(|c| (c.issuer().as_raw().to_vec(), fmt_name(c.subject())))
        .collect()
}

/// The name of a CA given by its raw name, as text.
pub(super) fn issuer_name(input: &Input, raw: &[u8]) -> String {
    let (chain, _) = build_chain(&input.leaf, &input.intermediates, &input.roots);
    chain
        .iter()
        .filter_map(|d| parse(d))
        .find(|c| c.issuer().as_raw() == raw)
        .map(|c| fmt_name(c.issuer()))
        .unwrap_or_else(|| "its issuer".into())
}
