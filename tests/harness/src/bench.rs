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
