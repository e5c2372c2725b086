//! `kawased tx messages`: the message list comes from the module registry
//! (the one list of modules), and each message is matched to the `tx`
//! command that sends it by name (`/kawase.<module>.v1.Msg<Name>` is
//! `kawased tx <module> <name in kebab case>`). A registered message with
//! no command and no other sender fails the test below, so the CLI cannot
//! silently fall behind the chain.
use anyhow::Result;
use clap::Subcommand;

use crate::output::{print_value, Output};
use crate::txcmd::TxCmd;

/// Messages that `kawased tx` does not send, and what does.
const SENT_ELSEWHERE: &[(&str, &str)] = &[
    // IBC core (clients, connections, channels, packets): the relayer.
    ("/ibc.core.", "kawase-relayer"),
    // Recovering a client is the zone admin's, through the relayer's tool.
    ("/kawase.settlement.v1.MsgRecoverClient", "kawase-relayer recover-client"),
];

/// `Msg<Name>` of module `module` as the `tx` command path, if one exists.
fn command_for(tx: &clap::Command, type_url: &str) -> Option<String> {
    let rest = type_url.strip_prefix("/kawase.")?;
    let (module, name) = rest.split_once(".v1.Msg")?;
    let mut kebab = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            kebab.push('-');
        }
        kebab.push(c.to_ascii_lowercase());
    }
    let group = tx.find_subcommand(module)?;
    group.find_subcommand(&kebab).map(|c| format!("kawased tx {module} {}", c.get_name()))
}

/// Every registered message with the command (or tool) that sends it.
pub fn messages() -> Vec<(&'static str, String, Option<String>)> {
    let tx = TxCmd::augment_subcommands(clap::Command::new("tx"));
    kawase_app::modules::standard()
        .type_urls()
        .into_iter()
        .map(|(module, url)| {
            let by = command_for(&tx, &url)
                .or_else(|| SENT_ELSEWHERE.iter().find(|(p, _)| url.starts_with(p)).map(|(_, tool)| tool.to_string()));
            (module, url, by)
        })
        .collect()
}

pub fn print(output: Output) -> Result<()> {
    let rows = messages();
    match output {
        Output::Json => {
            let v: Vec<_> = rows
                .iter()
                .map(|(m, url, by)| serde_json::json!({ "module": m, "type_url": url, "sent_by": by }))
                .collect();
            print_value(&serde_json::Value::Array(v), output)
        }
        Output::Text => {
            for (m, url, by) in rows {
                println!("{m:<11} {url:<52} {}", by.as_deref().unwrap_or("(no sender)"));
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_registered_message_has_a_cli_command_or_a_named_sender() {
        let rows = super::messages();
        assert!(rows.len() > 20, "the registry lists every module's messages: {}", rows.len());
        let missing: Vec<_> = rows.iter().filter(|(_, _, by)| by.is_none()).map(|(_, u, _)| u.clone()).collect();
        assert!(missing.is_empty(), "messages no command sends: {missing:?}");
        let transfer = rows.iter().find(|(_, u, _)| u == "/kawase.token.v1.MsgTransfer").expect("transfer");
        assert_eq!(transfer.2.as_deref(), Some("kawased tx token transfer"));
        let freeze = rows.iter().find(|(_, u, _)| u == "/kawase.accounts.v1.MsgFreezeAccount").expect("freeze");
        assert_eq!(freeze.2.as_deref(), Some("kawased tx accounts freeze"));
    }
}
