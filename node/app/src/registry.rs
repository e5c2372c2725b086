//! The ordered set of modules a chain runs, and everything the app derives
//! from it: message decoding, genesis, block hooks, invariants, query
//! routing, the "does anyone hold money for this account" question and the
//! CLI's message list. The order is execution order (genesis sections are
//! written, hooks run and type URLs are matched in it), so it is part of
//! consensus: changing it is a chain upgrade.
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use kawase_primitives::{
    Address, BlockHeader, BlockInfo, Holdings, Message, Module, QueryError, StateError, StateRead, StateWrite, Zone,
};

use crate::{Failure, TxError};

/// Modules in execution order.
#[derive(Default)]
pub struct Registry {
    modules: Vec<Box<dyn Module>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.modules.iter().map(|m| m.name())).finish()
    }
}

impl Registry {
    /// No modules (a registry is built with [`Registry::with`]).
    pub fn empty() -> Self {
        Registry::default()
    }

    /// Adds a module after the ones already registered.
    pub fn with(mut self, module: impl Module) -> Self {
        self.modules.push(Box::new(module));
        self
    }

    pub fn into_shared(self) -> Arc<Registry> {
        Arc::new(self)
    }

    pub fn modules(&self) -> impl Iterator<Item = &dyn Module> {
        self.modules.iter().map(|m| m.as_ref())
    }

    pub fn get(&self, name: &str) -> Option<&dyn Module> {
        self.modules().find(|m| m.name() == name)
    }

    /// What must hold for the app to take the registry: unique names,
    /// each module owning its type URLs alone, and a non-empty list of
    /// unique, non-zero error codes per module (its error mapping).
    pub fn validate(&self) -> Result<(), String> {
        let mut names = BTreeSet::new();
        for m in self.modules() {
            let name = m.name();
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                return Err(format!("module name `{name}` must be lowercase letters and `_`"));
            }
            if matches!(name, "app" | "store" | "tx" | "zone" | "params") || !names.insert(name) {
                return Err(format!("module name `{name}` is taken"));
            }
            let codes = m.error_codes();
            let distinct: BTreeSet<u32> = codes.iter().map(|c| c.code).collect();
            if codes.is_empty() || distinct.len() != codes.len() || distinct.contains(&0) {
                return Err(format!("module `{name}`: error codes must be non-empty, unique and non-zero"));
            }
            let urls = m.type_urls();
            if urls.is_empty() {
                return Err(format!("module `{name}` has no messages"));
            }
            for url in urls {
                let owners: Vec<_> = self.modules().filter(|o| o.owns(&url)).map(|o| o.name()).collect();
                if owners != [name] {
                    return Err(format!("type URL `{url}` of `{name}` is owned by {owners:?}"));
                }
            }
        }
        Ok(())
    }

    /// The stateless phase of one message: the first module owning its
    /// type URL decodes and checks it.
    pub fn decode(&self, type_url: &str, value: &[u8]) -> Result<Arc<dyn Message>, Failure> {
        match self.modules().find(|m| m.owns(type_url)) {
            Some(m) => m.decode(type_url, value).map(Arc::from).map_err(Failure::from),
            None => Err(TxError::UnknownMessage(type_url.chars().take(128).collect()).into()),
        }
    }

    /// Every message type URL, with its module, in registry order.
    pub fn type_urls(&self) -> Vec<(&'static str, String)> {
        self.modules().flat_map(|m| m.type_urls().into_iter().map(move |u| (m.name(), u))).collect()
    }

    /// Checks every module's section; refuses a section no module claims.
    pub fn validate_genesis(&self, sections: &BTreeMap<String, serde_json::Value>, zone: Zone) -> Result<(), String> {
        if let Some(unknown) = sections.keys().find(|k| self.get(k).is_none()) {
            return Err(format!("app_state: unknown field `{unknown}` (no module of that name)"));
        }
        for m in self.modules() {
            m.validate_genesis(sections.get(m.name()).unwrap_or(&serde_json::Value::Null), zone)?;
        }
        Ok(())
    }

    /// Writes every module's section, in registry order.
    pub fn init_genesis<S: StateWrite>(
        &self,
        sections: &BTreeMap<String, serde_json::Value>,
        zone: Zone,
        state: &mut S,
    ) -> Result<(), String> {
        for m in self.modules() {
            m.init_genesis(sections.get(m.name()).unwrap_or(&serde_json::Value::Null), zone, &mut *state)?;
        }
        Ok(())
    }

    /// Every module's state as genesis sections (absent when empty), or the
    /// first module's reason why its state has no genesis form.
    pub fn export_genesis<S: StateRead>(
        &self,
        state: &S,
        zone: Zone,
    ) -> Result<BTreeMap<String, serde_json::Value>, String> {
        let mut out = BTreeMap::new();
        for m in self.modules() {
            let v = m.export_genesis(state, zone)?;
            if !(v.is_null() || v.as_object().is_some_and(|o| o.is_empty())) {
                out.insert(m.name().to_owned(), v);
            }
        }
        Ok(out)
    }

    pub fn begin_block<S: StateWrite>(&self, state: &mut S, header: &BlockHeader<'_>) -> Result<(), StateError> {
        self.modules().try_for_each(|m| m.begin_block(&mut *state, header))
    }

    pub fn end_block<S: StateWrite>(&self, state: &mut S, block: &BlockInfo) -> Result<(), StateError> {
        self.modules().try_for_each(|m| m.end_block(&mut *state, block))
    }

    /// Every module's invariants; the first violation, named by module.
    pub fn check_invariants<S: StateRead>(&self, state: &S) -> Result<(), String> {
        self.modules().try_for_each(|m| m.check_invariants(state))
    }

    /// Routes `/<module>/<path>` to the module.
    pub fn query<S: StateRead>(&self, path: &str, data: &[u8], state: &S) -> Result<Vec<u8>, QueryError> {
        let unknown = || QueryError::UnknownPath(path.chars().take(64).collect());
        let (name, rest) = path.strip_prefix('/').and_then(|p| p.split_once('/')).ok_or_else(unknown)?;
        self.get(name).and_then(|m| m.query(rest, data, state)).ok_or_else(unknown)?
    }
}

impl Holdings for Registry {
    fn holds_funds(&self, state: &dyn StateRead, account: &Address) -> Result<bool, StateError> {
        for m in self.modules() {
            if m.holds_funds(state, account)? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use kawase_primitives::{ErrorDoc, Message, Module, QueryError, Rejection, StateRead, StateWrite, Zone};

    use super::Registry;

    /// A module whose name, type URL prefix and error codes a test picks.
    struct Probe(&'static str, &'static str, &'static [ErrorDoc]);

    impl Module for Probe {
        fn name(&self) -> &'static str {
            self.0
        }
        fn type_urls(&self) -> Vec<String> {
            vec![format!("{}Msg", self.1)]
        }
        fn owns(&self, type_url: &str) -> bool {
            type_url.starts_with(self.1)
        }
        fn decode(&self, _: &str, _: &[u8]) -> Result<Box<dyn Message>, Rejection> {
            Err(Rejection { codespace: self.0, code: 1, log: "probe".into() })
        }
        fn error_codes(&self) -> &'static [ErrorDoc] {
            self.2
        }
        fn validate_genesis(&self, _: &serde_json::Value, _: Zone) -> Result<(), String> {
            Ok(())
        }
        fn init_genesis(&self, _: &serde_json::Value, _: Zone, _: &mut dyn StateWrite) -> Result<(), String> {
            Ok(())
        }
        fn export_genesis(&self, _: &dyn StateRead, _: Zone) -> Result<serde_json::Value, String> {
            Ok(serde_json::Value::Null)
        }
        fn check_invariants(&self, _: &dyn StateRead) -> Result<(), String> {
            Ok(())
        }
        fn query(&self, _: &str, _: &[u8], _: &dyn StateRead) -> Option<Result<Vec<u8>, QueryError>> {
            None
        }
    }

    const CODES: &[ErrorDoc] = &[ErrorDoc { code: 1, name: "probe" }];

    #[test]
    fn a_module_without_an_error_mapping_is_refused() {
        let r = Registry::empty().with(Probe("probe", "/p.", &[]));
        assert!(r.validate().expect_err("no codes").contains("error codes"));
        const DUP: &[ErrorDoc] = &[ErrorDoc { code: 1, name: "a" }, ErrorDoc { code: 1, name: "b" }];
        assert!(Registry::empty().with(Probe("probe", "/p.", DUP)).validate().is_err(), "a reused code");
        const ZERO: &[ErrorDoc] = &[ErrorDoc { code: 0, name: "ok is not an error" }];
        assert!(Registry::empty().with(Probe("probe", "/p.", ZERO)).validate().is_err(), "code 0");
    }

    #[test]
    fn two_modules_may_not_share_a_name_or_a_message_type() {
        let twice = Registry::empty().with(Probe("probe", "/p.", CODES)).with(Probe("probe", "/q.", CODES));
        assert!(twice.validate().expect_err("same name").contains("taken"));
        let overlap = Registry::empty().with(Probe("one", "/p.", CODES)).with(Probe("two", "/p.", CODES));
        assert!(overlap.validate().expect_err("same type URL").contains("owned by"));
        let reserved = Registry::empty().with(Probe("tx", "/p.", CODES));
        assert!(reserved.validate().is_err(), "`tx` is the envelope's codespace");
        Registry::empty().with(Probe("one", "/p.", CODES)).with(Probe("two", "/q.", CODES)).validate().expect("valid");
    }

    #[test]
    fn the_standard_registry_decodes_each_message_in_its_own_module_and_refuses_strangers() {
        let r = crate::modules::standard();
        r.validate().expect("the standard registry is valid");
        let names: Vec<_> = r.modules().map(|m| m.name()).collect();
        assert_eq!(names, ["accounts", "token", "settlement", "ibc"]);
        let f = r.decode("/kawase.bank.v1.MsgSend", b"").expect_err("nobody owns it");
        assert_eq!((f.codespace, f.code), ("tx", 7));
        let f = r.decode("/kawase.token.v1.MsgNope", b"").expect_err("token's namespace, unknown name");
        assert_eq!(f.codespace, "token");
    }
}
