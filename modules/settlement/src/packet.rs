//! Packet data of the settlement channel (`kawase.settlement.v1`),
//! protobuf-encoded. FZ -> BZ: link, charge. BZ -> FZ: payment, discharge.
use kawase_primitives::{Address, Amount};
use prost::Message;

use crate::Error;

#[derive(Clone, PartialEq, prost::Message)]
pub struct Link {
    /// The KYC'd FZ account (bech32).
    #[prost(string, tag = "1")]
    pub fz_address: String,
    /// Its bank.
    #[prost(string, tag = "2")]
    pub bank: String,
    /// The BZ address the holder chose.
    #[prost(string, tag = "3")]
    pub bz_address: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Charge {
    #[prost(string, tag = "1")]
    pub fz_address: String,
    #[prost(string, tag = "2")]
    pub bz_address: String,
    #[prost(string, tag = "3")]
    pub amount: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Payment {
    #[prost(string, tag = "1")]
    pub from_fz: String,
    #[prost(string, tag = "2")]
    pub to_fz: String,
    #[prost(string, tag = "3")]
    pub from_bz: String,
    #[prost(string, tag = "4")]
    pub to_bz: String,
    #[prost(string, tag = "5")]
    pub amount: String,
    #[prost(string, tag = "6")]
    pub memo: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Discharge {
    #[prost(string, tag = "1")]
    pub fz_address: String,
    #[prost(string, tag = "2")]
    pub bz_address: String,
    #[prost(string, tag = "3")]
    pub amount: String,
}

/// `kawase.settlement.v1.PacketData`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PacketData {
    #[prost(oneof = "Kind", tags = "1, 2, 3, 4")]
    pub kind: Option<Kind>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Kind {
    #[prost(message, tag = "1")]
    Link(Link),
    #[prost(message, tag = "2")]
    Charge(Charge),
    #[prost(message, tag = "3")]
    Payment(Payment),
    #[prost(message, tag = "4")]
    Discharge(Discharge),
}

/// Packet data after validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Instruction {
    Link { fz: Address, bank: Address, bz: Address },
    Charge { fz: Address, bz: Address, amount: Amount },
    Payment { from_fz: Address, to_fz: Address, from_bz: Address, to_bz: Address, amount: Amount, memo: String },
    Discharge { fz: Address, bz: Address, amount: Amount },
}

fn addr(field: &'static str, s: &str) -> Result<Address, Error> {
    s.parse::<Address>().map_err(|e| Error::MalformedPacket(format!("{field}: {e}")))
}

fn amount(s: &str) -> Result<Amount, Error> {
    match s.parse::<Amount>() {
        Ok(a) if a.is_zero() => Err(Error::MalformedPacket("amount: zero".into())),
        Ok(a) => Ok(a),
        Err(e) => Err(Error::MalformedPacket(format!("amount: {e}"))),
    }
}

impl Instruction {
    pub fn decode(bytes: &[u8]) -> Result<Instruction, Error> {
        let data = PacketData::decode(bytes).map_err(|e| Error::MalformedPacket(e.to_string()))?;
        Ok(match data.kind.ok_or_else(|| Error::MalformedPacket("empty packet".into()))? {
            Kind::Link(l) => Instruction::Link {
                fz: addr("fz_address", &l.fz_address)?,
                bank: addr("bank", &l.bank)?,
                bz: addr("bz_address", &l.bz_address)?,
            },
            Kind::Charge(c) => Instruction::Charge {
                fz: addr("fz_address", &c.fz_address)?,
                bz: addr("bz_address", &c.bz_address)?,
                amount: amount(&c.amount)?,
            },
            Kind::Payment(p) => Instruction::Payment {
                from_fz: addr("from_fz", &p.from_fz)?,
                to_fz: addr("to_fz", &p.to_fz)?,
                from_bz: addr("from_bz", &p.from_bz)?,
                to_bz: addr("to_bz", &p.to_bz)?,
                amount: amount(&p.amount)?,
                memo: p.memo,
            },
            Kind::Discharge(d) => Instruction::Discharge {
                fz: addr("fz_address", &d.fz_address)?,
                bz: addr("bz_address", &d.bz_address)?,
                amount: amount(&d.amount)?,
            },
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let kind = match self {
            Instruction::Link { fz, bank, bz } => {
                Kind::Link(Link { fz_address: fz.to_string(), bank: bank.to_string(), bz_address: bz.to_string() })
            }
            Instruction::Charge { fz, bz, amount } => Kind::Charge(Charge {
                fz_address: fz.to_string(),
                bz_address: bz.to_string(),
                amount: amount.to_string(),
            }),
            Instruction::Payment { from_fz, to_fz, from_bz, to_bz, amount, memo } => Kind::Payment(Payment {
                from_fz: from_fz.to_string(),
                to_fz: to_fz.to_string(),
                from_bz: from_bz.to_string(),
                to_bz: to_bz.to_string(),
                amount: amount.to_string(),
                memo: memo.clone(),
            }),
            Instruction::Discharge { fz, bz, amount } => Kind::Discharge(Discharge {
                fz_address: fz.to_string(),
                bz_address: bz.to_string(),
                amount: amount.to_string(),
            }),
        };
        PacketData { kind: Some(kind) }.encode_to_vec()
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Instruction::Link { .. } => "link",
            Instruction::Charge { .. } => "charge",
            Instruction::Payment { .. } => "payment",
            Instruction::Discharge { .. } => "discharge",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instructions_round_trip_and_garbage_is_refused() {
        let (a, b, c, d) = (Address([1; 20]), Address([2; 20]), Address([3; 20]), Address([4; 20]));
        for i in [
            Instruction::Link { fz: a, bank: b, bz: c },
            Instruction::Charge { fz: a, bz: c, amount: Amount::MAX },
            Instruction::Payment {
                from_fz: a,
                to_fz: b,
                from_bz: c,
                to_bz: d,
                amount: Amount::new(5),
                memo: "inv-1".into(),
            },
            Instruction::Discharge { fz: a, bz: c, amount: Amount::new(1) },
        ] {
            assert_eq!(Instruction::decode(&i.encode()), Ok(i));
        }
        assert!(Instruction::decode(b"\xff\xff").is_err());
        assert!(Instruction::decode(&PacketData { kind: None }.encode_to_vec()).is_err());
        let zero = PacketData {
            kind: Some(Kind::Charge(Charge {
                fz_address: a.to_string(),
                bz_address: c.to_string(),
                amount: "0".into(),
            })),
        };
        assert!(Instruction::decode(&zero.encode_to_vec()).is_err());
    }
}
