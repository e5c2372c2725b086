//! `--output text|json` for every CLI answer. Text is `key: value` lines
//! (nested keys joined by `.`), lists of records as aligned tables; JSON is
//! the node's own answer, pretty-printed, for scripts.
use anyhow::Result;
use clap::ValueEnum;
use serde_json::Value;

#[derive(Clone, Copy, Debug, Default, ValueEnum)]
pub enum Output {
    #[default]
    Text,
    Json,
}

/// `--output`/`-o`, accepted anywhere after the command.
#[derive(clap::Args, Clone, Copy, Debug)]
pub struct OutputOpts {
    /// How answers are printed: text for people, json for scripts.
    #[arg(long, short, value_enum, default_value = "text", global = true)]
    pub output: Output,
}

pub fn print_value(v: &Value, output: Output) -> Result<()> {
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(v)?),
        Output::Text => print!("{}", text(v)),
    }
    Ok(())
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&key, x, out);
            }
        }
        Value::Array(a) if a.iter().all(|x| !x.is_object() && !x.is_array()) => {
            out.push((prefix.to_string(), a.iter().map(scalar).collect::<Vec<_>>().join(", ")));
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), x, out);
            }
        }
        other => out.push((prefix.to_string(), scalar(other))),
    }
}

/// Renders an answer as text.
pub fn text(v: &Value) -> String {
    match v {
        Value::Array(rows) if rows.is_empty() => "(none)\n".into(),
        Value::Array(rows) if rows.iter().all(Value::is_object) => table(rows),
        _ => {
            let mut pairs = Vec::new();
            flatten("", v, &mut pairs);
            let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
            pairs.iter().map(|(k, x)| format!("{k:<width$}  {x}\n")).collect()
        }
    }
}

fn table(rows: &[Value]) -> String {
    let flat: Vec<Vec<(String, String)>> = rows
        .iter()
        .map(|r| {
            let mut p = Vec::new();
            flatten("", r, &mut p);
            p
        })
        .collect();
    let mut cols: Vec<String> = Vec::new();
    for r in &flat {
        for (k, _) in r {
            if !cols.contains(k) {
                cols.push(k.clone());
            }
        }
    }
    let cell =
        |r: &Vec<(String, String)>, c: &str| r.iter().find(|(k, _)| k == c).map(|(_, v)| v.clone()).unwrap_or_default();
    let widths: Vec<usize> =
        cols.iter().map(|c| flat.iter().map(|r| cell(r, c).len()).max().unwrap_or(0).max(c.len())).collect();
    let line = |cells: Vec<String>| {
        let s: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        s.join("  ").trim_end().to_string() + "\n"
    };
    let mut out = line(cols.iter().map(|c| c.to_uppercase()).collect());
    for r in &flat {
        out += &line(cols.iter().map(|c| cell(r, c)).collect());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_render_as_key_value_lines_and_lists_as_tables() {
        let v = serde_json::json!({"address": "kawase1x", "amount": "100", "inner": {"a": 1}});
        assert_eq!(text(&v), "address  kawase1x\namount   100\ninner.a  1\n");
        let rows = serde_json::json!([{"name": "a", "n": "1"}, {"name": "bb", "n": "22"}]);
        assert_eq!(text(&rows), "N   NAME\n1   a\n22  bb\n");
        assert_eq!(text(&serde_json::json!([])), "(none)\n");
    }
}
