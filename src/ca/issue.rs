//! Issuing leaf certificates from an open CA, in the one order every path follows: validate →
//! check the output files are free → generate the key (or take the CSR's) → reserve the serial →
//! sign → self-check → record → write files. `sign_unrecorded` stops before the record, for the
//! online CA's group commit.

use std::path::PathBuf;

use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::files::FileSet;
use crate::keys::{self, KeyType};
use crate::names::San;
use crate::profile::{self, Constraints, Profile};
use crate::store::Record;

use super::{
    check_leaf_days, describe, pem_chain, record, to_bytes, validity, validity_for, with_ext, Ca,
    IssueOptions, Issued, IssuedFiles, LeafKey, LeafRequest, Unrecorded, LEAF_DAYS,
};

/// An issuance between signature and record (inside [`Ca::issue_leaf_with`]).
struct SignedLeaf {
    der: Vec<u8>,
    record: Record,
    new_key: Option<rcgen::KeyPair>,
    files: IssuedFiles,
    profile: Profile,
    key_type: KeyType,
    warnings: Vec<String>,
    file_profile: Option<String>,
}

impl Ca {
    /// Issues a server or client certificate and writes STEM.crt, STEM.key, STEM.fullchain.crt.
    pub fn issue(&mut self, opts: &IssueOptions, now: OffsetDateTime) -> Result<Issued> {
        self.issue_with(opts, None, now)
    }

    /// [`Ca::issue`] with a profile from `profiles.toml` (`opts.profile` is replaced by its
    /// kind); see [`Ca::issue_leaf_with`].
    pub fn issue_with(
        &mut self,
        opts: &IssueOptions,
        file_profile: Option<&crate::pki::leaf_profile::FileProfile>,
        now: OffsetDateTime,
    ) -> Result<Issued> {
        let mut opts = opts.clone();
        if let Some(f) = file_profile {
            opts.profile = f.kind;
        }
        let opts = &opts;
        profile::check_cn(&opts.cn)?;
        let mut warnings = Vec::new();
        let parsed = crate::names::parse_all(&opts.sans)?;
        let (cn, sans) = match opts.profile {
            p if p.is_server() => {
                let sans = profile::server_sans(&opts.cn, parsed)?;
                (sans[0].to_string(), sans)
            }
            Profile::Client => (opts.cn.clone(), parsed),
            _ => {
                return Err(Error::invalid(
                    "profile",
                    opts.profile.as_str(),
                    "issue makes leaves only",
                    "use `mtls-ca init --parent` for an intermediate CA",
                ))
            }
        };
        check_leaf_days(
            opts.profile,
            opts.days,
            opts.allow_long_validity,
            &mut warnings,
        )?;
        self.issue_leaf_with(
            LeafRequest {
                profile: opts.profile,
                cn,
                subject: opts.subject.clone(),
                sans,
                days: opts.days,
                valid: opts.valid,
                default_days: LEAF_DAYS,
                stem: opts.stem.clone(),
                force: opts.force,
                renews: None,
                warnings,
            },
            LeafKey::Generate(opts.key_type),
            now,
            file_profile,
        )
    }

    /// The one issuance path of leaves (issue, sign, renew): validity → output files free →
    /// key → reserve serial → sign → self-check → record → write. `req.cn` and `req.sans` must
    /// already be validated for the profile (server SANs include the CN).
    pub fn issue_leaf(
        &mut self,
        req: LeafRequest,
        key: LeafKey,
        now: OffsetDateTime,
    ) -> Result<Issued> {
        self.issue_leaf_with(req, key, now, None)
    }

    /// [`Ca::issue_leaf`] with a profile from `profiles.toml`: its policy, key types and
    /// validity are checked before anything is reserved or written, and it decides keyUsage and
    /// extendedKeyUsage (`req.profile` must be its `kind`).
    pub fn issue_leaf_with(
        &mut self,
        req: LeafRequest,
        key: LeafKey,
        now: OffsetDateTime,
        file_profile: Option<&crate::pki::leaf_profile::FileProfile>,
    ) -> Result<Issued> {
        let force = req.force;
        let signed = self.sign_leaf(req, key, now, file_profile)?;
        self.store.record_issued(&signed.record, now)?;
        self.write_leaf(signed, force, now)
    }

    /// [`Ca::issue_leaf_with`] for a public key and no files, stopping after the signature:
    /// the serial is reserved and the certificate signed, but not recorded. The caller records
    /// it ([`crate::store::Store::record_each`], many in one transaction: the online CA's group commit) and
    /// must not hand the certificate out before that commit.
    pub fn sign_unrecorded(
        &mut self,
        req: LeafRequest,
        spki: Vec<u8>,
        key_type: KeyType,
        now: OffsetDateTime,
        file_profile: Option<&crate::pki::leaf_profile::FileProfile>,
    ) -> Result<Unrecorded> {
        if !req.stem.as_os_str().is_empty() {
            return Err(Error::invalid(
                "stem",
                req.stem.display().to_string(),
                "a certificate signed for a later commit writes no files",
                "leave the stem empty",
            ));
        }
        let signed = self.sign_leaf(req, LeafKey::Public { spki, key_type }, now, file_profile)?;
        let mut issued = describe(
            &signed.der,
            signed.profile,
            signed.key_type,
            signed.files,
            Vec::new(),
            signed.warnings,
        )?;
        issued.file_profile = file_profile.map(|f| f.name.clone());
        issued.renews = signed.record.renews.clone();
        Ok(Unrecorded {
            issued,
            der: signed.der,
            record: signed.record,
        })
    }

    /// Validity, policy, outputs free, key, serial reserved, signature: everything of an
    /// issuance before the store records it.
    fn sign_leaf(
        &mut self,
        req: LeafRequest,
        key: LeafKey,
        now: OffsetDateTime,
        file_profile: Option<&crate::pki::leaf_profile::FileProfile>,
    ) -> Result<SignedLeaf> {
        let LeafRequest {
            profile,
            cn,
            subject,
            sans,
            days,
            valid,
            default_days,
            stem,
            force,
            renews,
            mut warnings,
        } = req;
        if !profile.is_leaf() {
            return Err(Error::invalid(
                "profile",
                profile.as_str(),
                "only server and client certificates are issued to leaves",
                "use server, client or server-client",
            ));
        }
        let mut default_days = default_days;
        if let Some(f) = file_profile {
            f.check_names(&cn, &sans)?;
            let kt = match &key {
                LeafKey::Generate(kt) | LeafKey::Public { key_type: kt, .. } => *kt,
                LeafKey::Existing(k) => KeyType::of(k)?,
            };
            f.check_key_type(kt)?;
            if let Some(d) = days {
                f.check_days(d)?;
            } else if let Some(v) = valid {
                // A duration (`--valid 12h`) counts as the days it starts, rounded up.
                let d = (v.whole_seconds() + 86_399) / 86_400;
                f.check_days(u32::try_from(d).unwrap_or(u32::MAX))?;
            } else {
                default_days = f.days(None, default_days, &mut warnings)?;
            }
        }
        self.check_name_constraints(&cn, &sans)?;
        let (not_before, not_after) = match valid {
            Some(v) => validity_for(now, v, self.not_after()?)?,
            None => validity(
                now,
                days,
                default_days,
                Some(self.not_after()?),
                &mut warnings,
            )?,
        };
        // An empty stem writes no files (the online CA answers with the certificate instead).
        let no_files = stem.as_os_str().is_empty();
        let writes_key = !matches!(key, LeafKey::Public { .. });
        let files = IssuedFiles {
            cert: with_ext(&stem, "crt"),
            key: if writes_key {
                with_ext(&stem, "key")
            } else {
                PathBuf::new()
            },
            fullchain: with_ext(&stem, "fullchain.crt"),
            p12: None,
        };
        if no_files && writes_key {
            return Err(Error::invalid(
                "stem",
                "",
                "a new key needs a file to go to",
                "give an output stem",
            ));
        }
        for p in [&files.cert, &files.key, &files.fullchain] {
            if !no_files
                && !p.as_os_str().is_empty()
                && !force
                && std::fs::symlink_metadata(p).is_ok()
            {
                return Err(Error::FileExists { path: p.clone() });
            }
        }
        let (new_key, spki, key_type) = match key {
            LeafKey::Generate(kt) => (Some(keys::generate(kt)?), None, kt),
            LeafKey::Existing(k) => {
                let kt = KeyType::of(&k)?;
                (Some(*k), None, kt)
            }
            LeafKey::Public { spki, key_type } => (
                None,
                Some(rcgen::SubjectPublicKeyInfo::from_der(&spki)?),
                key_type,
            ),
        };
        // The outputs must be creatable before the store changes (a read-only directory is
        // refused with nothing reserved or recorded).
        if !no_files {
            crate::files::check_creatable(
                [&files.cert, &files.key, &files.fullchain].map(PathBuf::as_path),
            )?;
        }
        let serial = self.reserve_serial(now)?;
        crate::failpoint::hit("issue.reserve", &files.cert)?;
        let mut params = profile::params(&profile::Request {
            profile,
            cn,
            org: None,
            subject,
            sans: sans.clone(),
            key_type,
            serial: serial.clone(),
            not_before,
            not_after,
            pathlen: None,
            constraints: Constraints::default(),
        })?;
        if let Some(f) = file_profile {
            f.apply(&mut params, key_type);
        }
        if let Some(urls) = &self.public_urls {
            urls.apply(&mut params)?;
        }
        let der = match (&new_key, &spki) {
            (Some(k), _) => self.sign(&params, k, &serial)?,
            (None, Some(p)) => self.sign(&params, p, &serial)?,
            (None, None) => unreachable!("a leaf has a key or a public key"),
        };
        let mut rec = record(
            &der,
            &serial,
            profile,
            key_type,
            (!no_files).then(|| stem.display().to_string()),
            Some(self.serial_hex()?),
        )?;
        rec.sans = sans.iter().map(San::to_string).collect();
        rec.renews = renews;
        if let Some(f) = file_profile {
            rec.profile = f.name.clone();
        }
        Ok(SignedLeaf {
            der,
            record: rec,
            new_key,
            files,
            profile,
            key_type,
            warnings,
            file_profile: file_profile.map(|f| f.name.clone()),
        })
    }

    /// The files of a recorded leaf (none for an empty stem); a new certificate whose files
    /// cannot be written is voided.
    fn write_leaf(
        &mut self,
        signed: SignedLeaf,
        force: bool,
        now: OffsetDateTime,
    ) -> Result<Issued> {
        let SignedLeaf {
            der,
            record: rec,
            new_key,
            files,
            profile,
            key_type,
            warnings,
            file_profile,
        } = signed;
        let serial = &rec.serial;
        let renewal = rec.renews.is_some();
        crate::failpoint::hit("issue.record", &files.cert)?;
        if rec.stem.is_none() {
            let mut issued = describe(&der, profile, key_type, files, Vec::new(), warnings)?;
            issued.renews = rec.renews;
            return Ok(issued);
        }
        let mut fs = FileSet::new();
        if let Some(k) = &new_key {
            fs.private(&files.key, to_bytes(keys::to_pkcs8_pem(k)));
        }
        fs.public(&files.cert, crate::pem::encode("CERTIFICATE", &der));
        let mut fullchain = vec![der.clone()];
        fullchain.extend(self.intermediates().iter().cloned());
        fs.public(&files.fullchain, pem_chain(&fullchain));
        let written = match fs.commit(force) {
            Ok(w) => w,
            Err(e) => {
                // A renewal's successor stays for `doctor` (it supersedes the old certificate,
                // which is still in place); a new certificate nobody holds is voided.
                if !renewal {
                    self.void_unwritten(&[serial.hex()], now);
                }
                return Err(e);
            }
        };
        let mut issued = describe(&der, profile, key_type, files, written, warnings)?;
        issued.file_profile = file_profile;
        issued.renews = rec.renews;
        Ok(issued)
    }
}
