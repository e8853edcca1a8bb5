//! PEM reading with limits: any number of blocks (capped), text around them, CRLF line ends.
//!
//! Every reader of user files goes through [`parse_all`] so that the caps on size and block count
//! hold everywhere, and errors name the file.

use std::path::Path;

use crate::error::{Error, Result};

/// At most this many PEM blocks are read from one input.
pub const MAX_BLOCKS: usize = 10_000;

/// One PEM block: its label (`CERTIFICATE`, `PRIVATE KEY`, …) and decoded contents.
#[derive(Debug, Clone)]
pub struct Block {
    /// The label between `BEGIN ` and the dashes.
    pub label: String,
    /// The base64-decoded contents.
    pub der: Vec<u8>,
}

/// Parses every PEM block in `bytes`. `path` names the input in errors.
pub fn parse_all(bytes: &[u8], path: &Path) -> Result<Vec<Block>> {
    let blocks = pem::parse_many(bytes).map_err(|e| {
        Error::bad_file(
            path,
            format!("damaged PEM: {}", describe(&e)),
            "the file is truncated or was edited; export it again from its source",
        )
    })?;
    if blocks.is_empty() {
        return Err(Error::bad_file(
            path,
            "no PEM block (-----BEGIN …-----) found",
            "give a PEM or DER file",
        ));
    }
    if blocks.len() > MAX_BLOCKS {
        return Err(Error::bad_file(
            path,
            format!("more than {MAX_BLOCKS} PEM blocks"),
            "split the file",
        ));
    }
    Ok(blocks
        .into_iter()
        .map(|p| Block {
            label: p.tag().to_string(),
            der: p.into_contents(),
        })
        .collect())
}

/// The labels of some blocks, for error messages ("CERTIFICATE, PRIVATE KEY").
pub fn labels(blocks: &[Block]) -> String {
    let mut names: Vec<&str> = blocks.iter().map(|b| b.label.as_str()).collect();
    names.dedup();
    names.join(", ")
}

/// Encodes DER as PEM with `\n` line ends.
pub fn encode(label: &str, der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new(label, der.to_vec()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

fn describe(e: &pem::PemError) -> String {
    match e {
        pem::PemError::MismatchedTags(a, b) => format!("BEGIN {a} ends with END {b}"),
        pem::PemError::MissingBeginTag => "a block has no BEGIN line".into(),
        pem::PemError::MissingEndTag => "a block has no END line (truncated?)".into(),
        pem::PemError::MissingData => "a block is empty".into(),
        pem::PemError::InvalidData(_) => "bad base64 inside a block".into(),
        pem::PemError::NotUtf8(_) => "not text".into(),
        other => other.to_string(),
    }
}
