use kawase_primitives::{Address, StateRead, StateReadTyped, StateWrite, StateWriteTyped};

use crate::{state_key, Error};

/// What an account may do on the zone.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize, prost::Enumeration,
)]
#[serde(rename_all = "snake_case")]
#[repr(i32)]
pub enum Role {
    Unspecified = 0,
    /// Registers banks and relayers; may freeze anyone and settle positions.
    NetworkAdmin = 1,
    /// Issues and redeems deposit tokens for its own customers.
    IssuingBank = 2,
    /// A business running a BZ; holds tokens like a customer.
    BusinessOperator = 3,
    /// Submits IBC packets; holds no money.
    Relayer = 4,
    /// A KYC'd customer of one bank.
    Customer = 5,
}

impl Role {
    /// Roles whose accounts hold deposit tokens (always through one bank).
    pub fn holds_tokens(self) -> bool {
        matches!(self, Role::Customer | Role::BusinessOperator)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Unspecified => "unspecified",
            Role::NetworkAdmin => "network_admin",
            Role::IssuingBank => "issuing_bank",
            Role::BusinessOperator => "business_operator",
            Role::Relayer => "relayer",
            Role::Customer => "customer",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, prost::Enumeration)]
#[serde(rename_all = "snake_case")]
#[repr(i32)]
pub enum Status {
    Unspecified = 0,
    Active = 1,
    Frozen = 2,
    /// Terminal; the address cannot be registered again.
    Closed = 3,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Unspecified => "unspecified",
            Status::Active => "active",
            Status::Frozen => "frozen",
            Status::Closed => "closed",
        }
    }
}

/// Stored record of an account (`kawase.accounts.v1.Account`).
#[derive(Clone, PartialEq, prost::Message)]
struct AccountRecord {
    #[prost(bytes = "vec", tag = "1")]
    address: Vec<u8>,
    #[prost(uint64, tag = "2")]
    number: u64,
    #[prost(enumeration = "Role", tag = "3")]
    role: i32,
    #[prost(enumeration = "Status", tag = "4")]
    status: i32,
    #[prost(bytes = "vec", tag = "5")]
    bank: Vec<u8>,
    #[prost(string, tag = "6")]
    deposit_account_ref: String,
    #[prost(uint64, tag = "7")]
    sequence: u64,
    #[prost(string, tag = "8")]
    name: String,
}

/// An account as the state machine sees it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Account {
    pub address: Address,
    /// Assigned in registration order; part of every sign doc.
    pub number: u64,
    pub role: Role,
    pub status: Status,
    /// The bank that did KYC and holds the linked deposit account (for
    /// banks, the bank itself; none for the admin and relayers).
    pub bank: Option<Address>,
    /// Reference of the linked deposit account in the bank's core system.
    pub deposit_account_ref: String,
    /// Next expected transaction sequence.
    pub sequence: u64,
    /// Display name (banks).
    pub name: String,
}

impl Account {
    fn to_record(&self) -> AccountRecord {
        AccountRecord {
            address: self.address.0.to_vec(),
            number: self.number,
            role: self.role as i32,
            status: self.status as i32,
            bank: self.bank.map(|b| b.0.to_vec()).unwrap_or_default(),
            deposit_account_ref: self.deposit_account_ref.clone(),
            sequence: self.sequence,
            name: self.name.clone(),
        }
    }

    fn from_record(r: AccountRecord) -> Result<Self, Error> {
        let corrupt =
            |what: &str| Error::Storage(kawase_primitives::StateError(format!("corrupt account record: {what}")));
        Ok(Account {
            address: Address::from_slice(&r.address).map_err(|_| corrupt("address"))?,
            number: r.number,
            role: Role::try_from(r.role).map_err(|_| corrupt("role"))?,
            status: Status::try_from(r.status).map_err(|_| corrupt("status"))?,
            bank: if r.bank.is_empty() {
                None
            } else {
                Some(Address::from_slice(&r.bank).map_err(|_| corrupt("bank"))?)
            },
            deposit_account_ref: r.deposit_account_ref,
            sequence: r.sequence,
            name: r.name,
        })
    }

    /// Fails unless the account may act (sign, send, receive).
    pub fn ensure_active(&self) -> Result<(), Error> {
        match self.status {
            Status::Active => Ok(()),
            Status::Frozen => Err(Error::AccountFrozen(self.address)),
            Status::Closed => Err(Error::AccountClosed(self.address)),
            Status::Unspecified => Err(Error::UnknownAccount(self.address)),
        }
    }
}

/// Reads of the accounts module's state, for any state view.
pub trait StateReadExt: StateRead {
    fn account(&self, address: &Address) -> Result<Option<Account>, Error> {
        match self.get_proto::<AccountRecord>(&state_key::account(address))? {
            None => Ok(None),
            Some(r) => Account::from_record(r).map(Some),
        }
    }

    /// The account, which must exist.
    fn existing_account(&self, address: &Address) -> Result<Account, Error> {
        self.account(address)?.ok_or(Error::UnknownAccount(*address))
    }

    /// The account, which must exist and be active.
    fn active_account(&self, address: &Address) -> Result<Account, Error> {
        let a = self.existing_account(address)?;
        a.ensure_active()?;
        Ok(a)
    }

    /// An active account that may hold tokens, with its bank.
    fn active_holder(&self, address: &Address) -> Result<(Account, Address), Error> {
        let a = self.active_account(address)?;
        match (a.role.holds_tokens(), a.bank) {
            (true, Some(bank)) => Ok((a, bank)),
            _ => Err(Error::InvalidRole(format!(
                "{} is a {} and cannot hold deposit tokens",
                a.address,
                a.role.as_str()
            ))),
        }
    }

    /// The signer, which must be an active issuing bank.
    fn active_bank(&self, address: &Address) -> Result<Account, Error> {
        let a = self.existing_account(address)?;
        if a.role != Role::IssuingBank {
            return Err(Error::Unauthorized(format!("{address} is not an issuing bank")));
        }
        a.ensure_active()?;
        Ok(a)
    }

    fn admin(&self) -> Result<Option<Address>, Error> {
        match self.get_raw(state_key::admin())? {
            None => Ok(None),
            Some(b) => Address::from_slice(&b)
                .map(Some)
                .map_err(|_| Error::Storage(kawase_primitives::StateError("corrupt admin".into()))),
        }
    }

    fn is_admin(&self, address: &Address) -> Result<bool, Error> {
        Ok(self.admin()?.as_ref() == Some(address))
    }

    fn banks(&self) -> Result<Vec<Account>, Error> {
        let mut out = Vec::new();
        for (k, _) in self.prefix_raw(state_key::bank_index_prefix())? {
            let hex = std::str::from_utf8(&k[state_key::bank_index_prefix().len()..]).unwrap_or_default();
            let addr = Address::from_hex(hex)
                .map_err(|_| Error::Storage(kawase_primitives::StateError("corrupt bank index".into())))?;
            out.push(self.existing_account(&addr)?);
        }
        Ok(out)
    }

    /// Every account, in address order (queries, invariant checks).
    fn all_accounts(&self) -> Result<Vec<Account>, Error> {
        let mut out = Vec::new();
        for (_, v) in self.prefix_raw(state_key::accounts_prefix())? {
            let r = <AccountRecord as prost::Message>::decode(v.as_slice())
                .map_err(|e| Error::Storage(kawase_primitives::StateError(format!("corrupt account: {e}"))))?;
            out.push(Account::from_record(r)?);
        }
        Ok(out)
    }
}

impl<T: StateRead + ?Sized> StateReadExt for T {}

pub trait StateWriteExt: StateWrite {
    fn put_account(&mut self, account: &Account) {
        self.put_proto(state_key::account(&account.address), &account.to_record());
        if account.role == Role::IssuingBank {
            // A marker byte, not an empty value: ICS-23 cannot prove a key
            // whose value is empty, and an absence proof that needs it as
            // a neighbour would fail (IBC timeouts rest on those).
            self.put_raw(state_key::bank_index(&account.address), vec![1]);
        }
    }

    fn set_admin(&mut self, admin: &Address) {
        self.put_raw(state_key::admin().to_vec(), admin.0.to_vec());
    }

    /// Registers a new account with the next account number.
    fn create_account(
        &mut self,
        address: Address,
        role: Role,
        bank: Option<Address>,
        deposit_account_ref: String,
        name: String,
    ) -> Result<Account, Error> {
        if self.account(&address)?.is_some() {
            return Err(Error::AlreadyRegistered(address));
        }
        let number = self.get_u64(state_key::next_account_number())?;
        let next = number
            .checked_add(1)
            .ok_or_else(|| Error::Storage(kawase_primitives::StateError("account numbers exhausted".into())))?;
        self.put_u64(state_key::next_account_number().to_vec(), next);
        let account =
            Account { address, number, role, status: Status::Active, bank, deposit_account_ref, sequence: 0, name };
        self.put_account(&account);
        Ok(account)
    }

    /// Consumes the signer's sequence number (called once per delivered tx).
    fn bump_sequence(&mut self, address: &Address) -> Result<(), Error> {
        let mut a = self.existing_account(address)?;
        a.sequence = a
            .sequence
            .checked_add(1)
            .ok_or_else(|| Error::Storage(kawase_primitives::StateError("sequence exhausted".into())))?;
        self.put_account(&a);
        Ok(())
    }
}

impl<T: StateWrite + ?Sized> StateWriteExt for T {}
