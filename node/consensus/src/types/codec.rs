//! The wire and WAL codec: borsh, which every Malachite message type
//! implements with its `borsh` feature.
use borsh::{BorshDeserialize, BorshSerialize};
use bytes::Bytes;

/// One codec for the network, sync and the WAL: borsh, which every
/// Malachite message type implements with its `borsh` feature.
#[derive(Clone, Copy, Debug, Default)]
pub struct BorshCodec;

#[derive(Debug, thiserror::Error)]
#[error("codec: {0}")]
pub struct CodecError(String);

impl<T> malachitebft_codec::Codec<T> for BorshCodec
where
    T: BorshSerialize + BorshDeserialize,
{
    type Error = CodecError;

    fn decode(&self, bytes: Bytes) -> Result<T, CodecError> {
        borsh::from_slice(&bytes).map_err(|e| CodecError(e.to_string()))
    }

    fn encode(&self, msg: &T) -> Result<Bytes, CodecError> {
        borsh::to_vec(msg).map(Bytes::from).map_err(|e| CodecError(e.to_string()))
    }
}
