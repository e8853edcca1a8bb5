//! `export k8s-ingress`: manifests for ingress-nginx (`k8s-ingress.yaml`): a Secret with `ca.crt`
//! (every CA of the chain) and `ca.crl` (the CRLs), a `kubernetes.io/tls` Secret for the server
//! certificate (with `--server`), and an Ingress whose annotations turn on client verification
//! with the right `auth-tls-verify-depth` (the default of 1 rejects a leaf under an
//! intermediate). The backend Service is taken from `--upstream` (host = Service name).

use base64::Engine;

use super::envoy::js;
use super::inputs::{Inputs, Rendered};
use crate::error::Result;

/// The namespace of the manifests.
pub const NAMESPACE: &str = "default";
/// Name of the CA Secret.
pub const CA_SECRET: &str = "mtls-ca-client-ca";
/// Name of the server TLS Secret.
pub const TLS_SECRET: &str = "mtls-ca-server-tls";

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// The manifests (several YAML documents).
pub fn manifests(i: &Inputs) -> String {
    let mut c = String::new();
    c.push_str(&format!("# Written by `mtls-ca export k8s-ingress`: ingress-nginx with client certificates.\n# Apply: kubectl apply -f {}\n", i.p("k8s-ingress.yaml")));
    c.push_str(&format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: {CA_SECRET}\n  namespace: {NAMESPACE}\ntype: Opaque\ndata:\n"));
    c.push_str(&format!(
        "  ca.crt: {}\n",
        b64(i.ca_bundle_pem().as_bytes())
    ));
    if !i.crls.is_empty() {
        c.push_str(&format!("  ca.crl: {}\n", b64(i.crls_pem().as_bytes())));
    }
    let host = i.server.as_ref().and_then(|s| s.host());
    if let Some(s) = &i.server {
        c.push_str(&format!("---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: {TLS_SECRET}\n  namespace: {NAMESPACE}\ntype: kubernetes.io/tls\ndata:\n"));
        c.push_str(&format!(
            "  tls.crt: {}\n  tls.key: {}\n",
            b64(s.fullchain_pem().as_bytes()),
            b64(&s.key_pem())
        ));
    }
    let (svc, port) = match &i.upstream {
        Some(u) => (
            u.host.split('.').next().unwrap_or("my-service").to_string(),
            u.port,
        ),
        None => ("my-service".to_string(), 80),
    };
    c.push_str(&format!("---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: mtls-ca\n  namespace: {NAMESPACE}\n  annotations:\n"));
    c.push_str(&format!(
        "    nginx.ingress.kubernetes.io/auth-tls-secret: {}\n",
        js(&format!("{NAMESPACE}/{CA_SECRET}"))
    ));
    c.push_str("    nginx.ingress.kubernetes.io/auth-tls-verify-client: \"on\"\n");
    c.push_str(&format!(
        "    nginx.ingress.kubernetes.io/auth-tls-verify-depth: \"{}\"\n",
        i.verify_depth()
    ));
    c.push_str("    nginx.ingress.kubernetes.io/auth-tls-pass-certificate-to-upstream: \"true\"\n");
    c.push_str("spec:\n  ingressClassName: nginx\n");
    if i.server.is_some() {
        c.push_str("  tls:\n  - hosts:\n");
        c.push_str(&format!(
            "    - {}\n",
            js(host.as_deref().unwrap_or("api.example.com"))
        ));
        c.push_str(&format!("    secretName: {TLS_SECRET}\n"));
    }
    c.push_str("  rules:\n");
    c.push_str(&format!(
        "  - host: {}\n",
        js(host.as_deref().unwrap_or("api.example.com"))
    ));
    c.push_str("    http:\n      paths:\n      - path: /\n        pathType: Prefix\n        backend:\n          service:\n");
    c.push_str(&format!(
        "            name: {}\n            port:\n              number: {port}\n",
        js(&svc)
    ));
    c
}

/// Renders the Kubernetes export.
pub fn render(i: &Inputs) -> Result<Rendered> {
    let mut r = Rendered::default();
    super::inputs::add_trust_files(i, &mut r.files);
    r.files.private(
        i.path("k8s-ingress.yaml"),
        zeroize::Zeroizing::new(manifests(i).into_bytes()),
    );
    if i.server.is_none() {
        r.notes.push("no --server given: the Ingress expects you to provide the TLS Secret (add `--server STEM` to include one)".into());
    }
    if i.upstream.is_none() {
        r.notes.push("no --upstream given: the Ingress routes to Service my-service port 80; edit it or pass --upstream http://SERVICE:PORT".into());
    }
    let f = super::inputs::sh(&i.p("k8s-ingress.yaml"));
    r.start
        .push(format!("kubectl apply --dry-run=client -f {f}"));
    r.start.push(format!("kubectl apply -f {f}"));
    r.test.push(i.curl_with_client());
    Ok(r)
}
