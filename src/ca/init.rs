//! Creating a CA directory: `init` of a root or an intermediate (signed by its parent's
//! directory), its key in a file (encrypted or not) or in a PKCS#11 token, all files written
//! through one journalled change so that a crash leaves the old state or the new one.

use std::path::Path;

use ring::rand::SystemRandom;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::files::Written;
use crate::keys::{self, KeyType};
use crate::profile::{self, Profile};
use crate::serial::Serial;
use crate::signer::CaKey;
use crate::store::{Store, STORE_FILE};
use crate::x509;

use super::{
    describe, journal, key_file_bytes, layout, pem_chain, record, record_pending, recover,
    validity, Ca, InitOptions, Issued, IssuedFiles, CA_CERT, CA_CHAIN, CA_FILES, CA_KEY,
    INTERMEDIATE_DAYS, ROOT_DAYS, STORE_SHM, STORE_WAL,
};

impl Ca {
    /// Creates a new CA in `dir` (root, or intermediate with `opts.parent`).
    pub fn init(dir: &Path, opts: &InitOptions, now: OffsetDateTime) -> Result<(Ca, Issued)> {
        let parent_key = opts
            .parent
            .as_ref()
            .map(|p| p.join(CA_KEY))
            .unwrap_or_default();
        Ca::init_with(
            dir,
            opts,
            None,
            &mut || Err(crate::keycrypt::needs_passphrase(&parent_key)),
            now,
        )
    }

    /// Like [`Ca::init`]; with `passphrase`, `ca.key` is written as encrypted PKCS#8 (see
    /// [`crate::keycrypt`]). `parent_passphrase` is asked only when the parent's key is encrypted.
    pub fn init_with(
        dir: &Path,
        opts: &InitOptions,
        passphrase: Option<&crate::secret::Passphrase>,
        parent_passphrase: &mut dyn FnMut() -> Result<crate::secret::Passphrase>,
        now: OffsetDateTime,
    ) -> Result<(Ca, Issued)> {
        Ca::init_with_key(dir, opts, None, passphrase, parent_passphrase, now)
    }

    /// Like [`Ca::init_with`]; with `token_key`, the CA key lives in that PKCS#11 token: the key
    /// it names is used when the token holds it, else generated there (of `opts.key_type`), and
    /// the directory records the URI (`ca.key-uri`, never a PIN) instead of `ca.key`.
    pub fn init_with_key(
        dir: &Path,
        opts: &InitOptions,
        token_key: Option<&crate::pkcs11::Pkcs11Uri>,
        passphrase: Option<&crate::secret::Passphrase>,
        parent_passphrase: &mut dyn FnMut() -> Result<crate::secret::Passphrase>,
        now: OffsetDateTime,
    ) -> Result<(Ca, Issued)> {
        if token_key.is_some() && passphrase.is_some() {
            return Err(Error::invalid(
                "--encrypt-key",
                "",
                "a key in a PKCS#11 token is protected by the token's PIN, not a passphrase",
                "drop --encrypt-key (or --key pkcs11:…)",
            ));
        }
        // An init or rotation a crash interrupted is completed or undone first.
        if dir.is_dir() {
            recover(dir)?;
        }
        layout::check_free(dir, opts.force)?;
        if let Some(cn) = &opts.cn {
            profile::check_cn(cn)?;
        }
        if let Some(org) = &opts.org {
            check_org(org)?;
        }
        let mut parent = match &opts.parent {
            Some(p) => Some(Ca::open_with(p, &mut || match passphrase {
                Some(pp) => Ok(pp.clone()),
                None => parent_passphrase(),
            })?),
            None => None,
        };
        let profile = if parent.is_some() {
            Profile::Intermediate
        } else {
            Profile::Root
        };
        let mut warnings = Vec::new();
        let (default_days, cap) = match &parent {
            Some(p) => (INTERMEDIATE_DAYS, Some(p.not_after()?)),
            None => (ROOT_DAYS, None),
        };
        let (not_before, not_after) = validity(now, opts.days, default_days, cap, &mut warnings)?;
        if let Some(p) = &parent {
            if let Some(0) = p.pathlen() {
                return Err(Error::invalid(
                    "--parent",
                    p.dir.display().to_string(),
                    "the parent CA has pathlen 0: it may not sign another CA",
                    "sign leaves from the parent directly, or create the parent with a larger --pathlen",
                ));
            }
        }
        // The key first (in the token: found or generated there), so that a wrong PIN, token
        // or object fails before anything is written.
        let (key, key_type): (CaKey, KeyType) = match token_key {
            Some(uri) => {
                let (k, _) = crate::pkcs11::TokenKey::open_or_generate(
                    uri,
                    &crate::pkcs11::env(),
                    opts.key_type,
                )?;
                let t = k.key_type();
                (CaKey::Token(k), t)
            }
            None => (CaKey::File(keys::generate(opts.key_type)?), opts.key_type),
        };
        let rng = SystemRandom::new();
        let pathlen = match profile {
            Profile::Intermediate => Some(opts.pathlen.unwrap_or(0)),
            _ => opts.pathlen,
        };
        let cn = opts.cn.clone().unwrap_or_else(|| match profile {
            Profile::Root => "mtls-ca Root CA".into(),
            _ => "mtls-ca Intermediate CA".into(),
        });
        let make_req = |serial: Serial| profile::Request {
            profile,
            cn: cn.clone(),
            org: opts.org.clone(),
            subject: opts.subject.clone(),
            sans: Vec::new(),
            key_type,
            serial,
            not_before,
            not_after,
            pathlen,
            constraints: opts.constraints.clone(),
        };
        // A shared PostgreSQL store is reached before anything is written: a wrong URL or
        // password leaves no directory behind.
        let connect = crate::store::connect_options();
        let shared = match connect.init_url.as_deref() {
            Some(url) => Some((url, Store::create_shared(url, &connect)?)),
            None => None,
        };
        let dir_warning = crate::files::ensure_private_dir(dir)?;
        crate::failpoint::hit("init.dir", dir)?;
        let _lock = journal::lock(dir)?;
        journal::recover_locked(dir, &record_pending)?;
        // With --force, every CA file present is set aside as NAME.bak; refuse now (before
        // anything changes) when a `.bak` name is taken by something a rename cannot replace.
        let mut backup = Vec::new();
        if opts.force {
            for name in CA_FILES.iter().chain(
                [
                    CA_CHAIN,
                    layout::CA_BUNDLE,
                    layout::KEY_URI,
                    STORE_WAL,
                    STORE_SHM,
                ]
                .iter(),
            ) {
                let p = dir.join(name);
                let Ok(meta) = std::fs::symlink_metadata(&p) else {
                    continue;
                };
                let bak = crate::files::bak_name(&p);
                let in_the_way = std::fs::symlink_metadata(&bak).is_ok_and(|m| m.is_dir());
                if meta.is_dir() || in_the_way {
                    return Err(Error::bad_file(
                        if meta.is_dir() { &p } else { &bak },
                        "a directory is in the way of replacing the CA files",
                        "move it out of the CA directory, then run init --force again",
                    ));
                }
                backup.push((*name).to_string());
            }
        }
        let store_path = layout::store(dir);
        let (cert_der, serial, chain) = match parent.as_mut() {
            Some(p) => {
                let serial = p.reserve_serial(now)?;
                crate::failpoint::hit("init.parent-reserve", p.dir())?;
                let params = profile::params(&make_req(serial.clone()))?;
                let der = p.sign(&params, &key, &serial)?;
                let mut chain = vec![der.clone()];
                chain.extend(p.chain.iter().cloned());
                p.store.record_issued(
                    &record(
                        &der,
                        &serial,
                        profile,
                        key_type,
                        None,
                        Some(p.serial_hex()?),
                    )?,
                    now,
                )?;
                crate::failpoint::hit("init.parent-record", &p.dir)?;
                (der, serial, chain)
            }
            None => {
                let serial = Serial::random(&rng)?;
                let params = profile::params(&make_req(serial.clone()))?;
                let der = profile::with_ski(&params, &key)
                    .self_signed(&key)?
                    .der()
                    .to_vec();
                x509::self_check(&der, &der, &serial, true)?;
                (der.clone(), serial, vec![der])
            }
        };
        let public = |name: &str, b: &[u8]| journal::Staged {
            name: name.into(),
            contents: Zeroizing::new(b.to_vec()),
            mode: crate::files::PUBLIC,
        };
        let cert_pem = crate::pem::encode("CERTIFICATE", &cert_der);
        let key_file = match &key {
            CaKey::File(k) => journal::Staged {
                name: CA_KEY.into(),
                contents: key_file_bytes(k, passphrase)?,
                mode: crate::files::PRIVATE,
            },
            CaKey::Token(t) => public(layout::KEY_URI, format!("{}\n", t.uri()).as_bytes()),
        };
        let key_name = key_file.name.clone();
        let mut files = vec![
            key_file,
            public(CA_CERT, cert_pem.as_bytes()),
            public(CA_CHAIN, pem_chain(&chain).as_bytes()),
        ];
        if parent.is_none() {
            // The CAs to trust; `ca rotate` adds the new CA here, so gateways can use it from
            // day one and keep trusting both CAs during a rollover.
            files.push(public(layout::CA_BUNDLE, cert_pem.as_bytes()));
        }
        // A shared PostgreSQL store is recorded in the directory by its URL, without the password.
        let mut shared_store = match shared {
            Some((url, store)) => {
                files.push(public(
                    crate::store::STORE_URL_FILE,
                    format!("{}\n", crate::store::postgres::without_password(url)).as_bytes(),
                ));
                Some(store)
            }
            None => None,
        };
        let wrote_url = shared_store.is_some();
        // The store is made in the staging directory too, so a crash never leaves a directory
        // with a store and no CA (or an old CA with a new store).
        let root_record = match parent {
            None => Some(record(&cert_der, &serial, profile, key_type, None, None)?),
            Some(_) => None,
        };
        journal::apply_with(
            dir,
            journal::Change {
                op: "init",
                files,
                backup: backup.clone(),
                record: None,
            },
            &record_pending,
            |staging| {
                // A local store is made in the staging directory and closed (its WAL folded
                // in) before the journal moves it into place; a shared one is used as it is.
                let mut local = None;
                let (store, names) = match shared_store.as_mut() {
                    Some(store) => (store, Vec::new()),
                    None => (
                        local.insert(Store::create(&staging.join(STORE_FILE))?),
                        vec![STORE_FILE.to_string()],
                    ),
                };
                crate::failpoint::hit("init.store", &store_path)?;
                if let Some(rec) = &root_record {
                    // A root's own serial is recorded too, so the CA never reuses it.
                    store.reserve_serial_exact(&serial, now)?;
                    store.record_issued(rec, now)?;
                    crate::failpoint::hit("init.record", &store_path)?;
                }
                drop(local);
                Ok(names)
            },
        )?;
        let store = match shared_store {
            Some(store) => store,
            None => Store::open(&store_path)?,
        };
        let key_mode = if key_name == CA_KEY {
            crate::files::PRIVATE
        } else {
            crate::files::PUBLIC
        };
        let mut written: Vec<Written> = [
            (dir.join(&key_name), key_mode),
            (dir.join(CA_CERT), crate::files::PUBLIC),
            (dir.join(CA_CHAIN), crate::files::PUBLIC),
        ]
        .into_iter()
        .map(|(path, mode)| {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            let backup = backup
                .iter()
                .any(|b| *b == name)
                .then(|| crate::files::bak_name(&path));
            Written { path, mode, backup }
        })
        .collect();
        if root_record.is_some() {
            written.push(Written {
                path: dir.join(layout::CA_BUNDLE),
                mode: crate::files::PUBLIC,
                backup: backup
                    .iter()
                    .any(|b| b == layout::CA_BUNDLE)
                    .then(|| crate::files::bak_name(&dir.join(layout::CA_BUNDLE))),
            });
        }
        if wrote_url {
            written.push(Written {
                path: dir.join(crate::store::STORE_URL_FILE),
                mode: crate::files::PUBLIC,
                backup: None,
            });
        }
        warnings.extend(dir_warning);
        let mut files = IssuedFiles::of_ca(dir);
        files.key = dir.join(&key_name);
        let issued = describe(&cert_der, profile, key_type, files, written, warnings)?;
        let ca = Ca::from_parts(dir, cert_der, key, chain, store, passphrase.cloned())?;
        Ok((ca, issued))
    }
}

fn check_org(org: &str) -> Result<()> {
    if org.trim().is_empty() || org.chars().count() > 64 || org.chars().any(char::is_control) {
        return Err(Error::invalid(
            "--org",
            org,
            "must be 1-64 characters without control characters",
            "give a short organisation name",
        ));
    }
    Ok(())
}
