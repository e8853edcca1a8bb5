//! Minimal DER surgery: replace the issuer name of a signed certificate and sign it again.
//!
//! rcgen rebuilds the issuer name from parsed attributes and so cannot reproduce every name
//! byte for byte (repeated attributes such as two OUs collapse: rcgen issue 81; string types may
//! change). The issuer of a certificate must equal its CA's subject exactly, so when rcgen's
//! output differs we splice the CA's raw subject into the TBSCertificate and sign that instead.

use rcgen::SigningKey;

use crate::error::{Error, Result};

/// One TLV: its tag byte, the whole encoding, and the content range.
pub(crate) struct Tlv<'a> {
    pub(crate) whole: &'a [u8],
    pub(crate) content: &'a [u8],
}

pub(crate) fn read_tlv(input: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    if input.len() < 2 {
        return None;
    }
    let first_len = input[1] as usize;
    let (len, hdr) = if first_len < 0x80 {
        (first_len, 2)
    } else {
        let n = first_len & 0x7f;
        if n == 0 || n > 4 || input.len() < 2 + n {
            return None;
        }
        let len = input[2..2 + n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (len, 2 + n)
    };
    let end = hdr.checked_add(len)?;
    if input.len() < end {
        return None;
    }
    Some((
        Tlv {
            whole: &input[..end],
            content: &input[hdr..end],
        },
        &input[end..],
    ))
}

fn encode_len(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes
            .iter()
            .position(|b| *b != 0)
            .unwrap_or(bytes.len() - 1);
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    encode_len(content.len(), &mut out);
    out.extend_from_slice(content);
    out
}

/// Returns `cert_der` with its issuer replaced by `issuer_raw` (a full Name encoding), signed
/// again with `key`.
pub fn replace_issuer(
    cert_der: &[u8],
    issuer_raw: &[u8],
    key: &impl SigningKey,
) -> Result<Vec<u8>> {
    let bad = || Error::SelfCheck("cannot re-encode the certificate".into());
    let (outer, _) = read_tlv(cert_der).ok_or_else(bad)?;
    let (tbs, rest) = read_tlv(outer.content).ok_or_else(bad)?;
    let (sig_alg, _) = read_tlv(rest).ok_or_else(bad)?;
    // TBSCertificate: [0] version, serialNumber, signature, issuer, ...
    let (version, r) = read_tlv(tbs.content).ok_or_else(bad)?;
    if version.whole.first() != Some(&0xa0) {
        return Err(bad());
    }
    let (serial, r) = read_tlv(r).ok_or_else(bad)?;
    let (sig, r) = read_tlv(r).ok_or_else(bad)?;
    let (_old_issuer, r) = read_tlv(r).ok_or_else(bad)?;
    let mut tbs_content = Vec::with_capacity(tbs.content.len() + issuer_raw.len());
    tbs_content.extend_from_slice(version.whole);
    tbs_content.extend_from_slice(serial.whole);
    tbs_content.extend_from_slice(sig.whole);
    tbs_content.extend_from_slice(issuer_raw);
    tbs_content.extend_from_slice(r);
    let new_tbs = tlv(0x30, &tbs_content);
    let signature = key.sign(&new_tbs)?;
    let mut bits = Vec::with_capacity(signature.len() + 1);
    bits.push(0);
    bits.extend_from_slice(&signature);
    let mut cert_content = new_tbs;
    cert_content.extend_from_slice(sig_alg.whole);
    cert_content.extend_from_slice(&tlv(0x03, &bits));
    Ok(tlv(0x30, &cert_content))
}
