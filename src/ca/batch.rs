//! Bulk issuance: many leaf certificates from one CSV or JSON-lines file in one process.
//!
//! The file is parsed and checked up front (syntax, duplicate output stems); then it is issued
//! chunk by chunk. A chunk is validated completely (names, files in the way, writable output
//! directories) before anything of it happens; then its serials are reserved in one transaction,
//! keys are generated and certificates signed on every core, the records stored in one
//! transaction, and the files written all-or-nothing with one `syncfs` instead of one fsync per
//! file. An invalid line stops the batch before anything of its chunk is written and names the
//! line; earlier chunks stay issued and are reported.
//!
//! Formats, one certificate per line (`#` comments and blank lines are skipped):
//! - CSV: `cn,sans,out` — `sans` separated by `;` or spaces, `out` optional; a first line
//!   starting with `cn,` is a header. Fields may be double-quoted.
//! - JSON lines: `{"cn": "...", "sans": ["..."], "out": "..."}` (`sans`, `out` optional).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use crate::ca::{self, Ca, IssuedFiles};
use crate::error::{Error, Result};
use crate::files::FileSet;
use crate::keys::{self, KeyType};
use crate::names::{self, San};
use crate::profile::{self, Constraints, Profile};
use crate::serial::Serial;

/// Lines per chunk by default.
pub const DEFAULT_CHUNK: usize = 1000;
/// Longest line of a batch file.
pub const MAX_LINE: usize = 16 * 1024;
/// Largest batch file accepted.
pub const MAX_BATCH_BYTES: u64 = 256 * 1024 * 1024;

/// One line of a batch file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchItem {
    /// 1-based line number in the file.
    pub line: usize,
    /// Subject CN.
    pub cn: String,
    /// SANs as typed.
    pub sans: Vec<String>,
    /// Output stem.
    pub stem: PathBuf,
}

/// How to issue a batch.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// server or client.
    pub profile: Profile,
    /// Key type of every new key.
    pub key_type: KeyType,
    /// Validity in days (None: 365, capped by the CA).
    pub days: Option<u32>,
    /// Replace existing files (kept as `.bak`).
    pub force: bool,
    /// Lines per chunk (one store transaction each).
    pub chunk: usize,
    /// Signing threads (0: one per core).
    pub threads: usize,
}

/// One issued certificate of a batch.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BatchIssued {
    /// Line number.
    pub line: usize,
    /// Serial, hex.
    pub serial: String,
    /// CN.
    pub cn: String,
    /// Certificate file.
    pub cert: PathBuf,
}

/// What a batch did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BatchSummary {
    /// Certificates issued.
    pub issued: usize,
    /// Chunks committed.
    pub chunks: usize,
    /// Profile.
    pub profile: Profile,
    /// notAfter of every certificate.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// Every certificate.
    pub certificates: Vec<BatchIssued>,
    /// Warnings (capped validity, ...).
    pub warnings: Vec<String>,
}

/// Parses a batch file. Output stems default to the CN made filename-safe, under `out_dir`.
pub fn parse(text: &str, source: &Path, out_dir: Option<&Path>) -> Result<Vec<BatchItem>> {
    let bad = |line: usize, reason: String, hint: &str| Error::BatchLine {
        file: source.to_path_buf(),
        line,
        reason,
        hint: hint.into(),
        issued: 0,
    };
    let mut items = Vec::new();
    let mut stems: HashMap<PathBuf, usize> = HashMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.len() > MAX_LINE {
            return Err(bad(
                line,
                format!("line longer than {MAX_LINE} bytes"),
                "one certificate per line: cn,sans,out",
            ));
        }
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let (cn, sans, out) = if l.starts_with('{') {
            parse_json_line(l).map_err(|r| {
                bad(
                    line,
                    r,
                    "write {\"cn\": \"name\", \"sans\": [\"...\"], \"out\": \"stem\"}",
                )
            })?
        } else {
            if items.is_empty() && l.to_ascii_lowercase().starts_with("cn,") {
                continue;
            }
            parse_csv_line(l)
                .map_err(|r| bad(line, r, "write cn,sans,out (sans separated by ; or spaces)"))?
        };
        if cn.is_empty() {
            return Err(bad(
                line,
                "empty cn".into(),
                "every line needs a common name",
            ));
        }
        let rel = match out {
            Some(o) if !o.is_empty() => confined_stem(&o).map_err(|r| {
                bad(
                    line,
                    r,
                    "give out as a relative name inside --out-dir (no leading /, no .., no control characters)",
                )
            })?,
            _ => default_stem(&cn),
        };
        let stem = match out_dir {
            Some(d) => d.join(rel),
            None => rel,
        };
        if let Some(first) = stems.insert(stem.clone(), line) {
            return Err(bad(
                line,
                format!(
                    "output stem {} is already used on line {first}",
                    stem.display()
                ),
                "give each line its own out column",
            ));
        }
        items.push(BatchItem {
            line,
            cn,
            sans,
            stem,
        });
    }
    if items.is_empty() {
        return Err(Error::bad_file(
            source,
            "no certificate lines (only blank lines, comments or a header)",
            "write one line per certificate: cn,sans,out",
        ));
    }
    Ok(items)
}

/// An `out` value of a batch line as a path that stays inside the output directory: relative,
/// without `..`, without control characters (NUL, newline, …), not ending in `/`. A batch file
/// comes from elsewhere; it must never choose where outside `--out-dir` files are written.
pub fn confined_stem(out: &str) -> std::result::Result<PathBuf, String> {
    use std::path::Component;
    if out.chars().any(char::is_control) {
        return Err("out contains a control character (NUL, newline, …)".into());
    }
    if out.len() > 1024 {
        return Err("out is longer than 1024 bytes".into());
    }
    let p = Path::new(out);
    if out.ends_with('/') || p.file_name().is_none() {
        return Err("out must end in a file name stem".into());
    }
    for c in p.components() {
        match c {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => {
                return Err("out may not contain ..: it must stay inside --out-dir".into())
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err("out may not be an absolute path: it must stay inside --out-dir".into())
            }
        }
    }
    Ok(p.components().collect())
}

/// The CN made filename-safe (`*.example.com` → `wildcard.example.com`).
pub fn default_stem(cn: &str) -> PathBuf {
    let s: String = cn
        .replace('*', "wildcard")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let s = s.trim_start_matches('.').to_string();
    PathBuf::from(if s.is_empty() { "cert".to_string() } else { s })
}

type Fields = (String, Vec<String>, Option<String>);

fn parse_json_line(l: &str) -> std::result::Result<Fields, String> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Line {
        cn: String,
        #[serde(default)]
        sans: SansField,
        #[serde(default)]
        out: Option<String>,
    }
    #[derive(serde::Deserialize, Default)]
    #[serde(untagged)]
    enum SansField {
        #[default]
        None,
        List(Vec<String>),
        Text(String),
    }
    let v: Line = serde_json::from_str(l).map_err(|e| format!("bad JSON line ({e})"))?;
    let sans = match v.sans {
        SansField::None => Vec::new(),
        SansField::List(l) => l,
        SansField::Text(t) => split_sans(&t),
    };
    Ok((v.cn.trim().to_string(), sans, v.out))
}

fn split_sans(s: &str) -> Vec<String> {
    s.split([';', ' ', '|'])
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(String::from)
        .collect()
}

fn parse_csv_line(l: &str) -> std::result::Result<Fields, String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = l.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    if quoted {
        return Err("unterminated quote".into());
    }
    fields.push(cur);
    if fields.len() > 3 {
        return Err(format!("{} columns; expected cn,sans,out", fields.len()));
    }
    let cn = fields[0].trim().to_string();
    let sans = fields.get(1).map(|s| split_sans(s)).unwrap_or_default();
    let out = fields.get(2).map(|s| s.trim().to_string());
    Ok((cn, sans, out))
}

/// A signed certificate (DER) and its new key (PKCS#8 PEM, wiped on drop).
type Signed = (Vec<u8>, zeroize::Zeroizing<Vec<u8>>);

/// A validated line, ready to sign.
struct Prepared {
    line: usize,
    cn: String,
    sans: Vec<San>,
    files: IssuedFiles,
}

impl Ca {
    /// Issues every item, chunk by chunk (see the module docs). `progress(done, total)` is
    /// called after each chunk.
    pub fn issue_batch(
        &mut self,
        items: &[BatchItem],
        source: &Path,
        opts: &BatchOptions,
        now: OffsetDateTime,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<BatchSummary> {
        let mut warnings = Vec::new();
        ca::check_leaf_days(opts.profile, opts.days, false, &mut warnings)?;
        let (not_before, not_after) = ca::validity(
            now,
            opts.days,
            ca::LEAF_DAYS,
            Some(self.not_after()?),
            &mut warnings,
        )?;
        let threads = if opts.threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            opts.threads
        };
        let ca_serial = self.serial_hex()?;
        let constraints = self.chain_constraints()?;
        let mut summary = BatchSummary {
            issued: 0,
            chunks: 0,
            profile: opts.profile,
            not_after,
            certificates: Vec::with_capacity(items.len()),
            warnings,
        };
        for chunk in items.chunks(opts.chunk.max(1)) {
            let issued_before = summary.issued;
            let line_err = |line: usize, e: Error| Error::BatchLine {
                file: source.to_path_buf(),
                line,
                reason: one_line(&e),
                hint: e.hint().unwrap_or_else(|| "fix the line".into()),
                issued: issued_before,
            };
            // 1. Validate the whole chunk before anything of it happens.
            let mut prepared = Vec::with_capacity(chunk.len());
            for it in chunk {
                let p = self
                    .prepare(it, opts, &constraints)
                    .map_err(|e| line_err(it.line, e))?;
                prepared.push(p);
            }
            check_writable(&prepared).map_err(|(line, e)| line_err(line, e))?;
            // 2. Reserve every serial of the chunk (committed before signing).
            let serials = self.reserve_serials(prepared.len(), now)?;
            crate::failpoint::hit("batch.reserve", source)?;
            // 3. Keys and signatures on every core.
            let signed =
                self.sign_parallel(&prepared, &serials, opts, not_before, not_after, threads)?;
            // 4. One transaction for the records.
            let mut recs = Vec::with_capacity(signed.len());
            for ((p, serial), (der, _)) in prepared.iter().zip(&serials).zip(&signed) {
                let mut rec = ca::record(
                    der,
                    serial,
                    opts.profile,
                    opts.key_type,
                    Some(p.files.cert.with_extension("").display().to_string()),
                    Some(ca_serial.clone()),
                )?;
                rec.stem = Some(stem_of(&p.files.cert));
                rec.sans = p.sans.iter().map(San::to_string).collect();
                recs.push(rec);
            }
            self.store().record_many(&recs, now)?;
            crate::failpoint::hit("batch.record", source)?;
            // 5. Files, all or nothing for the chunk.
            let mut fs = FileSet::new();
            let intermediates = self.intermediates().to_vec();
            for (p, (der, key_pem)) in prepared.iter().zip(signed) {
                fs.private(&p.files.key, key_pem);
                fs.public(&p.files.cert, crate::pem::encode("CERTIFICATE", &der));
                let mut chain = vec![der];
                chain.extend(intermediates.iter().cloned());
                fs.public(&p.files.fullchain, ca::pem_chain(&chain));
            }
            fs.commit_bulk(opts.force, threads).map_err(|e| {
                // The chunk's certificates were recorded but nobody holds them: void them (and
                // say so, never "nothing was issued").
                let hexes: Vec<String> = serials.iter().map(|s| s.hex()).collect();
                self.void_unwritten(&hexes, now);
                let first = prepared.first().map_or(0, |p| p.line);
                let last = prepared.last().map_or(0, |p| p.line);
                Error::bad_file(
                    source,
                    format!(
                        "writing the files of lines {first}-{last} failed after their {} certificates were recorded; they are revoked (cessation-of-operation) ({}): {}",
                        prepared.len(),
                        if issued_before > 0 {
                            format!("{issued_before} of earlier chunks were issued and written")
                        } else {
                            "no earlier chunk".into()
                        },
                        one_line(&e)
                    ),
                    "fix the cause (disk space, permissions), then retry those lines; `mtls-ca doctor` lists any certificate recorded without files",
                )
            })?;
            for (p, serial) in prepared.iter().zip(&serials) {
                summary.certificates.push(BatchIssued {
                    line: p.line,
                    serial: serial.hex(),
                    cn: p.cn.clone(),
                    cert: p.files.cert.clone(),
                });
            }
            summary.issued += prepared.len();
            summary.chunks += 1;
            progress(summary.issued, items.len());
        }
        Ok(summary)
    }

    fn prepare(
        &self,
        it: &BatchItem,
        opts: &BatchOptions,
        constraints: &[crate::name_constraints::CaConstraints],
    ) -> Result<Prepared> {
        profile::check_cn(&it.cn)?;
        let parsed = names::parse_all(&it.sans)?;
        let (cn, sans) = match opts.profile {
            p if p.is_server() => {
                let sans = profile::server_sans(&it.cn, parsed)?;
                (sans[0].to_string(), sans)
            }
            _ => (it.cn.clone(), parsed),
        };
        ca::check_constraints(constraints, &cn, &sans)?;
        let files = IssuedFiles {
            cert: ca::with_ext(&it.stem, "crt"),
            key: ca::with_ext(&it.stem, "key"),
            fullchain: ca::with_ext(&it.stem, "fullchain.crt"),
            p12: None,
        };
        if !opts.force {
            for p in [&files.cert, &files.key, &files.fullchain] {
                if std::fs::symlink_metadata(p).is_ok() {
                    return Err(Error::FileExists { path: p.clone() });
                }
            }
        }
        Ok(Prepared {
            line: it.line,
            cn,
            sans,
            files,
        })
    }

    fn sign_parallel(
        &self,
        prepared: &[Prepared],
        serials: &[Serial],
        opts: &BatchOptions,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
        threads: usize,
    ) -> Result<Vec<Signed>> {
        let signer = self.signer();
        let per = prepared.len().div_ceil(threads.max(1)).max(1);
        let results: Vec<Result<Vec<Signed>>> = std::thread::scope(|s| {
            let handles: Vec<_> = prepared
                .chunks(per)
                .zip(serials.chunks(per))
                .map(|(ps, ss)| {
                    let signer = &signer;
                    s.spawn(move || {
                        let mut out = Vec::with_capacity(ps.len());
                        for (p, serial) in ps.iter().zip(ss) {
                            let key = keys::generate(opts.key_type)?;
                            let params = profile::params(&profile::Request {
                                profile: opts.profile,
                                cn: p.cn.clone(),
                                org: None,
                                subject: Default::default(),
                                sans: p.sans.clone(),
                                key_type: opts.key_type,
                                serial: serial.clone(),
                                not_before,
                                not_after,
                                pathlen: None,
                                constraints: Constraints::default(),
                            })?;
                            let der = signer.sign(&params, &key, serial)?;
                            let pem = zeroize::Zeroizing::new(
                                keys::to_pkcs8_pem(&key).as_bytes().to_vec(),
                            );
                            out.push((der, pem));
                        }
                        Ok(out)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(Error::Crypto("a signing thread failed".into())))
                })
                .collect()
        });
        let mut all = Vec::with_capacity(prepared.len());
        for r in results {
            all.extend(r?);
        }
        Ok(all)
    }
}

fn stem_of(cert: &Path) -> String {
    let s = cert.display().to_string();
    s.strip_suffix(".crt").unwrap_or(&s).to_string()
}

fn one_line(e: &Error) -> String {
    e.to_string().replace('\n', " ")
}

/// Checks that every output directory of the chunk exists and is writable, or can be created
/// (its nearest existing ancestor is writable), by creating and removing a probe file.
fn check_writable(prepared: &[Prepared]) -> std::result::Result<(), (usize, Error)> {
    let mut seen = std::collections::HashSet::new();
    for p in prepared {
        let parent = p
            .files
            .cert
            .parent()
            .filter(|x| !x.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        if !seen.insert(parent.clone()) {
            continue;
        }
        let mut dir = parent.as_path();
        while !dir.exists() {
            dir = match dir.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            };
        }
        let probe = dir.join(format!(".mtls-ca-write-check-{}", std::process::id()));
        match crate::files::write_new(&probe, b"", crate::files::PRIVATE) {
            Ok(()) => {
                let _ = std::fs::remove_file(&probe);
            }
            Err(e) => return Err((p.line, e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_csv_and_json_lines() {
        let text = "cn,sans,out\n# comment\nalice,alice@example.com;spiffe://e.org/a,clients/alice\n\"bob, jr\",,\n{\"cn\":\"carol\",\"sans\":[\"carol@example.com\"]}\n";
        let items = parse(text, Path::new("b.csv"), Some(Path::new("out"))).unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(items[0].line, 3);
        assert_eq!(items[0].sans, ["alice@example.com", "spiffe://e.org/a"]);
        assert_eq!(items[0].stem, Path::new("out/clients/alice"));
        assert_eq!(items[1].cn, "bob, jr");
        assert_eq!(items[1].stem, Path::new("out/bob__jr"));
        assert_eq!(items[2].stem, Path::new("out/carol"));
    }

    #[test]
    fn refuses_duplicates_and_garbage() {
        let e = parse("a,,x\nb,,x\n", Path::new("b.csv"), None).unwrap_err();
        assert!(e.to_string().contains("b.csv:2"), "{e}");
        assert!(parse("{\"cn\": 1}\n", Path::new("b"), None).is_err());
        assert!(parse("a,b,c,d\n", Path::new("b"), None).is_err());
        assert!(parse("\"a,b\n", Path::new("b"), None).is_err());
        assert!(parse("cn,sans,out\n# nothing\n\n", Path::new("b"), None).is_err());
    }
}
