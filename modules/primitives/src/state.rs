use std::collections::BTreeMap;
use std::ops::Bound;

use crate::{Amount, Event};

/// A storage failure underneath the state machine (disk, corruption). It is
/// not a property of the transaction: the node must stop rather than diverge.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("storage failure: {0}")]
pub struct StateError(pub String);

/// Key-value pairs in key order, as prefix reads return them.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// Read access to the key-value state as of some point of execution.
///
/// Verifiable keys are in the Merkle tree (their root is the app hash);
/// non-verifiable keys (indexes, tx results) are local to the node.
pub trait StateRead {
    fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError>;
    /// All verifiable entries whose key starts with `prefix`, in key order.
    fn prefix_raw(&self, prefix: &[u8]) -> Result<Entries, StateError>;
    fn get_nonverifiable(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError>;
}

/// Write access; writes land in an overlay and reach disk only at commit.
pub trait StateWrite: StateRead {
    fn put_raw(&mut self, key: Vec<u8>, value: Vec<u8>);
    fn delete(&mut self, key: Vec<u8>);
    fn put_nonverifiable(&mut self, key: Vec<u8>, value: Vec<u8>);
    fn emit(&mut self, event: Event);
}

impl<T: StateRead + ?Sized> StateRead for &T {
    fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        (**self).get_raw(key)
    }
    fn prefix_raw(&self, prefix: &[u8]) -> Result<Entries, StateError> {
        (**self).prefix_raw(prefix)
    }
    fn get_nonverifiable(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        (**self).get_nonverifiable(key)
    }
}

impl<T: StateRead + ?Sized> StateRead for &mut T {
    fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        (**self).get_raw(key)
    }
    fn prefix_raw(&self, prefix: &[u8]) -> Result<Entries, StateError> {
        (**self).prefix_raw(prefix)
    }
    fn get_nonverifiable(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        (**self).get_nonverifiable(key)
    }
}

impl<T: StateWrite + ?Sized> StateWrite for &mut T {
    fn put_raw(&mut self, key: Vec<u8>, value: Vec<u8>) {
        (**self).put_raw(key, value)
    }
    fn delete(&mut self, key: Vec<u8>) {
        (**self).delete(key)
    }
    fn put_nonverifiable(&mut self, key: Vec<u8>, value: Vec<u8>) {
        (**self).put_nonverifiable(key, value)
    }
    fn emit(&mut self, event: Event) {
        (**self).emit(event)
    }
}

/// Everything a piece of execution changed: ordered, so applying it is
/// deterministic. `None` is a deletion.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    pub nonverifiable: BTreeMap<Vec<u8>, Vec<u8>>,
    pub events: Vec<Event>,
}

impl Changes {
    /// Folds a later set of changes over this one.
    pub fn extend(&mut self, later: Changes) {
        self.writes.extend(later.writes);
        self.nonverifiable.extend(later.nonverifiable);
        self.events.extend(later.events);
    }

    /// Takes the events out (they belong to one tx result, not to the block).
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }
}

/// Writes a child overlay's changes through any writer (for overlays whose
/// parent is only known as `StateWrite`).
pub fn write_changes<S: StateWrite + ?Sized>(state: &mut S, changes: Changes) {
    for (k, v) in changes.writes {
        match v {
            Some(v) => state.put_raw(k, v),
            None => state.delete(k),
        }
    }
    for (k, v) in changes.nonverifiable {
        state.put_nonverifiable(k, v);
    }
    for e in changes.events {
        state.emit(e);
    }
}

/// A transactional overlay over a base state. Fork one per transaction (or
/// per message), run the handler on it, then either [`Delta::into_changes`]
/// and apply to the parent, or drop it: nothing leaks on error.
///
/// A read that fails underneath the overlay is latched ([`Delta::fault`])
/// whatever the caller then makes of the error: a module or ibc-rs may turn
/// it into a rejection or an error acknowledgement, but the block executor
/// sees the latch and halts instead of committing a node-local result.
#[derive(Debug)]
pub struct Delta<B> {
    base: B,
    changes: Changes,
    fault: std::sync::OnceLock<StateError>,
}

impl<B: StateRead> Delta<B> {
    pub fn new(base: B) -> Self {
        Self { base, changes: Changes::default(), fault: std::sync::OnceLock::new() }
    }

    /// The first storage failure seen through this overlay (a failed read
    /// of its base, or one recorded with [`Delta::record_fault`]).
    pub fn fault(&self) -> Option<&StateError> {
        self.fault.get()
    }

    /// Records a storage failure that a handler found but cannot return
    /// (an IBC callback that must answer with an acknowledgement).
    pub fn record_fault(&self, e: StateError) {
        let _ = self.fault.set(e);
    }

    fn latch<T>(&self, r: Result<T, StateError>) -> Result<T, StateError> {
        if let Err(e) = &r {
            self.record_fault(e.clone());
        }
        r
    }

    pub fn changes(&self) -> &Changes {
        &self.changes
    }

    pub fn into_changes(self) -> Changes {
        self.changes
    }

    /// Applies changes made by a child overlay.
    pub fn apply(&mut self, changes: Changes) {
        self.changes.extend(changes);
    }

    /// Takes the events emitted so far, leaving writes in place.
    pub fn take_events(&mut self) -> Vec<Event> {
        self.changes.take_events()
    }
}

impl<B: StateRead> StateRead for Delta<B> {
    fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        match self.changes.writes.get(key) {
            Some(v) => Ok(v.clone()),
            None => self.latch(self.base.get_raw(key)),
        }
    }

    fn prefix_raw(&self, prefix: &[u8]) -> Result<Entries, StateError> {
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = self.latch(self.base.prefix_raw(prefix))?.into_iter().collect();
        let range = self
            .changes
            .writes
            .range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix));
        for (k, v) in range {
            match v {
                Some(v) => merged.insert(k.clone(), v.clone()),
                None => merged.remove(k),
            };
        }
        Ok(merged.into_iter().collect())
    }

    fn get_nonverifiable(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        match self.changes.nonverifiable.get(key) {
            Some(v) => Ok(Some(v.clone())),
            None => self.latch(self.base.get_nonverifiable(key)),
        }
    }
}

impl<B: StateRead> StateWrite for Delta<B> {
    fn put_raw(&mut self, key: Vec<u8>, value: Vec<u8>) {
        // ICS-23 proofs cannot carry an empty value: such a key could be
        // neither proven nor used as the neighbour of an absent key.
        debug_assert!(!value.is_empty(), "empty value written at {}", String::from_utf8_lossy(&key));
        self.changes.writes.insert(key, Some(value));
    }
    fn delete(&mut self, key: Vec<u8>) {
        self.changes.writes.insert(key, None);
    }
    fn put_nonverifiable(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.changes.nonverifiable.insert(key, value);
    }
    fn emit(&mut self, event: Event) {
        self.changes.events.push(event);
    }
}

/// An in-memory base state for unit tests of state logic.
#[derive(Clone, Debug, Default)]
pub struct MemState {
    pub verifiable: BTreeMap<Vec<u8>, Vec<u8>>,
    pub nonverifiable: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl StateRead for MemState {
    fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.verifiable.get(key).cloned())
    }
    fn prefix_raw(&self, prefix: &[u8]) -> Result<Entries, StateError> {
        Ok(self
            .verifiable
            .range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
    fn get_nonverifiable(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.nonverifiable.get(key).cloned())
    }
}

/// Typed helpers every module uses for its own keys. A value that does not
/// decode is a storage failure (state is only ever written by this code).
pub trait StateReadTyped: StateRead {
    fn get_proto<M: prost::Message + Default>(&self, key: &[u8]) -> Result<Option<M>, StateError> {
        match self.get_raw(key)? {
            None => Ok(None),
            Some(b) => M::decode(b.as_slice())
                .map(Some)
                .map_err(|e| StateError(format!("corrupt value at {}: {e}", String::from_utf8_lossy(key)))),
        }
    }

    /// A fixed-width value; `None` if absent.
    fn get_fixed<const N: usize>(&self, key: &[u8]) -> Result<Option<[u8; N]>, StateError> {
        match self.get_raw(key)? {
            None => Ok(None),
            Some(b) => b
                .as_slice()
                .try_into()
                .map(Some)
                .map_err(|_| StateError(format!("corrupt {N}-byte value at {}", String::from_utf8_lossy(key)))),
        }
    }

    /// u128 stored as 16 big-endian bytes; absent reads as zero.
    fn get_u128(&self, key: &[u8]) -> Result<u128, StateError> {
        Ok(self.get_fixed::<16>(key)?.map(u128::from_be_bytes).unwrap_or(0))
    }

    /// An [`Amount`], in exactly the encoding of [`StateReadTyped::get_u128`]:
    /// 16 big-endian bytes, absent reads as zero.
    fn get_amount(&self, key: &[u8]) -> Result<Amount, StateError> {
        self.get_u128(key).map(Amount::new)
    }

    /// u64 stored as 8 big-endian bytes; absent reads as zero.
    fn get_u64(&self, key: &[u8]) -> Result<u64, StateError> {
        Ok(self.get_fixed::<8>(key)?.map(u64::from_be_bytes).unwrap_or(0))
    }

    fn has(&self, key: &[u8]) -> Result<bool, StateError> {
        Ok(self.get_raw(key)?.is_some())
    }
}

impl<T: StateRead + ?Sized> StateReadTyped for T {}

pub trait StateWriteTyped: StateWrite {
    fn put_proto<M: prost::Message>(&mut self, key: Vec<u8>, m: &M) {
        self.put_raw(key, m.encode_to_vec())
    }

    /// Zero is stored as absence, so an emptied balance leaves no key behind
    /// and the state (and app hash) depends only on non-zero amounts.
    fn put_u128(&mut self, key: Vec<u8>, v: u128) {
        if v == 0 {
            self.delete(key)
        } else {
            self.put_raw(key, v.to_be_bytes().to_vec())
        }
    }

    /// An [`Amount`], in exactly the encoding of [`StateWriteTyped::put_u128`]:
    /// 16 big-endian bytes, zero stored as absence.
    fn put_amount(&mut self, key: Vec<u8>, v: Amount) {
        self.put_u128(key, v.get())
    }

    fn put_u64(&mut self, key: Vec<u8>, v: u64) {
        self.put_raw(key, v.to_be_bytes().to_vec())
    }
}

impl<T: StateWrite + ?Sized> StateWriteTyped for T {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_child_leaves_parent_untouched_and_applied_child_shows() {
        let mut base = MemState::default();
        base.verifiable.insert(b"a/1".to_vec(), b"x".to_vec());
        let mut block = Delta::new(&base);
        {
            let mut tx = Delta::new(&block);
            tx.put_raw(b"a/2".to_vec(), b"y".to_vec());
            tx.emit(Event::new("dropped"));
        }
        assert_eq!(block.get_raw(b"a/2"), Ok(None));
        let mut tx = Delta::new(&block);
        tx.put_raw(b"a/2".to_vec(), b"y".to_vec());
        tx.delete(b"a/1".to_vec());
        let changes = tx.into_changes();
        block.apply(changes);
        assert_eq!(block.get_raw(b"a/2"), Ok(Some(b"y".to_vec())));
        assert_eq!(block.get_raw(b"a/1"), Ok(None));
        assert_eq!(block.prefix_raw(b"a/"), Ok(vec![(b"a/2".to_vec(), b"y".to_vec())]));
        assert!(block.changes().events.is_empty());
    }

    #[test]
    fn prefix_merges_overlay_in_key_order() {
        let mut base = MemState::default();
        base.verifiable.insert(b"p/b".to_vec(), b"1".to_vec());
        base.verifiable.insert(b"q/a".to_vec(), b"0".to_vec());
        let mut d = Delta::new(&base);
        d.put_raw(b"p/a".to_vec(), b"2".to_vec());
        d.put_raw(b"p/c".to_vec(), b"3".to_vec());
        let keys: Vec<_> = d.prefix_raw(b"p/").expect("mem").into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, vec![b"p/a".to_vec(), b"p/b".to_vec(), b"p/c".to_vec()]);
    }

    #[test]
    fn amounts_are_stored_exactly_as_u128s() {
        for v in [0u128, 1, 255, 256, 1_000_000, u128::MAX - 1, u128::MAX] {
            let (mut a, mut b) = (Delta::new(MemState::default()), Delta::new(MemState::default()));
            a.put_u128(b"k".to_vec(), 5);
            b.put_u128(b"k".to_vec(), 5);
            a.put_u128(b"k".to_vec(), v);
            b.put_amount(b"k".to_vec(), Amount::new(v));
            assert_eq!(a.changes(), b.changes(), "{v}");
            assert_eq!(b.get_amount(b"k"), Ok(Amount::new(v)));
            assert_eq!(b.get_raw(b"k").expect("mem").is_none(), v == 0, "zero is absence");
        }
        let mut d = Delta::new(MemState::default());
        assert_eq!(d.get_amount(b"absent"), Ok(Amount::ZERO));
        d.put_raw(b"bad".to_vec(), vec![1, 2, 3]);
        assert!(d.get_amount(b"bad").is_err());
    }
}
