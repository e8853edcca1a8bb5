//! Bootstrap tokens: 256 random bits, shown once, stored only as their SHA-256 (ring) with the
//! names and profile they buy. The store decides single use inside one transaction.

use ring::rand::SecureRandom;
use time::{Duration, OffsetDateTime};

use crate::error::{Error, Result};
use crate::profile::Profile;
use crate::store::{NewToken, Store};

/// Prefix of every token (so a leaked one is recognisable in a scan).
pub const PREFIX: &str = "mtca_";

/// Longest token lifetime.
pub const MAX_TTL: Duration = Duration::days(30);

/// What `token create` asks for.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// Subject CN of the certificate.
    pub cn: String,
    /// SANs as typed.
    pub sans: Vec<String>,
    /// server or client (for a `profiles.toml` profile: its kind).
    pub profile: Profile,
    /// A `profiles.toml` profile the certificate is issued with (its policy is checked here,
    /// and again when the token is used).
    pub file_profile: Option<crate::pki::leaf_profile::FileProfile>,
    /// How long the token works.
    pub ttl: Duration,
    /// Validity of the certificate it buys (None: the server's default).
    pub valid: Option<Duration>,
}

/// A token just made: the secret (shown once) and its public id.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Made {
    /// The token itself (never stored, never logged).
    pub token: String,
    /// Public id (for `token list` / `token revoke`).
    pub id: String,
    /// When it stops working.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// SHA-256 of a token, lowercase hex: what the store keeps.
pub fn hash(token: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, token.trim().as_bytes());
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Makes a token for `req` and stores its hash. The names are validated the way `issue`
/// validates them, so a token never buys a certificate that could not be issued.
pub fn create(store: &mut Store, req: &TokenRequest, now: OffsetDateTime) -> Result<Made> {
    crate::profile::check_cn(&req.cn)?;
    let parsed = crate::names::parse_all(&req.sans)?;
    match req.profile {
        p if p.is_server() => {
            crate::profile::server_sans(&req.cn, parsed.clone())?;
        }
        Profile::Client => {}
        other => {
            return Err(Error::invalid(
                "--profile",
                other.as_str(),
                "a token buys a server or client certificate",
                "use --profile server or --profile client",
            ))
        }
    }
    if let Some(f) = &req.file_profile {
        f.check_names(&req.cn, &parsed)?;
        if let Some(v) = req.valid {
            f.check_days(u32::try_from((v.whole_seconds() + 86_399) / 86_400).unwrap_or(u32::MAX))?;
        }
    }
    if req.ttl < Duration::minutes(1) || req.ttl > MAX_TTL {
        return Err(Error::invalid(
            "--ttl",
            format!("{}s", req.ttl.whole_seconds()),
            "a token lives between 1 minute and 30 days",
            "use e.g. --ttl 15m (the default) or --ttl 24h",
        ));
    }
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| {
            Error::Validity("the system random generator failed".into(), "retry".into())
        })?;
    let token = format!(
        "{PREFIX}{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    let expires_at = now.replace_nanosecond(0).unwrap_or(now) + req.ttl;
    let id = store.token_create(
        &NewToken {
            hash: hash(&token),
            cn: req.cn.clone(),
            sans: req.sans.clone(),
            profile: match &req.file_profile {
                Some(f) => f.name.clone(),
                None => req.profile.as_str().to_string(),
            },
            valid_secs: req.valid.map(|v| v.whole_seconds()),
            expires_at,
        },
        now,
    )?;
    Ok(Made {
        token,
        id,
        expires_at,
    })
}
