//! Issue 14, certificate policy: dual-use leaves, name constraints at issuance, subject
//! attributes, profiles as data, CSR signing rules, key rotation on renewal and the offline-root
//! ceremony. Real binary; openssl verify and pkilint on every certificate made.

#[path = "policy_cases/ceremony.rs"]
mod ceremony;
#[path = "policy_cases/constraints.rs"]
mod constraints;
#[path = "policy_cases/dual_use.rs"]
mod dual_use;
#[path = "policy_cases/renew_key.rs"]
mod renew_key;
#[path = "policy_cases/sign_csr.rs"]
mod sign_csr;
#[path = "policy_cases/subject.rs"]
mod subject;
