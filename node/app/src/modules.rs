//! The modules of a Kawase zone: the one list. Adding a module is one crate
//! and one line here (see ARCHITECTURE.md, "Adding a module").
use std::sync::{Arc, LazyLock};

use crate::registry::Registry;

/// The modules of a zone, in execution order.
pub fn registry() -> Registry {
    Registry::empty()
        .with(kawase_accounts::Accounts)
        .with(kawase_token::Token)
        .with(kawase_settlement::Settlement)
        .with(kawase_ibc::Ibc::with_apps(vec![Box::new(kawase_settlement::SettlementPort)]))
}

static STANDARD: LazyLock<Arc<Registry>> = LazyLock::new(|| registry().into_shared());

/// The standard registry, shared.
pub fn standard() -> Arc<Registry> {
    STANDARD.clone()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_standard_registry_is_valid() {
        super::standard().validate().expect("valid");
    }
}
