//! Malachite's `SigningProvider`: verifies with CometBFT sign bytes and
//! signs votes and proposals through the double-sign guard in `privval`.
//! It is the one piece of `types` that depends on `privval`; `privval`
//! depends only on `crate::keys`, so the two do not import each other.
use malachitebft_core_types::{SignedMessage, SigningProvider, VoteType};
use tendermint::chain;

use super::{Proposal, ProposalPart, PublicKey, Signature, Vote, ZoneContext};
use crate::privval::{PrivValidator, Step};

/// Verifies everything with CometBFT sign bytes; signs through the
/// double-sign guard.
pub struct Signer {
    pub chain_id: chain::Id,
    pub privval: std::sync::Arc<PrivValidator>,
}

impl Signer {
    fn part_sign_bytes(part: &ProposalPart) -> Vec<u8> {
        borsh::to_vec(part).unwrap_or_default()
    }
}

impl SigningProvider<ZoneContext> for Signer {
    fn sign_vote(&self, vote: Vote) -> SignedMessage<ZoneContext, Vote> {
        let bytes = vote.sign_bytes(&self.chain_id);
        let step = match vote.typ {
            VoteType::Prevote => Step::Prevote,
            VoteType::Precommit => Step::Precommit,
        };
        let signature = self.privval.sign_or_halt(vote.height.0, vote.round, step, &bytes);
        crate::crash::point("after-vote-signed", vote.height.0);
        SignedMessage::new(vote, signature)
    }

    fn verify_signed_vote(&self, vote: &Vote, signature: &Signature, public_key: &PublicKey) -> bool {
        public_key.verify(&vote.sign_bytes(&self.chain_id), signature)
    }

    fn sign_proposal(&self, proposal: Proposal) -> SignedMessage<ZoneContext, Proposal> {
        let bytes = proposal.sign_bytes(&self.chain_id);
        let signature = self.privval.sign_or_halt(proposal.height.0, proposal.round, Step::Propose, &bytes);
        SignedMessage::new(proposal, signature)
    }

    fn verify_signed_proposal(&self, proposal: &Proposal, signature: &Signature, public_key: &PublicKey) -> bool {
        public_key.verify(&proposal.sign_bytes(&self.chain_id), signature)
    }

    fn sign_proposal_part(&self, part: ProposalPart) -> SignedMessage<ZoneContext, ProposalPart> {
        let signature = self.privval.key().sign(&Self::part_sign_bytes(&part));
        SignedMessage::new(part, signature)
    }

    fn verify_signed_proposal_part(&self, part: &ProposalPart, signature: &Signature, public_key: &PublicKey) -> bool {
        public_key.verify(&Self::part_sign_bytes(part), signature)
    }

    fn sign_vote_extension(&self, extension: Vec<u8>) -> SignedMessage<ZoneContext, Vec<u8>> {
        let signature = self.privval.key().sign(&extension);
        SignedMessage::new(extension, signature)
    }

    fn verify_signed_vote_extension(&self, extension: &Vec<u8>, signature: &Signature, public_key: &PublicKey) -> bool {
        public_key.verify(extension, signature)
    }
}
