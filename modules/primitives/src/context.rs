use crate::Address;

/// What a message handler may know about where it runs. Deliberately no
/// wall clock: the block time comes from consensus and is the same everywhere.
#[derive(Clone, Debug)]
pub struct Context {
    pub chain_id: String,
    pub height: u64,
    /// Block time from the header, seconds since the Unix epoch.
    pub block_time_secs: i64,
    /// The single account that signed the transaction.
    pub signer: Address,
}
