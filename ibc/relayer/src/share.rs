//! Several relayers on one path. Each takes its own share of the sequences
//! at once, and another relayer's once they have waited
//! [`TAKEOVER_ROUNDS`] of its rounds (that relayer may be down), so two
//! relayers add throughput instead of racing for the same packets, and a
//! packet is never stuck behind a dead one. A packet both deliver anyway is
//! harmless: the zone treats the second delivery as a no-op, and the
//! relayer counts it (`kawase_relayer_redundant_total`).
use std::collections::BTreeMap;

/// Rounds another relayer's sequence is left to it before this one
/// delivers it too.
pub const TAKEOVER_ROUNDS: u32 = 3;

/// Sequences come in runs of this many per share: one transaction's
/// packets have consecutive sequences, and one event lookup finds them all.
const RUN: u64 = 64;

/// This relayer's share: sequence runs `index`, `index + of`, ... of `of`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Share {
    pub index: u64,
    pub of: u64,
}

impl Default for Share {
    fn default() -> Self {
        Share { index: 0, of: 1 }
    }
}

impl Share {
    /// A share that names a relayer among `of`, or why not.
    pub fn check(self) -> Result<Share, String> {
        if self.of == 0 || self.index >= self.of {
            return Err(format!(
                "share index {} of {}: index must be below `of`, and `of` at least 1",
                self.index, self.of
            ));
        }
        Ok(self)
    }

    pub fn is_mine(self, sequence: u64) -> bool {
        self.of <= 1 || (sequence / RUN) % self.of == self.index
    }
}

/// How many rounds each of the other relayers' sequences has been seen
/// pending by this one.
#[derive(Debug, Default)]
pub struct Waiting(BTreeMap<u64, u32>);

impl Waiting {
    /// Of `pending`, those this relayer delivers now: its own, and others'
    /// seen pending for more than [`TAKEOVER_ROUNDS`] rounds in a row.
    /// Forgets sequences no longer pending, so it stays as small as the
    /// pending set.
    pub fn pick(&mut self, share: Share, pending: Vec<u64>) -> Vec<u64> {
        let mut seen = BTreeMap::new();
        let out = pending
            .into_iter()
            .filter(|&s| {
                if share.is_mine(s) {
                    return true;
                }
                let rounds = self.0.get(&s).copied().unwrap_or(0).saturating_add(1);
                seen.insert(s, rounds);
                rounds > TAKEOVER_ROUNDS
            })
            .collect();
        self.0 = seen;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lone_relayer_takes_every_sequence_at_once() {
        let mut w = Waiting::default();
        assert_eq!(w.pick(Share::default(), vec![1, 64, 200]), vec![1, 64, 200]);
    }

    #[test]
    fn two_relayers_split_the_sequences_in_runs_and_together_cover_them_all() {
        let (a, b) = (Share { index: 0, of: 2 }, Share { index: 1, of: 2 });
        let seqs: Vec<u64> = (1..=512).collect();
        let mine_a: Vec<u64> = Waiting::default().pick(a, seqs.clone());
        let mine_b: Vec<u64> = Waiting::default().pick(b, seqs.clone());
        assert!(mine_a.iter().all(|s| !mine_b.contains(s)), "no sequence is taken by both at once");
        assert_eq!(mine_a.len() + mine_b.len(), seqs.len());
        assert!(mine_a.contains(&1) && mine_a.contains(&63) && mine_b.contains(&64), "runs of 64");
    }

    #[test]
    fn another_relayers_sequence_is_taken_over_after_it_waited_three_rounds() {
        let share = Share { index: 0, of: 2 };
        let mut w = Waiting::default();
        for _ in 0..TAKEOVER_ROUNDS {
            assert_eq!(w.pick(share, vec![70]), Vec::<u64>::new());
        }
        assert_eq!(w.pick(share, vec![70]), vec![70]);
    }

    #[test]
    fn a_sequence_that_stops_pending_is_forgotten_and_waits_again_if_it_returns() {
        let share = Share { index: 0, of: 2 };
        let mut w = Waiting::default();
        for _ in 0..TAKEOVER_ROUNDS {
            w.pick(share, vec![70]);
        }
        w.pick(share, vec![]);
        assert_eq!(w.pick(share, vec![70]), Vec::<u64>::new(), "the count started again");
        assert!(w.0.len() <= 1);
    }

    #[test]
    fn a_share_must_name_one_of_its_relayers() {
        assert!(Share { index: 0, of: 0 }.check().is_err());
        assert!(Share { index: 2, of: 2 }.check().is_err());
        assert!(Share { index: 1, of: 2 }.check().is_ok());
    }
}
