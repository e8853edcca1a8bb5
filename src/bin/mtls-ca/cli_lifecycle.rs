//! Command-line definitions of the lifecycle commands: csr, sign, renew, revoke, crl, ca rotate,
//! and the passphrase options every signing command takes.

use std::path::PathBuf;

use clap::Args;

/// Where the CA key's passphrase comes from (default: a prompt when stdin is a terminal).
#[derive(Debug, Args, Clone, Default)]
pub struct PassArgs {
    /// Read the CA key passphrase from the first line of FILE.
    #[arg(long, value_name = "FILE", conflicts_with = "passphrase_env")]
    pub passphrase_file: Option<PathBuf>,
    /// Read the CA key passphrase from environment variable VAR.
    #[arg(long, value_name = "VAR")]
    pub passphrase_env: Option<String>,
}

pub const CSR_HELP: &str = "FILES:\n  STEM.key (0600, PKCS#8: keep it on this host), STEM.csr (send it to the CA)\n\nEXAMPLES:\n  mtls-ca csr --cn api.example.com --san 10.0.0.5 --out api\n  mtls-ca csr --cn billing --key-type ed25519\n\nEXIT CODES:\n  0  written\n  2  usage, input or I/O error (nothing was written)";

#[derive(Debug, Args)]
pub struct CsrArgs {
    /// Subject common name.
    #[arg(long, value_name = "NAME")]
    pub cn: String,
    /// Subject alternative name to request (repeatable).
    #[arg(long, value_name = "VALUE")]
    pub san: Vec<String>,
    /// Key type: ecdsa-p256 (default), ecdsa-p384, ed25519, rsa-2048, rsa-3072, rsa-4096.
    #[arg(long, value_name = "T", default_value = "ecdsa-p256")]
    pub key_type: String,
    /// Output stem (default: the CN made filename-safe).
    #[arg(long, value_name = "STEM")]
    pub out: Option<PathBuf>,
    /// Replace existing files, keeping them as *.bak.
    #[arg(long)]
    pub force: bool,
}

pub const SIGN_HELP: &str = "Verifies the CSR's signature and takes only its public key, subject CN and SANs;\nthe profile decides every extension (a CSR asking for CA:TRUE gets a leaf).\n\nFILES:\n  STEM.crt, STEM.fullchain.crt (default STEM: the CSR path without .csr)\n\nEXAMPLES:\n  mtls-ca sign api.csr --profile server\n  mtls-ca sign api.csr --profile server --san api.example.com --days 90\n  mtls-ca sign alice.csr --profile client --out clients/alice\n\nEXIT CODES:\n  0  signed\n  2  bad CSR, usage, input or I/O error (nothing was written)";

#[derive(Debug, Args)]
pub struct SignArgs {
    /// The CSR file (PEM or DER).
    #[arg(value_name = "CSR")]
    pub csr: PathBuf,
    /// server, client, server-client, intermediate (the CSR of a new CA, see `init`), or a
    /// profile of DIR/profiles.toml.
    #[arg(long, value_name = "PROFILE")]
    pub profile: String,
    /// With --profile intermediate: allow N CAs below the new one (default 0).
    #[arg(long, value_name = "N")]
    pub pathlen: Option<u8>,
    /// Approved SAN (repeatable): requested SANs not listed are left out.
    #[arg(long, value_name = "VALUE")]
    pub san: Vec<String>,
    /// Validity in days (default 365, capped by the CA's own expiry).
    #[arg(long, value_name = "N")]
    pub days: Option<String>,
    /// Output stem.
    #[arg(long, value_name = "STEM")]
    pub out: Option<PathBuf>,
    /// Replace existing files, keeping them as *.bak.
    #[arg(long)]
    pub force: bool,
    /// Permit server certificates valid for more than 825 days.
    #[arg(long)]
    pub allow_long_validity: bool,
    #[command(flatten)]
    pub pass: PassArgs,
}

pub const RENEW_HELP: &str = "Same subject, SANs and profile; new serial; the old certificate is recorded as superseded.\nA new key of the same type is made (renewing with the old key does not recover from a leak);\n--reuse-key keeps it, with a warning. A CSR-signed certificate keeps its public key (the CA\nnever held the key). Without --out the new files replace the old ones\n(which are kept as *.bak).\n\nEXAMPLES:\n  mtls-ca renew 3f9a0c12\n  mtls-ca renew --cert api.example.com.crt --reuse-key\n  mtls-ca renew --expiring-within 30d            (for cron)\n  mtls-ca renew --expiring-within 30d --out-dir renewed/\n  mtls-ca renew --issuer retired                 (after `ca rotate`: move leaves to the new CA)\n\nEXIT CODES:\n  0  renewed (or nothing was due)\n  2  unknown serial, usage, input or I/O error";

#[derive(Debug, Args)]
pub struct RenewArgs {
    /// Serial of the certificate (hex; a unique prefix of 8+ digits is enough).
    #[arg(value_name = "SERIAL", conflicts_with_all = ["cert", "expiring_within", "issuer"])]
    pub serial: Option<String>,
    /// The certificate file instead of its serial.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["expiring_within", "issuer"])]
    pub cert: Option<PathBuf>,
    /// Renew every valid certificate expiring within DURATION (e.g. 30d).
    #[arg(long, value_name = "DURATION")]
    pub expiring_within: Option<String>,
    /// Renew every valid certificate issued by current, retired, or the CA whose serial or key
    /// id starts with PREFIX (after `ca rotate`: `--issuer retired`).
    #[arg(long, value_name = "ISSUER", conflicts_with_all = ["serial", "cert"])]
    pub issuer: Option<String>,
    /// With --expiring-within or --issuer: write successors into DIR instead of over the old
    /// files.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// Make a new key of the same type (the default; kept for scripts).
    #[arg(long, conflicts_with = "reuse_key")]
    pub rekey: bool,
    /// Keep the old key (warns: a leaked key stays usable).
    #[arg(long)]
    pub reuse_key: bool,
    /// Validity in days (default: the old certificate's).
    #[arg(long, value_name = "N")]
    pub days: Option<String>,
    /// Output stem (single renewal).
    #[arg(long, value_name = "STEM", conflicts_with_all = ["expiring_within", "issuer"])]
    pub out: Option<PathBuf>,
    /// Permit server certificates valid for more than 825 days.
    #[arg(long)]
    pub allow_long_validity: bool,
    #[command(flatten)]
    pub pass: PassArgs,
}

pub const REVOKE_HELP: &str = "Recorded in the store at once; publish it with `mtls-ca crl`.\n\nREASONS:\n  unspecified (default), key-compromise, ca-compromise, affiliation-changed, superseded,\n  cessation-of-operation, privilege-withdrawn\n\nEXAMPLES:\n  mtls-ca revoke 3f9a0c12 --reason key-compromise && mtls-ca crl\n  mtls-ca revoke --cert old-client.crt\n\nEXIT CODES:\n  0  revoked (or already revoked)\n  2  unknown serial, usage, input or I/O error";

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// Serial of the certificate (hex; a unique prefix of 8+ digits is enough).
    #[arg(
        value_name = "SERIAL",
        conflicts_with = "cert",
        required_unless_present = "cert"
    )]
    pub serial: Option<String>,
    /// The certificate file instead of its serial.
    #[arg(long, value_name = "FILE")]
    pub cert: Option<PathBuf>,
    /// Revocation reason.
    #[arg(long, value_name = "REASON", default_value = "unspecified")]
    pub reason: String,
}

pub const CRL_HELP: &str = "v2 CRL with a strictly increasing CRL number, AKI and reason codes. After `ca rotate`,\nunexpired retired CAs get their own CRL next to it (crl-<serial prefix>.pem).\n\nEXAMPLES:\n  mtls-ca crl                       (DIR/crl.pem, nextUpdate in 7 days)\n  mtls-ca crl --days 2 --out /etc/nginx/crl.pem\n  mtls-ca crl --check || mtls-ca crl   (cron: refresh when stale)\n\nEXIT CODES:\n  0  written (--check: fresh)\n  1  --check: missing, expired, or expiring within a day\n  2  usage, input or I/O error";

#[derive(Debug, Args)]
pub struct CrlArgs {
    /// nextUpdate in N days (default 7).
    #[arg(long, value_name = "N")]
    pub days: Option<String>,
    /// Where to write (default DIR/crl.pem).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Only check the CRL's freshness and signature: exit 1 when missing, expired or stale.
    #[arg(long)]
    pub check: bool,
    #[command(flatten)]
    pub pass: PassArgs,
}

pub const ROTATE_HELP: &str = "A planned CA rollover. The old CA is kept as DIR/ca-<serial prefix>.crt/.key and stays\ntrusted for verification, export and the CRLs of what it issued; DIR/ca-bundle.crt holds the\nnew CA and every unexpired old one: give it to gateways as the trusted client CA during the\noverlap. New certificates come from the new CA; move the old ones with\n`mtls-ca renew --issuer retired`, then end the overlap with `ca rotate --finish`.\nAn intermediate rotates with --parent (the new one is signed by the same parent).\n\nEXAMPLES:\n  mtls-ca ca rotate\n  mtls-ca ca rotate --days 1825 --key-type ecdsa-p384\n  mtls-ca --dir pki/int ca rotate --parent pki\n  mtls-ca renew --issuer retired && mtls-ca ca rotate --finish\n\nEXIT CODES:\n  0  rotated (--finish: the overlap ended)\n  2  usage, input or I/O error; --finish refused while retired CAs have valid leaves";

#[derive(Debug, Args)]
pub struct RotateArgs {
    /// End the overlap: drop the retired CAs from ca-bundle.crt and the CRL set (refused while
    /// they have valid leaves that were not renewed, unless --force).
    #[arg(long, conflicts_with_all = ["days", "key_type", "parent"])]
    pub finish: bool,
    /// With --finish: end the overlap even though retired CAs still have valid leaves.
    #[arg(long, requires = "finish")]
    pub force: bool,
    /// Rotate an intermediate: the directory of the CA that signs the new one (the same parent).
    #[arg(long, value_name = "PARENT_DIR")]
    pub parent: Option<PathBuf>,
    /// Validity of the new CA in days (default 3650).
    #[arg(long, value_name = "N")]
    pub days: Option<String>,
    /// Key type of the new CA (default: the old CA's).
    #[arg(long, value_name = "T")]
    pub key_type: Option<String>,
    #[command(flatten)]
    pub pass: PassArgs,
}
