//! The one test harness of Kawase's system tests, fault suite and load
//! benches: real `kawased` and `kawase-relayer` processes on loopback, and
//! what drives and checks them. Every child process is killed when its
//! handle drops, however the test ends.
//!
//! - [`process`]: the one launcher of nodes, relayers and other children
//!   ([`process::Launch`] -> [`process::Process`]): readiness, log, stop,
//!   kill, pause, restart, cleanup on drop.
//! - [`rpc`]: the one JSON-RPC client ([`rpc::Rpc`]); [`http`]: a plain GET
//!   (metrics endpoints).
//! - [`node`]: binaries, admin keys, free ports, testnet homes and configs.
//! - [`relayer`]: a relayer's config, `start` process and commands.
//! - [`zones`]: an FZ, a BZ and a relayer for the settlement tests.
//! - [`devnet`]: `kawased devnet` for the CLI tests.
//! - [`bench`]: the load benches' `BENCH_JSON` lines, process memory and
//!   data-directory sizes.
//! - [`misbehaviour`]: forged light-client headers for the settlement tests.
//! - The fault suite: [`manifest`] (its profiles), [`cluster`] (validators
//!   behind [`proxy`] links), [`faultnet`] (two zones and relayers),
//!   [`workload`] and [`load`] (what is sent and what each client was told),
//!   [`perturb`] (kills, stalls, partitions), [`checks`] and [`money`] (the
//!   verdict).
pub mod bench;
pub mod checks;
pub mod cluster;
pub mod customers;
pub mod devnet;
pub mod faultnet;
pub mod http;
pub mod load;
pub mod manifest;
pub mod misbehaviour;
pub mod money;
pub mod node;
pub mod perturb;
pub mod process;
pub mod proxy;
pub mod relayer;
pub mod rpc;
pub mod workload;
pub mod zones;
