//! `export bundle`: the plain PEM files most other software wants: `ca-bundle.pem` (every CA of
//! the chain: trust anchor and intermediates), `crls.pem` (the CRLs, one per CA),
//! `STEM.fullchain.crt` (leaf + intermediates) and `STEM.pem` (leaf + intermediates + key, 0600,
//! for HAProxy-style consumers), for the `--server` and/or `--client` given.

use zeroize::Zeroizing;

use super::inputs::{Inputs, Rendered};
use crate::error::Result;

/// Renders the bundle export.
pub fn render(i: &Inputs) -> Result<Rendered> {
    let mut r = Rendered::default();
    super::inputs::add_trust_files(i, &mut r.files);
    for leaf in [&i.server, &i.client].into_iter().flatten() {
        r.files.public(
            i.path(&format!("{}.fullchain.crt", leaf.name)),
            leaf.fullchain_pem(),
        );
        let mut pem = leaf.fullchain_pem().into_bytes();
        pem.extend_from_slice(&leaf.key_pem());
        r.files
            .private(i.path(&format!("{}.pem", leaf.name)), Zeroizing::new(pem));
    }
    if i.crls.is_empty() {
        r.notes
            .push("no --crl given: crls.pem was not written".into());
    }
    Ok(r)
}
