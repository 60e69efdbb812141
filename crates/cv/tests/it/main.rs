//! Process-level integration tests of the `cv` binary: each test starts the real executable (a
//! server on a loopback port with a real SQLite file in a temporary directory, or a one-shot
//! subcommand) and checks what a user or an orchestrator would observe.
//!
//! One test binary with modules, so the executable is linked once and the harness in `support`
//! is shared.

mod api;
mod api_errors;
mod cli;
mod page;
mod server;
mod shutdown;
mod support;
