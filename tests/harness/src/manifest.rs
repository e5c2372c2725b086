//! The fault suite's manifest (after CometBFT's e2e manifests): the
//! network, the load, and the perturbations with their timing, as a TOML
//! file under tests/faults/. `KAWASE_FAULTS_PROFILE` picks one (`ci`
//! unless set; a name means tests/faults/NAME.toml, anything with a `/`
//! or `.toml` is a path).
use std::path::PathBuf;

use serde::Deserialize;

#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    /// Seeds the load's choices and any generated perturbations.
    pub seed: u64,
    /// Networks started, perturbed and checked one after another.
    #[serde(default = "one")]
    pub runs: u32,
    /// If set, keep starting runs until this many seconds have passed
    /// (the soak), still at most `runs`.
    #[serde(default)]
    pub soak_secs: Option<u64>,
    pub fz_validators: u16,
    pub bz_validators: u16,
    /// How long the load (and the perturbations) run in each run.
    pub duration_secs: u64,
    /// Kill `create-path` after each of these delays (ms) before letting
    /// it finish: a relayer killed mid-handshake, resumed from chain state.
    #[serde(default)]
    pub handshake_kills_ms: Vec<u64>,
    pub load: Load,
    #[serde(default)]
    pub perturbations: Vec<Perturbation>,
    /// Perturbations drawn from the seed in addition, per run.
    #[serde(default)]
    pub random: Option<RandomPerturbations>,
    /// Lines a node's log must hold by the end of a run: a regression
    /// profile shows its fault took the path it is about.
    #[serde(default)]
    pub expect_logs: Vec<ExpectLog>,
}

/// `contains` must appear in the log of validator `node` of `zone`.
#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct ExpectLog {
    #[serde(default = "fz")]
    pub zone: ZoneName,
    pub node: usize,
    pub contains: String,
}

fn one() -> u32 {
    1
}

#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct Load {
    pub banks: u16,
    pub customers_per_bank: u16,
    /// Issued to each customer at setup.
    pub initial_issue: u64,
    /// Charged to each customer's BZ account at setup.
    pub initial_charge: u64,
    /// Pause between one actor's transactions.
    pub pause_ms: u64,
    /// Relative weights of the operations.
    pub weights: Weights,
}

#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct Weights {
    pub transfer: u32,
    pub issue: u32,
    pub register: u32,
    pub charge: u32,
    pub pay: u32,
    pub discharge: u32,
}

#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// SIGKILL, then start again after `for_secs`.
    Kill,
    /// SIGSTOP, SIGCONT after `for_secs`.
    Pause,
    /// SIGTERM, wait for the exit, start again.
    Restart,
    /// Cut every connection to and from the validator for `for_secs`.
    Partition,
    /// Stall (not cut) the validator's connections for `for_secs`.
    Stall,
    /// Cut the relayer from both zones' RPC for `for_secs`.
    PartitionRelayer,
    /// SIGKILL the relayer mid-relay, start it again after `for_secs`.
    KillRelayer,
    /// Run a second relayer on the same path for `for_secs`.
    SecondRelayer,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::Kill,
        Kind::Pause,
        Kind::Restart,
        Kind::Partition,
        Kind::Stall,
        Kind::PartitionRelayer,
        Kind::KillRelayer,
        Kind::SecondRelayer,
    ];

    pub fn targets_node(self) -> bool {
        matches!(self, Kind::Kill | Kind::Pause | Kind::Restart | Kind::Partition | Kind::Stall)
    }
}

#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ZoneName {
    Fz,
    Bz,
}

#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct Perturbation {
    /// Seconds after the load started.
    pub at_secs: f64,
    pub kind: Kind,
    #[serde(default = "fz")]
    pub zone: ZoneName,
    /// Validator index in its zone (node kinds only).
    #[serde(default)]
    pub node: usize,
    #[serde(default = "two")]
    pub for_secs: f64,
}

fn fz() -> ZoneName {
    ZoneName::Fz
}

fn two() -> f64 {
    2.0
}

#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct RandomPerturbations {
    pub count: u32,
    pub kinds: Vec<Kind>,
    pub max_for_secs: f64,
}

impl Manifest {
    /// The profile `KAWASE_FAULTS_PROFILE` names (default `ci`).
    pub fn from_env() -> Manifest {
        let name = std::env::var("KAWASE_FAULTS_PROFILE").unwrap_or_else(|_| "ci".into());
        let mut m = Manifest::named(&name);
        if let Some(s) = std::env::var("KAWASE_SOAK_SECS").ok().and_then(|s| s.parse().ok()) {
            m.soak_secs = Some(s);
        }
        m
    }

    /// A profile of tests/faults by name (`ci`, `soak`, `partition`), or a
    /// manifest's path.
    pub fn named(name: &str) -> Manifest {
        let path = if name.contains('/') || name.ends_with(".toml") {
            PathBuf::from(&name)
        } else {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../faults").join(format!("{name}.toml"))
        };
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let m: Manifest = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        m.validate();
        m
    }

    /// Refuses a manifest whose perturbations name nodes that do not exist
    /// or run past the load.
    pub fn validate(&self) {
        assert!(self.fz_validators >= 1 && self.bz_validators >= 1, "each zone needs a validator");
        assert!(self.fz_validators <= 7 && self.bz_validators <= 7, "at most 7 validators per zone here");
        assert!(self.load.banks >= 1 && self.load.customers_per_bank >= 1);
        assert!(self.duration_secs <= 3_600, "one run's load is bounded to an hour");
        for p in &self.perturbations {
            assert!(!p.kind.targets_node() || p.node < self.validators(p.zone), "{p:?}: no such validator");
            assert!(p.at_secs >= 0.0 && p.for_secs >= 0.0 && p.for_secs <= 120.0, "{p:?}: bad timing");
            assert!(p.at_secs < self.duration_secs as f64, "{p:?}: after the load ends");
        }
        for e in &self.expect_logs {
            assert!(e.node < self.validators(e.zone), "{e:?}: no such validator");
        }
    }

    /// How many validators `zone` has.
    pub fn validators(&self, zone: ZoneName) -> usize {
        usize::from(match zone {
            ZoneName::Fz => self.fz_validators,
            ZoneName::Bz => self.bz_validators,
        })
    }

    /// This run's perturbations: the listed ones and `random.count` drawn
    /// from `rng`, in time order.
    pub fn schedule(&self, rng: &mut Rng) -> Vec<Perturbation> {
        let mut out = self.perturbations.clone();
        if let Some(r) = &self.random {
            for _ in 0..r.count {
                let kind = r.kinds[rng.below(r.kinds.len() as u64) as usize];
                let zone = if rng.below(4) == 0 { ZoneName::Bz } else { ZoneName::Fz };
                let n = self.validators(zone) as u64;
                let at_secs = rng.below(self.duration_secs.max(1) * 1000) as f64 / 1000.0;
                let for_secs = 0.5 + rng.below((r.max_for_secs * 1000.0) as u64 + 1) as f64 / 1000.0;
                out.push(Perturbation { at_secs, kind, zone, node: rng.below(n) as usize, for_secs });
            }
        }
        out.sort_by(|a, b| a.at_secs.total_cmp(&b.at_secs));
        out
    }
}

/// xorshift64*: reproducible choices from the manifest's seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-enough in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}
