//! A CA key inside a PKCS#11 token (an HSM, SoftHSM2, a smart card), reached through the
//! `cryptoki` crate and named by an RFC 7512 `pkcs11:` URI.
//!
//! The URI names the token (`token=`, optionally `serial=`, `manufacturer=`, `model=`) and the key
//! (`object=` = CKA_LABEL, optionally `id=` = CKA_ID); `module-path` names the PKCS#11 library and
//! `pin-source=file:…` a file holding the user PIN. A PIN in the URI itself (`pin-value`) is
//! refused: URIs end up on command lines and in files. What the URI leaves open comes from
//! [`Pkcs11Env`], which the binary fills from `MTLS_CA_PKCS11_MODULE` / `MTLS_CA_PKCS11_PIN`
//! (this library never reads the environment itself).
//!
//! Keys are generated inside the token as sensitive and non-extractable (ECDSA P-256 / P-384,
//! RSA 2048 / 3072 / 4096); signing happens in the token (the digest is computed here for ECDSA,
//! the token signs it with CKM_ECDSA; RSA uses CKM_SHA256_RSA_PKCS).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Function, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType as CkKeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::keys::KeyType;

/// The DER OID of P-256 (prime256v1), as CKA_EC_PARAMS holds it.
const P256_OID: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// The DER OID of P-384 (secp384r1).
const P384_OID: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];

/// What the URI may leave open: the module and the PIN (the binary reads them from
/// `MTLS_CA_PKCS11_MODULE` and `MTLS_CA_PKCS11_PIN`).
#[derive(Clone, Default)]
pub struct Pkcs11Env {
    /// The PKCS#11 library when the URI has no `module-path`.
    pub module: Option<PathBuf>,
    /// The user PIN when the URI has no `pin-source`.
    pub pin: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for Pkcs11Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Env")
            .field("module", &self.module)
            .field("pin", &self.pin.as_ref().map(|_| "<set>"))
            .finish()
    }
}

static ENV: OnceLock<Pkcs11Env> = OnceLock::new();

/// Sets what URIs leave open, once per process (the binary calls it at start-up).
pub fn set_env(env: Pkcs11Env) {
    let _ = ENV.set(env);
}

/// What [`set_env`] set (nothing: no defaults).
pub fn env() -> Pkcs11Env {
    ENV.get().cloned().unwrap_or_default()
}

/// A parsed `pkcs11:` URI (RFC 7512). Never holds a PIN.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pkcs11Uri {
    /// `token=`: the token label.
    pub token: Option<String>,
    /// `manufacturer=`.
    pub manufacturer: Option<String>,
    /// `serial=`: the token serial number.
    pub serial: Option<String>,
    /// `model=`.
    pub model: Option<String>,
    /// `object=`: the key's label.
    pub object: Option<String>,
    /// `id=`: the key's CKA_ID.
    pub id: Option<Vec<u8>>,
    /// `module-path=`: the PKCS#11 library.
    pub module_path: Option<PathBuf>,
    /// `pin-source=file:…`: the file holding the PIN.
    pub pin_source: Option<PathBuf>,
}

/// True when `s` looks like a PKCS#11 URI (rather than a key file name).
pub fn is_uri(s: &str) -> bool {
    s.get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case("pkcs11:"))
}

fn bad_uri(uri: &str, reason: impl Into<String>) -> Error {
    Error::invalid(
        "--key",
        uri,
        reason,
        "give an RFC 7512 URI like 'pkcs11:token=ca;object=root-key?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/mtls-ca/pin'",
    )
}

fn pct_decode(uri: &str, v: &str) -> Result<Vec<u8>> {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = v
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| bad_uri(uri, format!("bad percent-encoding in {v:?}")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(out)
}

fn pct_encode(b: &[u8]) -> String {
    let mut s = String::new();
    for &c in b {
        if c.is_ascii_alphanumeric() || b"-._~:/[]@!$'()*+,".contains(&c) {
            s.push(c as char);
        } else {
            s.push_str(&format!("%{c:02X}"));
        }
    }
    s
}

impl Pkcs11Uri {
    /// Parses `uri`; attributes may be in the path (`;`) or the query (`&`) part.
    pub fn parse(uri: &str) -> Result<Pkcs11Uri> {
        if !is_uri(uri) {
            return Err(bad_uri(uri, "not a pkcs11: URI"));
        }
        let rest = &uri[7..];
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut u = Pkcs11Uri::default();
        let attrs = path
            .split(';')
            .chain(query.split('&'))
            .filter(|a| !a.is_empty());
        for a in attrs {
            let (k, v) = a
                .split_once('=')
                .ok_or_else(|| bad_uri(uri, format!("attribute {a:?} has no value")))?;
            let raw = pct_decode(uri, v)?;
            let text = || {
                String::from_utf8(raw.clone())
                    .map_err(|_| bad_uri(uri, format!("{k} is not UTF-8")))
            };
            match k.to_ascii_lowercase().as_str() {
                "token" => u.token = Some(text()?),
                "manufacturer" => u.manufacturer = Some(text()?),
                "serial" => u.serial = Some(text()?),
                "model" => u.model = Some(text()?),
                "object" => u.object = Some(text()?),
                "id" => u.id = Some(raw),
                "module-path" => u.module_path = Some(PathBuf::from(text()?)),
                "pin-source" => {
                    let t = text()?;
                    let f = t.strip_prefix("file:").unwrap_or(&t);
                    let f = f.strip_prefix("//").unwrap_or(f);
                    if f.is_empty() {
                        return Err(bad_uri(uri, "pin-source names no file"));
                    }
                    u.pin_source = Some(PathBuf::from(f));
                }
                "pin-value" => {
                    return Err(Error::invalid(
                        "--key",
                        "pkcs11:…pin-value=…",
                        "a PIN is never taken from the command line",
                        "put the PIN in a file (pin-source=file:PATH, mode 0600) or in MTLS_CA_PKCS11_PIN",
                    ))
                }
                "type" => {
                    if !matches!(v, "private" | "public") {
                        return Err(bad_uri(uri, "type must be private (the CA key)"));
                    }
                }
                // Other RFC 7512 attributes (library-*, slot-*, module-name) narrow nothing here.
                "library-manufacturer" | "library-description" | "library-version"
                | "slot-description" | "slot-manufacturer" | "slot-id" | "module-name" => {}
                other => return Err(bad_uri(uri, format!("unknown attribute {other:?}"))),
            }
        }
        if u.object.is_none() && u.id.is_none() {
            return Err(bad_uri(uri, "the URI names no key (object= or id=)"));
        }
        Ok(u)
    }

    /// The key's label (or, without one, its id in hex), for messages and new key names.
    pub fn key_name(&self) -> String {
        match (&self.object, &self.id) {
            (Some(o), _) => o.clone(),
            (None, Some(id)) => crate::x509::hex(id),
            (None, None) => String::new(),
        }
    }

    /// The token's name for messages.
    fn token_name(&self) -> String {
        self.token
            .clone()
            .or_else(|| self.serial.clone())
            .unwrap_or_else(|| "(the only token)".into())
    }

    /// This URI naming another key (`object`) in the same token, without an id.
    pub fn with_object(&self, object: &str) -> Pkcs11Uri {
        Pkcs11Uri {
            object: Some(object.into()),
            id: None,
            ..self.clone()
        }
    }
}

impl std::fmt::Display for Pkcs11Uri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut path = Vec::new();
        for (k, v) in [
            ("token", &self.token),
            ("manufacturer", &self.manufacturer),
            ("serial", &self.serial),
            ("model", &self.model),
            ("object", &self.object),
        ] {
            if let Some(v) = v {
                path.push(format!("{k}={}", pct_encode(v.as_bytes())));
            }
        }
        if let Some(id) = &self.id {
            let hex: String = id.iter().map(|b| format!("%{b:02X}")).collect();
            path.push(format!("id={hex}"));
        }
        path.push("type=private".into());
        let mut query = Vec::new();
        if let Some(m) = &self.module_path {
            query.push(format!(
                "module-path={}",
                pct_encode(m.as_os_str().as_encoded_bytes())
            ));
        }
        if let Some(p) = &self.pin_source {
            query.push(format!(
                "pin-source=file:{}",
                pct_encode(p.as_os_str().as_encoded_bytes())
            ));
        }
        write!(f, "pkcs11:{}", path.join(";"))?;
        if !query.is_empty() {
            write!(f, "?{}", query.join("&"))?;
        }
        Ok(())
    }
}

/// One initialised context per module for the whole process: a second `C_Initialize` of the
/// same library fails, and finalising one context would close every session of the others.
fn context(module: &Path, uri: &str) -> Result<Pkcs11> {
    static CONTEXTS: OnceLock<Mutex<Vec<(PathBuf, Pkcs11)>>> = OnceLock::new();
    let contexts = CONTEXTS.get_or_init(|| Mutex::new(Vec::new()));
    let mut contexts = contexts.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, c)) = contexts.iter().find(|(p, _)| p == module) {
        return Ok(c.clone());
    }
    if !module.is_file() {
        return Err(Error::invalid(
            "PKCS#11 module",
            module.display().to_string(),
            "no such file",
            "give the token's PKCS#11 library in the URI (module-path=…) or in MTLS_CA_PKCS11_MODULE (SoftHSM2: /usr/lib/softhsm/libsofthsm2.so)",
        ));
    }
    let ctx = Pkcs11::new(module).map_err(|e| {
        Error::invalid(
            "PKCS#11 module",
            module.display().to_string(),
            format!("cannot load it ({e})"),
            "give the token's PKCS#11 library (a shared object exporting C_GetFunctionList)",
        )
    })?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(())
        | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, Function::Initialize)) => {}
        Err(e) => return Err(token_error(uri, "cannot initialise the PKCS#11 module", e)),
    }
    contexts.push((module.to_path_buf(), ctx.clone()));
    Ok(ctx)
}

fn token_error(uri: &str, what: &str, e: CkError) -> Error {
    Error::invalid(
        "--key",
        uri,
        format!("{what} ({e})"),
        "check the token (softhsm2-util --show-slots / pkcs11-tool -L) and the URI",
    )
}

/// A private key inside a token, with its public half read once.
pub struct TokenKey {
    uri: Pkcs11Uri,
    session: Mutex<Session>,
    handle: ObjectHandle,
    key_type: KeyType,
    /// The public key as rcgen's `der_bytes` (EC point, or RSAPublicKey DER).
    public: Vec<u8>,
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKey")
            .field("uri", &self.uri.to_string())
            .field("key_type", &self.key_type)
            .finish()
    }
}

/// The outcome of [`TokenKey::open_or_generate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The key was generated in the token just now.
    Generated,
    /// The key was already in the token.
    Existing,
}

impl TokenKey {
    /// Opens the key `uri` names; it must exist.
    pub fn open(uri: &Pkcs11Uri, env: &Pkcs11Env) -> Result<TokenKey> {
        let session = login(uri, env)?;
        match find(&session, uri)? {
            Some(h) => TokenKey::from_handle(uri.clone(), session, h),
            None => Err(missing_object(uri)),
        }
    }

    /// Opens the key `uri` names, or generates it in the token (`key_type`) when the token
    /// holds no such key.
    pub fn open_or_generate(
        uri: &Pkcs11Uri,
        env: &Pkcs11Env,
        key_type: KeyType,
    ) -> Result<(TokenKey, Origin)> {
        let session = login(uri, env)?;
        if let Some(h) = find(&session, uri)? {
            return Ok((
                TokenKey::from_handle(uri.clone(), session, h)?,
                Origin::Existing,
            ));
        }
        let mut uri = uri.clone();
        let id = match &uri.id {
            Some(id) => id.clone(),
            None => {
                let mut id = vec![0u8; 8];
                ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut id)
                    .map_err(|_| Error::Crypto("no randomness for a key id".into()))?;
                id
            }
        };
        let label = uri.key_name().into_bytes();
        let mut public = vec![
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Verify(true),
            Attribute::Label(label.clone()),
            Attribute::Id(id.clone()),
        ];
        let private = vec![
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Label(label),
            Attribute::Id(id.clone()),
        ];
        let mech = match key_type {
            KeyType::EcdsaP256 | KeyType::EcdsaP384 => {
                let oid = if key_type == KeyType::EcdsaP256 {
                    P256_OID
                } else {
                    P384_OID
                };
                public.push(Attribute::EcParams(oid.to_vec()));
                Mechanism::EccKeyPairGen
            }
            KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096 => {
                let bits: u64 = match key_type {
                    KeyType::Rsa2048 => 2048,
                    KeyType::Rsa3072 => 3072,
                    _ => 4096,
                };
                public.push(Attribute::ModulusBits(bits.into()));
                public.push(Attribute::PublicExponent(vec![1, 0, 1]));
                Mechanism::RsaPkcsKeyPairGen
            }
            KeyType::Ed25519 => {
                return Err(Error::invalid(
                    "--key-type",
                    key_type.as_str(),
                    "a CA key in a PKCS#11 token must be ECDSA or RSA",
                    "use --key-type ecdsa-p256 (the default), ecdsa-p384 or rsa-3072",
                ))
            }
        };
        let (_, handle) = session
            .generate_key_pair(&mech, &public, &private)
            .map_err(|e| {
                token_error(&uri.to_string(), "cannot generate the key in the token", e)
            })?;
        uri.id = Some(id);
        let key = TokenKey::from_handle(uri, session, handle)?;
        Ok((key, Origin::Generated))
    }

    fn from_handle(uri: Pkcs11Uri, session: Session, handle: ObjectHandle) -> Result<TokenKey> {
        let shown = uri.to_string();
        let attrs = session
            .get_attributes(handle, &[AttributeType::KeyType, AttributeType::Id])
            .map_err(|e| token_error(&shown, "cannot read the key's attributes", e))?;
        let mut ck_type = None;
        let mut id = None;
        for a in attrs {
            match a {
                Attribute::KeyType(t) => ck_type = Some(t),
                Attribute::Id(i) => id = Some(i),
                _ => {}
            }
        }
        let unsupported = |what: &str| {
            Error::invalid(
                "--key",
                shown.clone(),
                format!("the token's key is {what}, which mtls-ca cannot use as a CA key"),
                "use an ECDSA P-256/P-384 or RSA 2048-4096 key, or name a new object to generate one",
            )
        };
        let (key_type, public) = match ck_type {
            Some(t) if t == CkKeyType::EC => {
                let params = ec_public(&session, handle, &uri, id.as_deref(), &shown)?;
                let (oid, point) = params;
                let kt = if oid == P256_OID {
                    KeyType::EcdsaP256
                } else if oid == P384_OID {
                    KeyType::EcdsaP384
                } else {
                    return Err(unsupported("an EC key on a curve other than P-256/P-384"));
                };
                (kt, point)
            }
            Some(t) if t == CkKeyType::RSA => {
                let a = session
                    .get_attributes(
                        handle,
                        &[AttributeType::Modulus, AttributeType::PublicExponent],
                    )
                    .map_err(|e| token_error(&shown, "cannot read the RSA public key", e))?;
                let (mut n, mut e) = (Vec::new(), Vec::new());
                for x in a {
                    match x {
                        Attribute::Modulus(v) => n = v,
                        Attribute::PublicExponent(v) => e = v,
                        _ => {}
                    }
                }
                let bits = n.iter().skip_while(|b| **b == 0).count() * 8;
                let kt = match bits {
                    2048 => KeyType::Rsa2048,
                    3072 => KeyType::Rsa3072,
                    4096 => KeyType::Rsa4096,
                    _ => return Err(unsupported(&format!("an RSA key of {bits} bits"))),
                };
                let mut body = der_uint(&n);
                body.extend(der_uint(&e));
                (kt, crate::der::tlv(0x30, &body))
            }
            Some(t) => return Err(unsupported(&format!("of type {t}"))),
            None => return Err(unsupported("of unknown type")),
        };
        let mut uri = uri;
        if uri.id.is_none() {
            uri.id = id.filter(|i| !i.is_empty());
        }
        Ok(TokenKey {
            uri,
            session: Mutex::new(session),
            handle,
            key_type,
            public,
        })
    }

    /// The URI of this key (with its id; never a PIN).
    pub fn uri(&self) -> &Pkcs11Uri {
        &self.uri
    }

    /// The key's type.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The public key as rcgen's `der_bytes`.
    pub fn public_der(&self) -> &[u8] {
        &self.public
    }

    /// rcgen's algorithm for this key.
    pub fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        match self.key_type {
            KeyType::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeyType::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            _ => &rcgen::PKCS_RSA_SHA256,
        }
    }

    /// The private key's CKA_SENSITIVE, CKA_EXTRACTABLE (as the token reports them).
    pub fn protection(&self) -> Result<(bool, bool)> {
        let s = self.session.lock().unwrap_or_else(|e| e.into_inner());
        let a = s
            .get_attributes(
                self.handle,
                &[AttributeType::Sensitive, AttributeType::Extractable],
            )
            .map_err(|e| {
                token_error(&self.uri.to_string(), "cannot read the key's attributes", e)
            })?;
        let (mut sensitive, mut extractable) = (false, true);
        for x in a {
            match x {
                Attribute::Sensitive(v) => sensitive = v,
                Attribute::Extractable(v) => extractable = v,
                _ => {}
            }
        }
        Ok((sensitive, extractable))
    }

    /// Signs `msg` in the token; ECDSA signatures come back DER-encoded (as X.509 wants).
    pub fn sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, rcgen::Error> {
        let s = self.session.lock().unwrap_or_else(|e| e.into_inner());
        match self.key_type {
            KeyType::EcdsaP256 | KeyType::EcdsaP384 => {
                let alg = if self.key_type == KeyType::EcdsaP256 {
                    &ring::digest::SHA256
                } else {
                    &ring::digest::SHA384
                };
                let digest = ring::digest::digest(alg, msg);
                let raw = s
                    .sign(&Mechanism::Ecdsa, self.handle, digest.as_ref())
                    .map_err(|_| rcgen::Error::RemoteKeyError)?;
                if raw.len() % 2 != 0 || raw.is_empty() {
                    return Err(rcgen::Error::RemoteKeyError);
                }
                let (r, sv) = raw.split_at(raw.len() / 2);
                let mut body = der_uint(r);
                body.extend(der_uint(sv));
                Ok(crate::der::tlv(0x30, &body))
            }
            _ => s
                .sign(&Mechanism::Sha256RsaPkcs, self.handle, msg)
                .map_err(|_| rcgen::Error::RemoteKeyError),
        }
    }
}

/// A DER INTEGER of the unsigned big-endian `b`.
fn der_uint(b: &[u8]) -> Vec<u8> {
    let start = b
        .iter()
        .position(|x| *x != 0)
        .unwrap_or(b.len().saturating_sub(1));
    let mut v = Vec::with_capacity(b.len() + 1);
    if b.get(start).is_some_and(|x| x & 0x80 != 0) {
        v.push(0);
    }
    v.extend_from_slice(&b[start.min(b.len())..]);
    if v.is_empty() {
        v.push(0);
    }
    crate::der::tlv(0x02, &v)
}

/// The curve OID and the uncompressed point of an EC key (from its public-key object).
fn ec_public(
    session: &Session,
    private: ObjectHandle,
    uri: &Pkcs11Uri,
    id: Option<&[u8]>,
    shown: &str,
) -> Result<(Vec<u8>, Vec<u8>)> {
    let params = session
        .get_attributes(private, &[AttributeType::EcParams])
        .map_err(|e| token_error(shown, "cannot read the key's curve", e))?
        .into_iter()
        .find_map(|a| match a {
            Attribute::EcParams(p) => Some(p),
            _ => None,
        })
        .unwrap_or_default();
    let mut template = vec![Attribute::Class(ObjectClass::PUBLIC_KEY)];
    match (id, &uri.object) {
        (Some(id), _) if !id.is_empty() => template.push(Attribute::Id(id.to_vec())),
        (_, Some(o)) => template.push(Attribute::Label(o.clone().into_bytes())),
        _ => {}
    }
    let found = session
        .find_objects(&template)
        .map_err(|e| token_error(shown, "cannot search the token", e))?;
    let Some(public) = found.first() else {
        return Err(Error::invalid(
            "--key",
            shown,
            "the token holds the private key but not its public key object (needed for the EC point)",
            "import the public key into the token with the same label and id",
        ));
    };
    let point = session
        .get_attributes(*public, &[AttributeType::EcPoint])
        .map_err(|e| token_error(shown, "cannot read the public key", e))?
        .into_iter()
        .find_map(|a| match a {
            Attribute::EcPoint(p) => Some(p),
            _ => None,
        })
        .unwrap_or_default();
    // CKA_EC_POINT is a DER OCTET STRING around the point (some tokens give the bare point).
    let point = match crate::der::read_tlv(&point) {
        Some((t, rest))
            if t.whole.first() == Some(&0x04)
                && rest.is_empty()
                && !t.content.is_empty()
                && t.content[0] == 0x04 =>
        {
            t.content.to_vec()
        }
        _ => point,
    };
    Ok((params, point))
}

fn missing_object(uri: &Pkcs11Uri) -> Error {
    Error::invalid(
        "--key",
        uri.to_string(),
        format!(
            "token {:?} holds no private key {:?}",
            uri.token_name(),
            uri.key_name()
        ),
        "check object=/id= (pkcs11-tool --list-objects), or run init with this URI to generate the key",
    )
}

/// Loads the module, finds the token, opens a session and logs in as the user.
fn login(uri: &Pkcs11Uri, env: &Pkcs11Env) -> Result<Session> {
    let shown = uri.to_string();
    let module = uri
        .module_path
        .clone()
        .or_else(|| env.module.clone())
        .ok_or_else(|| {
            Error::invalid(
                "--key",
                shown.clone(),
                "no PKCS#11 module: the URI has no module-path and MTLS_CA_PKCS11_MODULE is not set",
                "add module-path=/path/to/module.so to the URI or set MTLS_CA_PKCS11_MODULE",
            )
        })?;
    let pin = match &uri.pin_source {
        Some(p) => {
            let bytes = Zeroizing::new(crate::files::read_limited(p, 4096).map_err(|_| {
                Error::invalid(
                    "pin-source",
                    p.display().to_string(),
                    "cannot read the PIN file",
                    "point pin-source=file:… at a readable file holding the token's user PIN",
                )
            })?);
            let s = String::from_utf8_lossy(&bytes)
                .trim_end_matches(['\r', '\n'])
                .to_string();
            Some(Zeroizing::new(s))
        }
        None => env.pin.clone(),
    };
    let ctx = context(&module, &shown)?;
    let slots = ctx
        .get_slots_with_token()
        .map_err(|e| token_error(&shown, "cannot list the module's slots", e))?;
    let mut matching: Vec<Slot> = Vec::new();
    for slot in slots {
        let Ok(info) = ctx.get_token_info(slot) else {
            continue;
        };
        let eq = |want: &Option<String>, have: &str| {
            want.as_deref().is_none_or(|w| w.trim() == have.trim())
        };
        if eq(&uri.token, info.label())
            && eq(&uri.serial, info.serial_number())
            && eq(&uri.manufacturer, info.manufacturer_id())
            && eq(&uri.model, info.model())
        {
            matching.push(slot);
        }
    }
    let slot = match matching.as_slice() {
        [one] => *one,
        [] => {
            return Err(Error::invalid(
                "--key",
                shown,
                format!(
                    "no token {:?} in module {}",
                    uri.token_name(),
                    module.display()
                ),
                "check token= against `softhsm2-util --show-slots` (or pkcs11-tool -L)",
            ))
        }
        _ => {
            return Err(Error::invalid(
                "--key",
                shown,
                "more than one token matches",
                "add token=, serial= or model= to the URI so it names one token",
            ))
        }
    };
    let session = ctx
        .open_rw_session(slot)
        .map_err(|e| token_error(&shown, "cannot open a session", e))?;
    let Some(pin) = pin else {
        return Err(Error::invalid(
            "--key",
            shown,
            "no PIN for the token",
            "add pin-source=file:PATH to the URI or set MTLS_CA_PKCS11_PIN",
        ));
    };
    match session.login(UserType::User, Some(&AuthPin::new(pin.as_str().into()))) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
        Err(CkError::Pkcs11(RvError::PinIncorrect | RvError::PinInvalid | RvError::PinLenRange, _)) => {
            Err(Error::invalid(
                "PIN",
                format!("token {}", uri.token_name()),
                "the token refused the PIN",
                "check the PIN file (pin-source) or MTLS_CA_PKCS11_PIN; repeated wrong PINs may lock the token",
            ))
        }
        Err(CkError::Pkcs11(RvError::PinLocked, _)) => Err(Error::invalid(
            "PIN",
            format!("token {}", uri.token_name()),
            "the token's user PIN is locked",
            "unlock it with the security officer PIN (softhsm2-util / pkcs11-tool --init-pin)",
        )),
        Err(e) => Err(token_error(&shown, "cannot log in to the token", e)),
    }
}

/// The private key `uri` names, if the token holds exactly one.
fn find(session: &Session, uri: &Pkcs11Uri) -> Result<Option<ObjectHandle>> {
    let mut template = vec![Attribute::Class(ObjectClass::PRIVATE_KEY)];
    if let Some(o) = &uri.object {
        template.push(Attribute::Label(o.clone().into_bytes()));
    }
    if let Some(id) = &uri.id {
        template.push(Attribute::Id(id.clone()));
    }
    let found = session
        .find_objects(&template)
        .map_err(|e| token_error(&uri.to_string(), "cannot search the token", e))?;
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        _ => Err(Error::invalid(
            "--key",
            uri.to_string(),
            format!("{} private keys match", found.len()),
            "add id= to the URI so it names one key",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc7512() {
        let u = Pkcs11Uri::parse(
            "pkcs11:token=My%20CA;object=root;id=%01%02;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/pin",
        )
        .unwrap();
        assert_eq!(u.token.as_deref(), Some("My CA"));
        assert_eq!(u.object.as_deref(), Some("root"));
        assert_eq!(u.id.as_deref(), Some(&[1u8, 2][..]));
        assert_eq!(
            u.module_path.as_deref(),
            Some(Path::new("/usr/lib/softhsm/libsofthsm2.so"))
        );
        assert_eq!(u.pin_source.as_deref(), Some(Path::new("/etc/pin")));
        // Round trip through Display.
        assert_eq!(Pkcs11Uri::parse(&u.to_string()).unwrap(), u);
        // Attributes in the path part too.
        let v = Pkcs11Uri::parse("pkcs11:token=t;object=o;module-path=/m.so").unwrap();
        assert_eq!(v.module_path.as_deref(), Some(Path::new("/m.so")));
    }

    #[test]
    fn refuses_pins_and_garbage() {
        for bad in [
            "pkcs11:token=t;object=o?pin-value=1234",
            "pkcs11:token=t",
            "pkcs11:token=t;object=%zz",
            "pkcs11:token=t;object=o;colour=blue",
            "file:/x",
            "pkcs11:token",
        ] {
            let e = Pkcs11Uri::parse(bad).unwrap_err();
            assert_eq!(e.code(), "invalid_value", "{bad}");
            assert!(!e.to_string().contains("1234"), "{e}");
        }
    }

    #[test]
    fn der_integers() {
        assert_eq!(der_uint(&[0, 0, 0x7f]), vec![2, 1, 0x7f]);
        assert_eq!(der_uint(&[0x80]), vec![2, 2, 0, 0x80]);
        assert_eq!(der_uint(&[0, 0]), vec![2, 1, 0]);
    }
}
