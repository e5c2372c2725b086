//! `kawased tx <module> <action>` and `kawased query <module> <what>`: every
//! message and query of the accounts, token and settlement modules.
use anyhow::{anyhow, bail, Result};
use clap::{Args, Subcommand, ValueEnum};
use kawase_accounts::Role;
use kawase_client::{build_tx, msgs, CosmosAny, TxParams};
use serde_json::Value;

use crate::keys::KeyringOpts;
use crate::node_client::Node;
use crate::output::{print_value, Output};

/// The devnet's FZ (TLS by default: pass its CA with --ca-file).
const DEFAULT_NODE: &str = "https://127.0.0.1:26657";

#[derive(Args, Clone, Debug)]
pub struct NodeOpts {
    /// The node's JSON-RPC address.
    #[arg(long, env = "KAWASE_NODE", default_value = DEFAULT_NODE, global = true)]
    pub node: String,
    #[command(flatten)]
    pub tls: crate::tls::ClientTlsOpts,
}

/// Flags every transaction takes.
#[derive(Args, Clone, Debug)]
pub struct TxOpts {
    /// Key (name in the keystore) that signs.
    #[arg(long)]
    pub from: String,
    /// Chain to sign for; checked against the node's. The node's own when absent.
    #[arg(long, env = "KAWASE_CHAIN_ID")]
    pub chain_id: Option<String>,
    /// Print the signed transaction instead of sending it.
    #[arg(long)]
    pub dry_run: bool,
    /// Account number (only with --dry-run for offline signing; read from the node otherwise).
    #[arg(long, requires = "dry_run")]
    pub account_number: Option<u64>,
    /// Sequence (only with --dry-run; read from the node otherwise).
    #[arg(long, requires = "dry_run")]
    pub sequence: Option<u64>,
    /// Transaction memo.
    #[arg(long, default_value = "")]
    pub note: String,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum RoleArg {
    Customer,
    BusinessOperator,
    Relayer,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Customer => Role::Customer,
            RoleArg::BusinessOperator => Role::BusinessOperator,
            RoleArg::Relayer => Role::Relayer,
        }
    }
}

#[derive(Subcommand)]
pub enum TxCmd {
    /// Accounts module (both zones): banks, customers, freezes.
    #[command(subcommand)]
    Accounts(AccountsTx),
    /// Token module (FZ): issue, transfer, redeem, settle interbank positions.
    #[command(subcommand)]
    Token(TokenTx),
    /// Settlement module: link and charge on the FZ, pay and discharge on the BZ.
    #[command(subcommand)]
    Settlement(SettlementTx),
    /// List every message the chain's modules accept (from the module
    /// registry) and the command that sends it.
    Messages,
}

#[derive(Subcommand)]
pub enum AccountsTx {
    /// Admin: register an issuing bank.
    RegisterBank {
        #[arg(long)]
        bank: String,
        #[arg(long)]
        name: String,
        #[command(flatten)]
        tx: TxOpts,
    },
    /// Bank: register a KYC'd customer or business operator (admin: a relayer).
    RegisterAccount {
        #[arg(long)]
        address: String,
        #[arg(long, value_enum, default_value = "customer")]
        role: RoleArg,
        /// The bank's deposit account the tokens are backed by (customers and businesses).
        #[arg(long, default_value = "")]
        deposit_ref: String,
        #[command(flatten)]
        tx: TxOpts,
    },
    /// Bank or admin: freeze an account.
    #[command(visible_alias = "freeze-account")]
    Freeze {
        address: String,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        tx: TxOpts,
    },
    /// Bank or admin: unfreeze an account.
    #[command(visible_alias = "unfreeze-account")]
    Unfreeze {
        address: String,
        #[command(flatten)]
        tx: TxOpts,
    },
    /// Bank: close an account that holds nothing (final).
    #[command(visible_alias = "close-account")]
    Close {
        address: String,
        #[command(flatten)]
        tx: TxOpts,
    },
}

#[derive(Subcommand)]
pub enum TokenTx {
    /// Bank: issue deposit tokens to its customer against a deposit.
    Issue {
        #[arg(long)]
        to: String,
        #[arg(long)]
        amount: String,
        /// The bank's single-use reference (e.g. the core-banking entry id).
        #[arg(long)]
        reference_id: String,
        #[command(flatten)]
        tx: TxOpts,
    },
    /// Holder (or its bank): redeem tokens back to the linked deposit account.
    Redeem {
        #[arg(long)]
        amount: String,
        #[arg(long)]
        reference_id: String,
        /// Whose tokens (when the bank signs); the signer's own by default.
        #[arg(long)]
        owner: Option<String>,
        #[command(flatten)]
        tx: TxOpts,
    },
    /// Holder: pay another account on the FZ.
    Transfer {
        #[arg(long)]
        to: String,
        #[arg(long)]
        amount: String,
        #[command(flatten)]
        tx: TxOpts,
    },
    /// Creditor bank or admin: record an interbank settlement made off-chain.
    SettlePosition {
        #[arg(long)]
        debtor: String,
        #[arg(long)]
        creditor: String,
        #[arg(long)]
        amount: String,
        #[arg(long)]
        settlement_id: String,
        #[command(flatten)]
        tx: TxOpts,
    },
}

#[derive(Subcommand)]
pub enum SettlementTx {
    /// FZ holder: link the FZ account to a BZ address (creates the BZ account).
    Link {
        /// The FZ's settlement channel to the BZ (e.g. channel-0).
        #[arg(long)]
        channel: String,
        #[arg(long)]
        bz_address: String,
        /// Seconds before an unrelayed packet times out (0: the default).
        #[arg(long, default_value_t = 0)]
        timeout_seconds: u64,
        #[command(flatten)]
        tx: TxOpts,
    },
    /// FZ holder: reserve deposit tokens for the BZ and credit them there.
    Charge {
        #[arg(long)]
        channel: String,
        #[arg(long)]
        amount: String,
        #[arg(long, default_value_t = 0)]
        timeout_seconds: u64,
        #[command(flatten)]
        tx: TxOpts,
    },
    /// BZ holder: pay another BZ account; settles on the FZ before the payee is credited.
    Pay {
        #[arg(long)]
        to: String,
        #[arg(long)]
        amount: String,
        #[arg(long, default_value = "")]
        memo: String,
        #[arg(long, default_value_t = 0)]
        timeout_seconds: u64,
        #[command(flatten)]
        tx: TxOpts,
    },
    /// BZ holder: move a BZ balance back to the linked FZ account.
    Discharge {
        #[arg(long)]
        amount: String,
        #[arg(long, default_value_t = 0)]
        timeout_seconds: u64,
        #[command(flatten)]
        tx: TxOpts,
    },
}

/// Whole yen as digits; anything else is refused before signing.
fn amount(s: &str) -> Result<u128> {
    let ok = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let v = if ok { s.parse::<u128>().ok() } else { None };
    v.ok_or_else(|| anyhow!("amount `{s}`: expected whole yen written as digits, e.g. 100000"))
}

/// Builds the message for a tx command; returns it with the signer's flags.
fn message(cmd: TxCmd, keys: &KeyringOpts) -> Result<(CosmosAny, TxOpts)> {
    let from = |t: &TxOpts| keys.address(&t.from);
    Ok(match cmd {
        TxCmd::Messages => bail!("`tx messages` sends nothing"),
        TxCmd::Accounts(a) => match a {
            AccountsTx::RegisterBank { bank, name, tx } => {
                (msgs::register_bank(from(&tx)?, keys.address(&bank)?, &name), tx)
            }
            AccountsTx::RegisterAccount { address, role, deposit_ref, tx } => {
                (msgs::register_account(from(&tx)?, keys.address(&address)?, role.into(), &deposit_ref), tx)
            }
            AccountsTx::Freeze { address, reason, tx } => {
                (msgs::freeze(from(&tx)?, keys.address(&address)?, &reason), tx)
            }
            AccountsTx::Unfreeze { address, tx } => (msgs::unfreeze(from(&tx)?, keys.address(&address)?), tx),
            AccountsTx::Close { address, tx } => (msgs::close(from(&tx)?, keys.address(&address)?), tx),
        },
        TxCmd::Token(t) => match t {
            TokenTx::Issue { to, amount: a, reference_id, tx } => {
                (msgs::issue(from(&tx)?, keys.address(&to)?, amount(&a)?, &reference_id), tx)
            }
            TokenTx::Redeem { amount: a, reference_id, owner, tx } => {
                let signer = from(&tx)?;
                let owner = owner.as_deref().map(|o| keys.address(o)).transpose()?.unwrap_or(signer);
                (msgs::redeem(signer, owner, amount(&a)?, &reference_id), tx)
            }
            TokenTx::Transfer { to, amount: a, tx } => {
                (msgs::transfer(from(&tx)?, keys.address(&to)?, amount(&a)?), tx)
            }
            TokenTx::SettlePosition { debtor, creditor, amount: a, settlement_id, tx } => (
                msgs::settle_position(
                    from(&tx)?,
                    keys.address(&debtor)?,
                    keys.address(&creditor)?,
                    amount(&a)?,
                    &settlement_id,
                ),
                tx,
            ),
        },
        TxCmd::Settlement(s) => match s {
            SettlementTx::Link { channel, bz_address, timeout_seconds, tx } => {
                (msgs::link(from(&tx)?, &channel, keys.address(&bz_address)?, timeout_seconds), tx)
            }
            SettlementTx::Charge { channel, amount: a, timeout_seconds, tx } => {
                (msgs::charge(from(&tx)?, &channel, amount(&a)?, timeout_seconds), tx)
            }
            SettlementTx::Pay { to, amount: a, memo, timeout_seconds, tx } => {
                (msgs::pay(from(&tx)?, keys.address(&to)?, amount(&a)?, &memo, timeout_seconds), tx)
            }
            SettlementTx::Discharge { amount: a, timeout_seconds, tx } => {
                (msgs::discharge(from(&tx)?, amount(&a)?, timeout_seconds), tx)
            }
        },
    })
}

pub async fn run_tx(cmd: TxCmd, keys: &KeyringOpts, node: &NodeOpts, output: Output) -> Result<()> {
    if let TxCmd::Messages = cmd {
        return crate::txlist::print(output);
    }
    let (msg, opts) = message(cmd, keys)?;
    let key = keys.signer(&opts.from)?;
    let address = key.address();
    let client = Node::new(&node.node, &node.tls.client())?;
    let (chain_id, account_number, sequence) = match (opts.dry_run, opts.account_number, opts.sequence, &opts.chain_id)
    {
        (true, Some(n), Some(s), Some(c)) => (c.clone(), n, s),
        _ => {
            let chain_id = client.check_chain_id(opts.chain_id.as_deref()).await?;
            let (n, s) = client.account(&address.to_string()).await?.ok_or_else(|| {
                anyhow!(
                    "`{}` ({address}) has no account on {chain_id}: a bank must register it first \
                     (`kawased tx accounts register-account`)",
                    opts.from
                )
            })?;
            (chain_id, opts.account_number.unwrap_or(n), opts.sequence.unwrap_or(s))
        }
    };
    let params =
        TxParams { chain_id: chain_id.clone(), account_number, sequence, memo: opts.note.clone(), timeout_height: 0 };
    let tx = build_tx(&key, &params, vec![msg.clone()])?;
    if opts.dry_run {
        let v = serde_json::json!({
            "chain_id": chain_id,
            "signer": address.to_string(),
            "account_number": account_number,
            "sequence": sequence,
            "message": { "type_url": msg.type_url, "value_hex": hex::encode(&msg.value) },
            "tx_bytes_base64": base64_std(&tx),
            "tx_hash": hex::encode_upper(sha2_256(&tx)),
        });
        return print_value(&v, output);
    }
    let done = client.broadcast_commit(tx).await?;
    match output {
        Output::Json => print_value(&serde_json::to_value(&done)?, output),
        Output::Text => {
            println!("committed at height {} (tx {})", done.height, done.hash);
            for e in &done.events {
                let ty = e["type"].as_str().unwrap_or("");
                // Envelope and IBC plumbing; the module's own event says it all.
                if matches!(ty, "message" | "tx" | "send_packet" | "write_acknowledgement") {
                    continue;
                }
                let attrs: Vec<String> = e["attributes"]
                    .as_object()
                    .map(|m| m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect())
                    .unwrap_or_default();
                println!("  {ty}: {}", attrs.join(" "));
            }
            Ok(())
        }
    }
}

fn sha2_256(b: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(b).into()
}

fn base64_std(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

#[derive(Subcommand)]
pub enum QueryCmd {
    /// The chain: id, zone, parameters.
    Chain,
    /// A committed transaction by hash.
    Tx { hash: String },
    /// Accounts module.
    #[command(subcommand)]
    Accounts(AccountsQuery),
    /// Token module (FZ).
    #[command(subcommand)]
    Token(TokenQuery),
    /// Settlement module.
    #[command(subcommand)]
    Settlement(SettlementQuery),
    /// Settlement packets in flight on a channel.
    #[command(subcommand)]
    Ibc(IbcQuery),
}

#[derive(Subcommand)]
pub enum AccountsQuery {
    /// An account: role, bank, status, number and sequence.
    Account { address: String },
    /// The issuing banks.
    Banks,
}

#[derive(Subcommand)]
pub enum TokenQuery {
    /// Free balance of an account.
    Balance { address: String },
    /// A bank's supply and lifetime issued/redeemed.
    Bank { address: String },
    /// Total supply of all banks.
    TotalSupply,
    /// Interbank positions (debtor owes creditor), netted per pair.
    Positions,
}

#[derive(Subcommand)]
pub enum SettlementQuery {
    /// FZ: an account's reserved balance per BZ channel.
    Reserved { address: String },
    /// BZ: an account's balance, held amount, link and bank.
    BzAccount { address: String },
    /// BZ: payments held until the FZ settles them.
    Holds,
    /// FZ: links between FZ accounts and BZ addresses.
    Links,
    /// BZ: total charged in and not discharged.
    BzTotal,
}

#[derive(Subcommand)]
pub enum IbcQuery {
    /// Packets sent on the channel and not yet acknowledged.
    PacketCommitments { channel: String },
    /// Acknowledgements written on the channel.
    PacketAcks { channel: String },
}

pub async fn run_query(cmd: QueryCmd, keys: &KeyringOpts, node: &NodeOpts, output: Output) -> Result<()> {
    let client = Node::new(&node.node, &node.tls.client())?;
    let addr = |a: &str| -> Result<Vec<u8>> { Ok(keys.address(a)?.to_string().into_bytes()) };
    let (path, data): (&str, Vec<u8>) = match cmd {
        QueryCmd::Chain => ("/app/chain", vec![]),
        QueryCmd::Tx { hash } => {
            if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                bail!("transaction hash `{hash}`: expected 64 hex characters");
            }
            ("/tx", hash.into_bytes())
        }
        QueryCmd::Accounts(AccountsQuery::Account { address }) => ("/accounts/account", addr(&address)?),
        QueryCmd::Accounts(AccountsQuery::Banks) => ("/accounts/banks", vec![]),
        QueryCmd::Token(TokenQuery::Balance { address }) => ("/token/balance", addr(&address)?),
        QueryCmd::Token(TokenQuery::Bank { address }) => ("/token/bank", addr(&address)?),
        QueryCmd::Token(TokenQuery::TotalSupply) => ("/token/total_supply", vec![]),
        QueryCmd::Token(TokenQuery::Positions) => ("/token/positions", vec![]),
        QueryCmd::Settlement(SettlementQuery::Reserved { address }) => ("/settlement/reserved", addr(&address)?),
        QueryCmd::Settlement(SettlementQuery::BzAccount { address }) => ("/settlement/bz_account", addr(&address)?),
        QueryCmd::Settlement(SettlementQuery::Holds) => ("/settlement/holds", vec![]),
        QueryCmd::Settlement(SettlementQuery::Links) => ("/settlement/links", vec![]),
        QueryCmd::Settlement(SettlementQuery::BzTotal) => ("/settlement/bz_total", vec![]),
        QueryCmd::Ibc(IbcQuery::PacketCommitments { channel }) => ("/ibc/packet_commitments", channel.into_bytes()),
        QueryCmd::Ibc(IbcQuery::PacketAcks { channel }) => ("/ibc/packet_acks", channel.into_bytes()),
    };
    let v: Value = client.query(path, &data).await?;
    print_value(&v, output)
}
