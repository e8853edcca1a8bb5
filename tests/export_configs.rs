//! The generated Envoy, Traefik, Kubernetes, Kong and AWS files parse as YAML/JSON (with
//! Python's yaml and json) and carry the right certificates; `bundle` and `httpx` files.
use crate::common;
use crate::export_support;

use common::*;
use export_support::*;

/// Runs a Python check script with the export dir and the PKI dir as arguments.
fn py_check(k: &Pki, script: &str, out: &str) {
    let path = k.p(&format!("check-{out}.py"));
    std::fs::write(&path, script).unwrap();
    let r = tool(
        k.dir(),
        "python3",
        &[path.to_str().unwrap(), &k.s(out), &k.s("pki")],
    );
    assert_eq!(
        r.code, 0,
        "{out}: python check failed\n{}{}",
        r.stdout, r.stderr
    );
}

/// Python helpers: DER of every certificate in a PEM text, and of the CA chain.
const PRELUDE: &str = r#"
import base64, hashlib, json, re, sys, uuid
import yaml
out, pki = sys.argv[1], sys.argv[2]
def ders(pem):
    return [base64.b64decode(''.join(b.split())) for b in re.findall(r'-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----', pem, re.S)]
chain = ders(open(pki + '/int/ca-chain.crt').read())
assert len(chain) == 2, chain
def load_all(path):
    return [d for d in yaml.safe_load_all(open(path)) if d is not None]
"#;

fn export(k: &Pki, args: &[&str]) -> Run {
    k.int(args).ok()
}

#[test]
fn envoy_yaml_parses_and_names_the_exported_files() {
    let k = pki();
    let r = export(
        &k,
        &[
            "export",
            "envoy",
            "--server",
            "api",
            "--client",
            "alice",
            "--crl",
            "pki/crl.pem",
            "--crl",
            "pki/int/crl.pem",
            "--out",
            "envoy",
        ],
    );
    assert!(r.stderr.contains("wrote envoy export"), "{}", r.stderr);
    py_check(
        &k,
        &format!(
            "{PRELUDE}\n\
doc = load_all(out + '/envoy.yaml')[0]\n\
l = doc['static_resources']['listeners'][0]\n\
ts = l['filter_chains'][0]['transport_socket']['typed_config']\n\
assert ts['require_client_certificate'] is True\n\
vc = ts['common_tls_context']['validation_context']\n\
assert ders(open(vc['trusted_ca']['filename']).read()) == chain\n\
assert vc['crl']['filename'].startswith(out)\n\
assert open(vc['crl']['filename']).read().count('BEGIN X509 CRL') == 2\n\
c = ts['common_tls_context']['tls_certificates'][0]\n\
assert len(ders(open(c['certificate_chain']['filename']).read())) == 2\n\
assert open(c['private_key']['filename']).read().startswith('-----BEGIN PRIVATE KEY')\n"
        ),
        "envoy",
    );
}

#[test]
fn envoy_and_kong_warn_about_clients_without_a_san() {
    let k = pki();
    k.int(&["issue", "client", "--cn", "nosan", "--out", "nosan"])
        .ok();
    for t in ["envoy", "kong"] {
        let r = export(
            &k,
            &[
                "export",
                t,
                "--server",
                "api",
                "--client",
                "nosan",
                "--out",
                &format!("w-{t}"),
            ],
        );
        assert!(
            r.stderr.contains("warning:") && r.stderr.contains("has no SAN"),
            "{t}: {}",
            r.stderr
        );
    }
}

#[test]
fn traefik_yaml_parses_and_requires_client_certificates() {
    let k = pki();
    export(
        &k,
        &[
            "export",
            "traefik",
            "--server",
            "api",
            "--upstream",
            "http://127.0.0.1:9000",
            "--out",
            "traefik",
        ],
    );
    py_check(
        &k,
        &format!(
            "{PRELUDE}\n\
st = load_all(out + '/traefik.yml')[0]\n\
dy = load_all(st['providers']['file']['filename'])[0]\n\
opt = dy['tls']['options']['mtls']\n\
assert opt['clientAuth']['clientAuthType'] == 'RequireAndVerifyClientCert'\n\
assert ders(open(opt['clientAuth']['caFiles'][0]).read()) == chain\n\
assert dy['http']['routers']['mtls']['tls']['options'] == 'mtls'\n\
assert dy['http']['services']['upstream']['loadBalancer']['servers'][0]['url'] == 'http://127.0.0.1:9000'\n\
assert 'passTLSClientCert' in dy['http']['middlewares']['client-identity']\n"
        ),
        "traefik",
    );
}

#[test]
fn k8s_ingress_secret_holds_the_chain_and_crls_and_the_right_depth() {
    let k = pki();
    export(
        &k,
        &[
            "export",
            "k8s-ingress",
            "--server",
            "api",
            "--crl",
            "pki/crl.pem",
            "--crl",
            "pki/int/crl.pem",
            "--upstream",
            "http://billing.default.svc:8080",
            "--out",
            "k8s",
        ],
    );
    py_check(
        &k,
        &format!(
            "{PRELUDE}\n\
docs = load_all(out + '/k8s-ingress.yaml')\n\
kinds = [d['kind'] for d in docs]\n\
assert kinds == ['Secret', 'Secret', 'Ingress'], kinds\n\
ca = docs[0]['data']\n\
assert ders(base64.b64decode(ca['ca.crt']).decode()) == chain\n\
assert base64.b64decode(ca['ca.crl']).decode().count('BEGIN X509 CRL') == 2\n\
assert docs[1]['type'] == 'kubernetes.io/tls'\n\
assert len(ders(base64.b64decode(docs[1]['data']['tls.crt']).decode())) == 2\n\
a = docs[2]['metadata']['annotations']\n\
assert a['nginx.ingress.kubernetes.io/auth-tls-verify-depth'] == '2', a\n\
assert a['nginx.ingress.kubernetes.io/auth-tls-verify-client'] == 'on'\n\
assert a['nginx.ingress.kubernetes.io/auth-tls-secret'] == 'default/' + docs[0]['metadata']['name']\n\
be = docs[2]['spec']['rules'][0]['http']['paths'][0]['backend']['service']\n\
assert be['name'] == 'billing' and be['port']['number'] == 8080, be\n"
        ),
        "k8s",
    );
}

#[test]
fn kong_deck_ids_are_uuidv5_of_the_certificates_and_the_plugin_lists_them() {
    let k = pki();
    export(
        &k,
        &["export", "kong", "--client", "alice", "--out", "kong"],
    );
    let script = format!(
        "{PRELUDE}\n\
d = load_all(out + '/kong.yaml')[0]\n\
assert d['_format_version'] == '3.0'\n\
ids = []\n\
for entry, der in zip(d['ca_certificates'], chain):\n\
\x20   assert ders(entry['cert']) == [der]\n\
\x20   want = uuid.UUID(bytes=hashlib.sha1(uuid.NAMESPACE_OID.bytes + der).digest()[:16], version=5)\n\
\x20   assert entry['id'] == str(want), (entry['id'], want)\n\
\x20   ids.append(entry['id'])\n\
plugin = d['services'][0]['plugins'][0]\n\
assert plugin['name'] == 'mtls-auth'\n\
assert plugin['config']['ca_certificates'] == ids\n\
admin = open(out + '/kong-admin.sh').read()\n\
assert all(i in admin for i in ids)\n\
assert 'nginx_proxy_ssl_verify_depth = 2' in open(out + '/kong-oss.conf').read()\n\
print(json.dumps(ids))\n"
    );
    py_check(&k, &script, "kong");
    // Re-running gives the same ids (idempotent for decK).
    let first = std::fs::read_to_string(k.p("kong/kong.yaml")).unwrap();
    export(&k, &["export", "kong", "--out", "kong2"]);
    let second = std::fs::read_to_string(k.p("kong2/kong.yaml")).unwrap();
    let ids = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| l.starts_with("- id: "))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(ids(&first), ids(&second));
}

#[test]
fn aws_truststore_holds_root_and_intermediates_and_the_json_parses() {
    let k = pki();
    let r = export(&k, &["export", "aws", "--server", "api", "--out", "aws"]);
    assert!(r.stderr.contains("aws-commands.sh"), "{}", r.stderr);
    py_check(
        &k,
        &format!(
            "{PRELUDE}\n\
assert ders(open(out + '/aws-truststore.pem').read()) == chain\n\
j = json.load(open(out + '/aws-domain.json'))\n\
assert j['DomainName'] == 'api.example.com'\n\
assert j['DomainNameConfigurations'][0]['EndpointType'] == 'REGIONAL'\n\
assert j['MutualTlsAuthentication']['TruststoreUri'].startswith('s3://')\n\
cmds = open(out + '/aws-commands.sh').read()\n\
assert 'aws s3 cp' in cmds and 'create-domain-name' in cmds and 'disable-execute-api-endpoint' in cmds\n"
        ),
        "aws",
    );
    tool(k.dir(), "sh", &["-n", &k.s("aws/aws-commands.sh")]).ok();
    // --json: exactly one document on stdout, status on stderr.
    let r = k
        .int(&[
            "--json", "export", "aws", "--server", "api", "--out", "aws-json",
        ])
        .ok();
    let j = r.json();
    assert_eq!(j["target"], "aws");
    // truststore, domain JSON, script, and the server certificate, key and chain for ACM.
    assert_eq!(j["files"].as_array().unwrap().len(), 6, "{j}");
    assert!(r.stderr.contains("wrote aws export"), "{}", r.stderr);
}

#[test]
fn aws_refuses_ed25519_and_warns_about_near_expiry() {
    let t = tempdir();
    let d = t.path();
    mtls(d, &["--dir", "ed", "init", "--key-type", "ed25519"]).ok();
    let before = snapshot(d);
    let r = mtls(d, &["--dir", "ed", "export", "aws", "--out", "aws"]).expect_code(2);
    assert!(r.stderr.contains("Ed25519"), "{}", r.stderr);
    assert!(r.stderr.contains("hint:"), "{}", r.stderr);
    assert_eq!(before, snapshot(d), "nothing written");

    mtls(d, &["--dir", "short", "init", "--days", "30"]).ok();
    mtls(
        d,
        &[
            "--dir",
            "short",
            "issue",
            "server",
            "--cn",
            "api.example.com",
            "--days",
            "20",
            "--out",
            "s",
        ],
    )
    .ok();
    let r = mtls(
        d,
        &[
            "--dir", "short", "export", "aws", "--server", "s", "--out", "aws2",
        ],
    )
    .ok();
    assert!(
        r.stderr.contains("warning:") && r.stderr.contains("AWS gives no warning"),
        "{}",
        r.stderr
    );
}

#[test]
fn bundle_writes_chain_crls_and_the_haproxy_style_pem() {
    let k = pki();
    export(
        &k,
        &[
            "export",
            "bundle",
            "--server",
            "api",
            "--client",
            "alice",
            "--crl",
            "pki/crl.pem",
            "--crl",
            "pki/int/crl.pem",
            "--out",
            "b",
        ],
    );
    let d = k.dir();
    // The bundle verifies the leaves with openssl.
    openssl(
        d,
        &[
            "verify",
            "-CAfile",
            &k.s("b/ca-bundle.pem"),
            "-crl_check_all",
            "-CRLfile",
            &k.s("b/crls.pem"),
            &k.s("b/alice.fullchain.crt"),
        ],
    )
    .ok();
    let r = openssl(
        d,
        &[
            "verify",
            "-CAfile",
            &k.s("b/ca-bundle.pem"),
            "-crl_check_all",
            "-CRLfile",
            &k.s("b/crls.pem"),
            &k.s("bob.crt"),
        ],
    );
    assert_ne!(r.code, 0, "bob is revoked in crls.pem");
    let pem = std::fs::read_to_string(k.p("b/api.pem")).unwrap();
    assert_eq!(pem.matches("BEGIN CERTIFICATE").count(), 2);
    assert!(pem.contains("BEGIN PRIVATE KEY"));
    use std::os::unix::fs::PermissionsExt;
    for f in ["b/api.pem", "b/alice.pem"] {
        let mode = std::fs::metadata(k.p(f)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }
}

#[test]
fn httpx_and_apache_outputs_are_well_formed() {
    let k = pki();
    export(&k, &["export", "httpx", "--client", "alice", "--out", "hx"]);
    tool(
        k.dir(),
        "python3",
        &["-m", "py_compile", &k.s("hx/client_httpx.py")],
    )
    .ok();
    export(
        &k,
        &[
            "export",
            "apache",
            "--server",
            "api",
            "--crl",
            "pki/crl.pem",
            "--crl",
            "pki/int/crl.pem",
            "--out",
            "ap",
        ],
    );
    let conf = std::fs::read_to_string(k.p("ap/apache-mtls.conf")).unwrap();
    for needle in [
        "SSLVerifyClient require",
        "SSLVerifyDepth 2",
        "SSLCARevocationCheck chain",
    ] {
        assert!(conf.contains(needle), "{needle}:\n{conf}");
    }
}
