//! How the binary reaches a PostgreSQL store: `MTLS_CA_STORE` (a URL that overrides the CA
//! directory's `store.url`), the password from `MTLS_CA_STORE_PASSWORD_FILE`,
//! `MTLS_CA_STORE_PASSWORD` or `PGPASSWORD` when the URL has none, and `MTLS_CA_STORE_CA` (a PEM
//! file of roots the server certificate must chain to). Read here, passed to the library once.

use mtls_ca::store::PgConnect;

pub fn set(init_url: Option<&str>) -> anyhow::Result<()> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let password = match env("MTLS_CA_STORE_PASSWORD_FILE") {
        Some(f) => {
            let p = std::path::PathBuf::from(f);
            let s = std::fs::read_to_string(&p).map_err(|e| mtls_ca::Error::BadFile {
                path: p.clone(),
                reason: format!("cannot read the store password ({e})"),
                hint: "point MTLS_CA_STORE_PASSWORD_FILE at a readable file holding the password"
                    .into(),
            })?;
            Some(s.trim_end_matches(['\r', '\n']).to_string())
        }
        None => env("MTLS_CA_STORE_PASSWORD").or_else(|| env("PGPASSWORD")),
    };
    let tls_roots = match env("MTLS_CA_STORE_CA") {
        Some(f) => Some(mtls_ca::x509::read_certs(std::path::Path::new(&f))?),
        None => None,
    };
    mtls_ca::store::set_connect(PgConnect {
        url_override: env("MTLS_CA_STORE"),
        password,
        init_url: init_url
            .map(str::to_string)
            .or_else(|| env("MTLS_CA_STORE").filter(|u| mtls_ca::store::postgres::is_url(u))),
        tls_roots,
    });
    Ok(())
}
