/// A typed-ish ABCI event: what banks' core systems (BPM adapters) consume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub kind: String,
    pub attributes: Vec<(String, String)>,
}

impl Event {
    pub fn new(kind: impl Into<String>) -> Self {
        Self { kind: kind.into(), attributes: Vec::new() }
    }

    pub fn attr(mut self, key: impl Into<String>, value: impl ToString) -> Self {
        self.attributes.push((key.into(), value.to_string()));
        self
    }
}
