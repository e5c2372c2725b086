//! What the load benches report besides their own figures: one
//! machine-readable `BENCH_JSON {...}` line per measurement (collected by
//! `scripts/bench-all.sh`), the memory of the processes they started
//! (`/proc/<pid>/status`) and the disk their data directories take.
use std::path::Path;

use serde_json::Value;

/// Prints one measurement as a `BENCH_JSON` line: a JSON object on one line.
pub fn emit(figures: &Value) {
    println!("BENCH_JSON {figures}");
}

/// A process's resident memory now and its peak, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mem {
    /// `VmRSS`.
    pub rss: u64,
    /// `VmHWM`, the peak resident set since the process started.
    pub hwm: u64,
}

/// `VmRSS` and `VmHWM` of process `pid` (`"self"` for this one), or `None`
/// when it is gone or not on Linux.
pub fn proc_mem(pid: &str) -> Option<Mem> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    Some(Mem { rss: field("VmRSS:")?, hwm: field("VmHWM:")? })
}

/// [`proc_mem`] of a child by its id.
pub fn child_mem(pid: Option<u32>) -> Option<Mem> {
    proc_mem(&pid?.to_string())
}

/// Bytes `path` takes on disk, like `du -s`: allocated blocks of every file
/// under it, symbolic links not followed. Files that vanish while it walks
/// (RocksDB compactions) are skipped.
pub fn dir_bytes(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else { return 0 };
    if !meta.is_dir() {
        return meta.blocks() * 512;
    }
    let Ok(entries) = std::fs::read_dir(path) else { return 0 };
    entries.flatten().map(|e| dir_bytes(&e.path())).sum()
}

/// Bytes as MiB for the human lines.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Per phase of a height (`kawase_phase_seconds{phase}` of a node's
/// `/metrics`): how many ran and the seconds they took in all.
pub type Phases = std::collections::BTreeMap<String, (u64, f64)>;

/// The phase timings a node's metrics endpoint (`host:port`) reports now;
/// empty if it does not answer.
pub fn scrape_phases(addr: &str) -> Phases {
    crate::http::get(addr, "/metrics").map(|text| parse_phases(&text)).unwrap_or_default()
}

fn parse_phases(text: &str) -> Phases {
    let mut out = Phases::new();
    for line in text.lines() {
        let (sum, rest) = if let Some(r) = line.strip_prefix("kawase_phase_seconds_sum{phase=\"") {
            (true, r)
        } else if let Some(r) = line.strip_prefix("kawase_phase_seconds_count{phase=\"") {
            (false, r)
        } else {
            continue;
        };
        let Some((name, value)) = rest.split_once("\"} ") else { continue };
        let Ok(v) = value.trim().parse::<f64>() else { continue };
        let e = out.entry(name.to_owned()).or_default();
        if sum {
            e.1 = v;
        } else {
            e.0 = v as u64;
        }
    }
    out
}

/// What ran between two scrapes, per phase: `{phase: {count, mean_ms,
/// total_s}}`.
pub fn phase_delta(before: &Phases, after: &Phases) -> Value {
    let mut m = serde_json::Map::new();
    for (name, (n1, s1)) in after {
        let (n0, s0) = before.get(name).copied().unwrap_or_default();
        let (n, s) = (n1.saturating_sub(n0), (s1 - s0).max(0.0));
        let mean_ms = if n == 0 { 0.0 } else { s * 1e3 / n as f64 };
        m.insert(name.clone(), serde_json::json!({ "count": n, "mean_ms": mean_ms, "total_s": s }));
    }
    Value::Object(m)
}

/// A [`phase_delta`] for the human lines: `phase 12.3 ms x40, ...`, or
/// `None` when nothing was scraped.
pub fn phase_line(delta: &Value) -> Option<String> {
    let m = delta.as_object().filter(|m| !m.is_empty())?;
    let parts: Vec<String> =
        m.iter().map(|(k, v)| format!("{k} {:.1} ms x{}", v["mean_ms"].as_f64().unwrap_or(0.0), v["count"])).collect();
    Some(parts.join(", "))
}

#[cfg(test)]
mod tests {
    #[test]
    fn phase_timings_are_read_from_the_metrics_text_and_differenced() {
        let before = super::parse_phases(
            "kawase_phase_seconds_sum{phase=\"finalize\"} 1.5\nkawase_phase_seconds_count{phase=\"finalize\"} 3\n",
        );
        let after = super::parse_phases(
            "# TYPE kawase_phase_seconds summary\nkawase_phase_seconds_sum{phase=\"finalize\"} 2.5\n\
             kawase_phase_seconds_count{phase=\"finalize\"} 5\nkawase_height 9\n",
        );
        assert_eq!(after["finalize"], (5, 2.5));
        let d = super::phase_delta(&before, &after);
        assert_eq!(d["finalize"]["count"], 2);
        assert!((d["finalize"]["mean_ms"].as_f64().expect("mean") - 500.0).abs() < 1e-9);
        assert_eq!(super::phase_line(&d).as_deref(), Some("finalize 500.0 ms x2"));
        assert_eq!(super::phase_line(&serde_json::json!({})), None);
    }
}
