//! The integration tests that drive external tools (openssl, curl, nginx, HAProxy, Caddy, Java,
//! Node, pkilint, PostgreSQL, SoftHSM2): one test binary, one module per tests/*.rs file.
//! `cargo test --features interop --test interop [MODULE::]` (scripts/test installs the tools).
//! One binary instead of one per file: a library change relinks it once.

#[path = "../common/mod.rs"]
mod common;
#[path = "../core_support/mod.rs"]
mod core_support;
#[path = "../export_support/mod.rs"]
mod export_support;
#[path = "../hsm_support/mod.rs"]
mod hsm_support;
#[path = "../pg_support/mod.rs"]
mod pg_support;

#[path = "../batch.rs"]
mod batch;
#[path = "../completions_man.rs"]
mod completions_man;
#[path = "../core_chain.rs"]
mod core_chain;
#[path = "../core_cli.rs"]
mod core_cli;
#[path = "../core_concurrency.rs"]
mod core_concurrency;
#[path = "../core_keytypes.rs"]
mod core_keytypes;
#[path = "../core_safety.rs"]
mod core_safety;
#[path = "../core_serials.rs"]
mod core_serials;
#[path = "../diagnose_gateways.rs"]
mod diagnose_gateways;
#[path = "../examples.rs"]
mod examples;
#[path = "../explain.rs"]
mod explain;
#[path = "../explain_corpus.rs"]
mod explain_corpus;
#[path = "../export_bad_input.rs"]
mod export_bad_input;
#[path = "../export_configs.rs"]
mod export_configs;
#[path = "../export_gateways.rs"]
mod export_gateways;
#[path = "../export_kong_aws.rs"]
mod export_kong_aws;
#[path = "../export_p12.rs"]
mod export_p12;
#[path = "../export_quickstart.rs"]
mod export_quickstart;
#[path = "../faults.rs"]
mod faults;
#[path = "../hsm.rs"]
mod hsm;
#[path = "../inspect_bad_input.rs"]
mod inspect_bad_input;
#[path = "../inspect_cli.rs"]
mod inspect_cli;
#[path = "../inspect_proptest.rs"]
mod inspect_proptest;
#[path = "../lifecycle_ca.rs"]
mod lifecycle_ca;
#[path = "../lifecycle_crl.rs"]
mod lifecycle_crl;
#[path = "../lifecycle_csr.rs"]
mod lifecycle_csr;
#[path = "../lifecycle_renew.rs"]
mod lifecycle_renew;
#[path = "../limbo_openssl.rs"]
mod limbo_openssl;
#[path = "../online.rs"]
mod online;
#[path = "../online_postgres.rs"]
mod online_postgres;
#[path = "../policy.rs"]
mod policy;
#[path = "../probe.rs"]
mod probe;
#[path = "../probe_export.rs"]
mod probe_export;
#[path = "../rotation_gateways.rs"]
mod rotation_gateways;
#[path = "../scale_out.rs"]
mod scale_out;
#[path = "../smoke.rs"]
mod smoke;
#[path = "../store_faults.rs"]
mod store_faults;
#[path = "../store_migrate.rs"]
mod store_migrate;
#[path = "../store_postgres.rs"]
mod store_postgres;
#[path = "../verify_cli.rs"]
mod verify_cli;
#[path = "../verify_openssl.rs"]
mod verify_openssl;
