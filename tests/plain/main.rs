//! The integration tests that need only the Rust toolchain (plain `cargo test`): one test
//! binary, one module per tests/*.rs file. `cargo test --test plain [MODULE::]`.

#[path = "../common/mod.rs"]
mod common;

#[path = "../architecture.rs"]
mod architecture;
#[path = "../help.rs"]
mod help;
#[path = "../inspect_warnings.rs"]
mod inspect_warnings;
#[path = "../json_errors.rs"]
mod json_errors;
#[path = "../limbo.rs"]
mod limbo;
#[path = "../reliability.rs"]
mod reliability;
