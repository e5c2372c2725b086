#!/usr/bin/env python3
"""bench-report: the tables and plots of docs/performance.md from the JSON
that scripts/bench-all.sh writes (python3 standard library only).

    scripts/bench-report.py [RUN.json]               # default target/bench-all/run.json
    scripts/bench-report.py BEFORE.json AFTER.json   # before/after columns

Writes the tables between `<!-- bench-all:begin -->` and
`<!-- bench-all:end -->` in docs/performance.md (created if missing), prints
them, and writes docs/perf/tps-by-validators.svg and
docs/perf/tps-by-accounts.svg. The ceiling comes first; every other figure
is also given as a ratio to it (and the zone's to the state machine's), and
the issue's targets get pass/fail per line.
"""

import argparse
import json
import math
import os
import sys

BEGIN = "<!-- bench-all:begin -->"
END = "<!-- bench-all:end -->"
GIB = 1024 ** 3
MIB = 1024 ** 2

DOC_TEMPLATE = """# Performance

`scripts/bench-all.sh` runs every benchmark of the performance work on this
machine, one after the other, and writes the figures below. What it measures:

- **Ceiling**: signature verifications per second with nothing else around
  them (`node/app/benches/ceiling.rs`): ed25519-zebra single and batch (64,
  256), ed25519-dalek `verify_strict`, libsecp256k1 ECDSA, on one thread and
  on all cores. Every other figure is also given as a ratio to the ed25519
  single-verification ceiling on all cores.
- **State machine**: blocks of 5,000 signed transfers through FinalizeBlock +
  Commit on RocksDB, signatures checked (`node/app/benches/finalize_block.rs`),
  with mixed ed25519/secp256k1 senders, ed25519 only and secp256k1 only.
- **State growth**: the same mixed run on a state with 10^4, 10^5 and 10^6
  extra funded accounts (`KAWASE_BENCH_ACCOUNTS`), with the bench process's
  memory (VmRSS, peak VmHWM) and the store's size on disk.
- **Zone**: real `kawased start` validators (1, 2, 4) on loopback, signed
  transfers over JSON-RPC (`node/kawased/benches/zone_load.rs`): committed
  tx/s, submit-to-commit latency, validator memory and disk.
- **Settlement**: an FZ, a BZ and a relayer; BZ payments settled through the FZ
  (`ibc/relayer/benches/settlement_load.rs`).

How to run it (release build; on a quiet machine, every figure is CPU-bound):

    scripts/bench-all.sh                 # everything, state growth up to 10^6 accounts
    QUICK=1 scripts/bench-all.sh         # without the 10^6-account run (5-10 min on 2 cores)
    LABEL=before scripts/bench-all.sh    # -> target/bench-all/before.json
    LABEL=after BEFORE=target/bench-all/before.json scripts/bench-all.sh
    scripts/bench-report.py target/bench-all/before.json target/bench-all/after.json

The JSON (`target/bench-all/<LABEL>.json`) holds the machine (cores, CPU,
date, commit) and every `BENCH_JSON` line the benches printed;
`scripts/bench-report.py` turns one or two of them into the section below.

## Results

""" + BEGIN + "\n" + END + """

## Tuning and chosen defaults

Each default below was chosen from a measurement of this suite (2 cores);
change one, re-run `scripts/bench-all.sh` and compare with `BEFORE=`.

- **ed25519 batch size 256** (`sigverify::BATCH`). The ceiling (2 cores,
  2026-12-03, "after" run): single checks 24.4k/s on one thread, 42.8k/s on
  two; batches of 64 39.3k/s and 75.0k/s; batches of 256 47.9k/s and 84.4k/s
  (2.0x single on all cores). Larger batches gain nothing and lose more work
  when one signature in a batch is bad (the batch is then re-checked one by
  one). The ceiling itself moves by up to 15-30% between runs on this shared
  machine (batches of 64: 56k/s and 75k/s an hour apart), so read single
  figures with that margin and prefer the ratios.
  Batches are split over at most 8 worker threads (`parallel::workers`).
- **ZIP-215 rules (ed25519-zebra) instead of `verify_strict`.** Needed for
  batching at all (batch and single must agree, `tests/sig_rules.rs`), and a
  single zebra check is as fast as dalek's.
- **Decode once** (`TxCache`, 100,000 transactions). A transaction's decode
  (protobuf, every message into its domain action, the key decompressed) is
  reused from CheckTx through ProcessProposal to FinalizeBlock. The profile
  before it: point decompression 8% of a validator's CPU, malloc and memmove
  about 10%.
- **CheckTx beside block execution** (`CheckView` has its own lock). Before,
  a single validator was 35% idle under load: CheckTx waited for the app lock
  while a block executed.
- **Gossip admits transactions in slices of 512** (`CHECK_SLICE`): large
  enough for full signature batches on all cores, small enough that a peer
  found hostile is cut off after one slice.
- **Tried and not kept: combining JSON-RPC submissions.** Concurrent
  `broadcast_tx_*` requests queued into one admission batch so that their
  signatures would be verified in batches. One validator: 4.8-5.7k tx/s with
  it against 5.0-5.6k without, within the noise. The RPC server runs backend
  calls on its fixed pool of 4 threads (a bound on work per client, see
  ARCHITECTURE.md), so at most 4 submissions are ever in flight and batches
  never grew past 2-4 transactions. Batching RPC submissions needs the
  batching before that pool, in the async layer; that is the next step, not
  a bigger pool.
- **Not tuned yet**: `timeout_commit`, the block limits (`max_block_txs`
  20,000, `max_block_bytes` 16 MiB), the relayer's batch size and pipelining,
  and RocksDB's options. Those are the next knobs; this section is where their
  measurements go.
"""


# --------------------------------------------------------------------------
# Reading a run


class Run:
    """One bench-all JSON file, sorted by what the report needs."""

    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            self.doc = json.load(f)
        self.path = path
        self.label = self.doc.get("label") or os.path.splitext(os.path.basename(path))[0]
        self.machine = self.doc.get("machine", {})
        results = self.doc.get("results", [])
        self.ceiling = {}  # name -> {threads: per_sec}
        self.ceiling_labels = {}
        self.state = {}  # senders -> result
        self.growth = {}  # extra accounts -> result
        self.zone = {}  # validators -> result
        self.settlement = {}  # name -> result
        self.disk = {}  # "pruned" / "archive" -> result
        for r in results:
            bench = r.get("bench")
            if bench == "ceiling":
                self.ceiling.setdefault(r["name"], {})[int(r["threads"])] = float(r["per_sec"])
                self.ceiling_labels[r["name"]] = r.get("label", r["name"])
            elif bench == "finalize_block":
                extra = int(r.get("extra_accounts") or 0)
                if r.get("stage") == "growth" or extra > 0:
                    self.growth[extra] = r
                else:
                    self.state[r.get("senders") or r.get("name")] = r
            elif bench == "zone_load":
                self.zone[int(r["validators"])] = r
            elif bench == "settlement_load":
                self.settlement[r.get("name", "settlement")] = r
            elif bench == "disk_growth":
                self.disk[r.get("name", "pruned")] = r
        self.cores = max((t for v in self.ceiling.values() for t in v), default=None)

    def ceiling_ref(self):
        """ed25519-zebra single verifications/s on all cores."""
        v = self.ceiling.get("ed25519_zebra_single", {})
        return v.get(self.cores) if v else None

    def state_ref(self):
        """The state-machine run the zone is read against: ed25519 only (the
        zone load's key type), else mixed. Returns (senders, result)."""
        for key in ("ed25519", "mixed"):
            if key in self.state:
                return key, self.state[key]
        return None, None

    def growth_at(self, accounts):
        return self.growth.get(accounts)

    def settlement_best(self, relayers=1, light=False):
        """The fastest settlement run with `relayers` relayers (light: the
        light-load runs, else the loaded ones)."""
        best = None
        for r in self.settlement.values():
            if (r.get("relayers") or 1) != relayers or bool(r.get("light")) != light:
                continue
            if r.get("payments_per_sec") is not None and (
                best is None or r["payments_per_sec"] > best["payments_per_sec"]
            ):
                best = r
        return best


def num(r, key):
    if r is None:
        return None
    v = r.get(key)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


# --------------------------------------------------------------------------
# Formatting


def f_rate(v):
    return "-" if v is None else f"{v:,.0f}"


def f_ms(v):
    if v is None:
        return "-"
    return f"{v:,.0f} ms" if v >= 10 else f"{v:.1f} ms"


def f_ratio(v):
    if v is None:
        return "-"
    return f"{v:.2f}x" if v >= 0.1 else f"{v:.3f}x"


def f_pct(v):
    return "-" if v is None else f"{100 * v:.0f}%"


def f_bytes(v):
    if v is None:
        return "-"
    if v >= GIB:
        return f"{v / GIB:.2f} GiB"
    return f"{v / MIB:,.0f} MiB" if v >= 10 * MIB else f"{v / MIB:.1f} MiB"


def f_us(v):
    return "-" if v is None else f"{v:.1f} us"


def f_int(v):
    return f"{v:,}" if isinstance(v, int) else "?"


def f_count(v):
    if v is None:
        return "-"
    v = int(v)
    if v >= 10 and math.log10(v).is_integer():
        return f"10^{int(math.log10(v))}"
    return f"{v:,}"


def change(before, after):
    if before is None or after is None or before == 0:
        return "-"
    return f"{100 * (after - before) / before:+.0f}%"


def table(key_header, keys, metrics, runs):
    """A Markdown table: one row per key, one column per metric and run.

    metrics: (header, fn(run, key) -> number or None, formatter). With two
    runs every metric gets a before and an after column, and the first one
    a change column too."""
    header = [key_header]
    two = len(runs) == 2
    for i, (name, _, _) in enumerate(metrics):
        if two:
            header += [f"{name} ({runs[0].label})", f"{name} ({runs[1].label})"]
            if i == 0:
                header.append("change")
        else:
            header.append(name)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for key_label, key in keys:
        row = [key_label]
        for i, (_, fn, fmt) in enumerate(metrics):
            values = [fn(r, key) for r in runs]
            row += [fmt(v) for v in values]
            if two and i == 0:
                row.append(change(values[0], values[1]))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def union_keys(runs, attr):
    keys = set()
    for r in runs:
        keys.update(getattr(r, attr).keys())
    return sorted(keys)


# --------------------------------------------------------------------------
# The sections

CEILING_ORDER = [
    "ed25519_zebra_single",
    "ed25519_zebra_batch64",
    "ed25519_zebra_batch256",
    "ed25519_dalek_verify_strict",
    "secp256k1_ecdsa",
]


def section_machine(runs):
    out = ["### Machine", ""]
    fields = [
        ("label", lambda r: r.label),
        ("date", lambda r: r.machine.get("date", "-")),
        ("commit", lambda r: str(r.machine.get("git_rev", "-"))[:12]),
        ("CPU", lambda r: r.machine.get("cpu", "-")),
        ("cores (nproc)", lambda r: str(r.machine.get("nproc", "-"))),
        ("memory", lambda r: f_bytes(r.machine.get("mem_bytes"))),
        ("rustc", lambda r: r.machine.get("rustc", "-")),
        ("quick (no 10^6 run)", lambda r: "yes" if r.doc.get("quick") else "no"),
        ("failed stages", lambda r: ", ".join(r.doc.get("failed") or []) or "none"),
    ]
    header = [""] + [r.label for r in runs]
    out.append("| " + " | ".join(header) + " |")
    out.append("|" + "---|" * len(header))
    for name, fn in fields:
        out.append("| " + " | ".join([name] + [str(fn(r)) for r in runs]) + " |")
    return out


def section_ceiling(runs):
    names = [n for n in CEILING_ORDER if any(n in r.ceiling for r in runs)]
    names += [n for n in union_keys(runs, "ceiling") if n not in names]
    if not names:
        return ["### Ceiling: signature verifications/s", "", "Not measured."]
    cores = max((r.cores or 1) for r in runs)
    labels = {}
    for r in runs:
        labels.update(r.ceiling_labels)

    def at(threads):
        def fn(r, name):
            v = r.ceiling.get(name, {})
            return v.get(r.cores if threads == "all" else threads)

        return fn

    def scaling(r, name):
        v = r.ceiling.get(name, {})
        return ratio(v.get(r.cores), v.get(1))

    out = [
        "### Ceiling: signature verifications/s",
        "",
        f"Verifications with nothing else around them (`cargo bench --bench ceiling`); all cores = {cores} threads. "
        "The reference for the ratios below is **ed25519-zebra single verification on all cores**.",
        "",
    ]
    out.append(
        table(
            "verification",
            [(f"{labels.get(n, n)} (`{n}`)", n) for n in names],
            [
                ("all cores /s", at("all"), f_rate),
                ("1 thread /s", at(1), f_rate),
                ("scaling", scaling, f_ratio),
            ],
            runs,
        )
    )
    return out


def section_state(runs):
    keys = [k for k in ("mixed", "ed25519", "secp256k1") if any(k in r.state for r in runs)]
    keys += [k for k in union_keys(runs, "state") if k not in keys]
    out = ["### State machine: FinalizeBlock + Commit", ""]
    if not keys:
        return out + ["Not measured."]
    sample = next(r.state[k] for r in runs for k in keys if k in r.state)
    out += [
        f"{f_int(sample.get('txs_per_block'))} signed transfers per block through FinalizeBlock + Commit on RocksDB, "
        f"{f_int(sample.get('accounts'))} accounts, signatures checked (`cargo bench --bench finalize_block`). "
        "Ceiling ratio = tx/s / ed25519 single verifications/s on all cores.",
        "",
    ]
    get = lambda key: lambda r, k: num(r.state.get(k), key)  # noqa: E731
    out.append(
        table(
            "senders",
            [(k, k) for k in keys],
            [
                ("tx/s", get("tx_per_sec"), f_rate),
                ("/ ceiling", lambda r, k: ratio(num(r.state.get(k), "tx_per_sec"), r.ceiling_ref()), f_ratio),
                ("block p50", get("p50_ms"), f_ms),
                ("finalize alone tx/s", get("finalize_tx_per_sec"), f_rate),
                ("signature pass / finalize", get("prepare_share"), f_pct),
                ("RSS", get("rss_bytes"), f_bytes),
            ],
            runs,
        )
    )
    return out


def section_growth(runs):
    keys = union_keys(runs, "growth")
    out = ["### State growth", ""]
    if not keys:
        return out + ["Not measured."]
    out += [
        "The mixed-senders run on a state with N extra funded (idle) accounts (`KAWASE_BENCH_ACCOUNTS=N`); the store "
        "is built by a child process and reopened, so RSS is a node's on a store of that size: VmRSS after the timed "
        "blocks, peak VmHWM since the store was opened; the child's peak (genesis JSON and first commit) is separate.",
        "",
    ]
    base = 10_000

    def g(key):
        return lambda r, k: num(r.growth.get(k), key)

    def vs_base(r, k):
        return ratio(num(r.growth.get(k), "tx_per_sec"), num(r.growth.get(base), "tx_per_sec"))

    out.append(
        table(
            "extra accounts",
            [(f_count(k), k) for k in keys],
            [
                ("tx/s", g("tx_per_sec"), f_rate),
                ("vs 10^4", vs_base, f_pct),
                ("/ ceiling", lambda r, k: ratio(num(r.growth.get(k), "tx_per_sec"), r.ceiling_ref()), f_ratio),
                ("block p50", g("p50_ms"), f_ms),
                ("RSS", g("rss_bytes"), f_bytes),
                ("peak RSS", g("hwm_bytes"), f_bytes),
                ("setup peak", g("setup_hwm_bytes"), f_bytes),
                ("store on disk", g("disk_bytes"), f_bytes),
            ],
            runs,
        )
    )
    return out


def section_disk(runs):
    keys = union_keys(runs, "disk")
    out = ["### Disk growth", ""]
    if not keys:
        return out + ["Not measured."]
    out += [
        "Mixed-senders blocks through FinalizeBlock + Commit until a million transactions (`cargo bench --bench "
        "disk_growth`): the state store's bytes on disk per million transactions over the second half of the run, "
        "with pruning (`keep_recent` versions kept) and without (archive). The node's block store comes on top "
        "(see the zone table's disk).",
        "",
    ]

    def d(key):
        return lambda r, k: num(r.disk.get(k), key)

    out.append(
        table(
            "store",
            [(k, k) for k in keys],
            [
                ("per 10^6 tx", d("bytes_per_million_tx"), f_bytes),
                ("keep_recent", lambda r, k: (r.disk.get(k) or {}).get("keep_recent"), lambda v: "all" if v is None else f_int(v)),
                ("transactions", d("txs"), f_int),
                ("on disk at the end", d("disk_bytes_end"), f_bytes),
                ("tx/s", d("tx_per_sec"), f_rate),
            ],
            runs,
        )
    )
    return out


def section_zone(runs):
    keys = union_keys(runs, "zone")
    out = ["### Zone: validators over JSON-RPC", ""]
    if not keys:
        return out + ["Not measured."]
    sample = next(r.zone[k] for r in runs for k in keys if k in r.zone)
    ref_key = next((r.state_ref()[0] for r in runs if r.state_ref()[0]), None)
    out += [
        f"Real `kawased start` validators on loopback, {sample.get('senders', '?')} senders x "
        f"{sample.get('txs_per_sender', '?')} signed ed25519 transfers via `broadcast_tx_sync`, "
        f"{sample.get('in_flight', '?')} in flight, `timeout_commit` {sample.get('timeout_commit', '?')} "
        f"(`cargo bench --bench zone_load`). Latency is submit to commit. "
        f"The state-machine ratio is against the {ref_key or '?'} state-machine run; RSS is the largest validator's.",
        "",
    ]

    def z(key):
        return lambda r, k: num(r.zone.get(k), key)

    out.append(
        table(
            "validators",
            [(str(k), k) for k in keys],
            [
                ("tx/s", z("tx_per_sec"), f_rate),
                ("/ state machine", lambda r, k: ratio(num(r.zone.get(k), "tx_per_sec"), num(r.state_ref()[1], "tx_per_sec")), f_pct),
                ("/ ceiling", lambda r, k: ratio(num(r.zone.get(k), "tx_per_sec"), r.ceiling_ref()), f_ratio),
                ("p50", z("p50_ms"), f_ms),
                ("p99", z("p99_ms"), f_ms),
                ("block interval", z("block_interval_ms"), f_ms),
                ("RSS", z("rss_bytes"), f_bytes),
                ("peak RSS", z("hwm_bytes"), f_bytes),
                ("disk (all)", z("disk_bytes"), f_bytes),
            ],
            runs,
        )
    )
    phases = ["propose", "process_proposal", "consensus", "store_decided", "finalize", "commit", "results", "recheck"]

    def ph(name):
        return lambda r, k: num(((r.zone.get(k) or {}).get("phases") or {}).get(name), "mean_ms")

    if any((r.zone.get(k) or {}).get("phases") for r in runs for k in keys):
        out += [
            "",
            "Where a height's time goes: node 0's mean per run of each phase during the load "
            "(`kawase_phase_seconds`, docs/operators.md; `consensus` is the height's first round to its decision, "
            "and `timeout_commit` follows `recheck`).",
            "",
        ]
        out.append(table("validators", [(str(k), k) for k in keys], [(p, ph(p), f_ms) for p in phases], runs))
    return out


def section_settlement(runs):
    keys = union_keys(runs, "settlement")
    out = ["### Settlement: BZ payments through the FZ", ""]
    if not keys:
        return out + ["Not measured."]
    out += [
        "An FZ and a BZ (one validator each) and one relayer; BZ payments, 25 per transaction; latency is BZ submit to "
        "FZ settled to BZ payee credited (`cargo bench --bench settlement_load`). RSS is both nodes and the relayer "
        "together.",
        "",
    ]

    def s(key):
        return lambda r, k: num(r.settlement.get(k), key)

    labels = {}
    for r in runs:
        for k, v in r.settlement.items():
            labels[k] = v.get("label", k)
    out.append(
        table(
            "load",
            [(labels.get(k, k), k) for k in keys],
            [
                ("payments/s", s("payments_per_sec"), f_rate),
                ("/ ceiling", lambda r, k: ratio(num(r.settlement.get(k), "payments_per_sec"), r.ceiling_ref()), f_ratio),
                ("p50", s("p50_ms"), f_ms),
                ("p99", s("p99_ms"), f_ms),
                ("RSS", s("rss_bytes"), f_bytes),
                ("disk", s("disk_bytes"), f_bytes),
            ],
            runs,
        )
    )
    return out


# Each target: (text, fn(run) -> (value text, passed: bool or None)).
def t_state(r):
    v = num(r.state.get("mixed"), "tx_per_sec")
    return (f_rate(v) + " tx/s", None if v is None else v >= 30_000)


def t_one_validator(r):
    key, ref = r.state_ref()
    v = ratio(num(r.zone.get(1), "tx_per_sec"), num(ref, "tx_per_sec"))
    if v is None:
        return ("-", None)
    return (f"{f_rate(num(r.zone.get(1), 'tx_per_sec'))} / {f_rate(num(ref, 'tx_per_sec'))} ({key}) = {f_pct(v)}", v >= 0.8)


def t_four_validators(r):
    z = r.zone.get(4)
    tps, p50 = num(z, "tx_per_sec"), num(z, "p50_ms")
    if tps is None or p50 is None:
        return ("-", None)
    return (f"{f_rate(tps)} tx/s, p50 {f_ms(p50)}", tps >= 5_000 and p50 <= 1_000)


def t_payments(r):
    best = r.settlement_best()
    v, p50 = num(best, "payments_per_sec"), num(best, "p50_ms")
    if v is None:
        return ("-", None)
    return (f"{f_rate(v)} payments/s, p50 {f_ms(p50)}", v >= 1_000 and p50 is not None and p50 <= 3_000)


def t_light_latency(r):
    p50 = num(r.settlement_best(light=True), "p50_ms")
    return ("-" if p50 is None else f"p50 {f_ms(p50)}", None if p50 is None else p50 <= 1_500)


def t_two_relayers(r):
    one, two = num(r.settlement_best(), "payments_per_sec"), num(r.settlement_best(relayers=2), "payments_per_sec")
    v = ratio(two, one)
    if v is None:
        return ("-", None)
    return (f"{f_rate(two)} / {f_rate(one)} = {f_pct(v)}", v >= 1.5)


def t_growth(r):
    small, big = num(r.growth.get(10_000), "tx_per_sec"), num(r.growth.get(1_000_000), "tx_per_sec")
    v = ratio(big, small)
    if v is None:
        return ("-", None)
    return (f"{f_rate(big)} / {f_rate(small)} = {f_pct(v)}", v >= 0.7)


def t_rss(r):
    g = r.growth.get(1_000_000)
    peak = num(g, "hwm_bytes")
    if peak is None:
        return ("-", None)
    return (f"peak {f_bytes(peak)} (RSS {f_bytes(num(g, 'rss_bytes'))})", peak < GIB)


TARGETS = [
    ("State machine >= 30,000 tx/s (mixed keys)", t_state),
    ("One validator >= 80% of the state machine", t_one_validator),
    ("4 validators >= 5,000 tx/s with p50 finality <= 1 s", t_four_validators),
    ("BZ payments >= 1,000/s through one relayer, p50 <= 3 s", t_payments),
    ("BZ payment p50 <= 1.5 s under light load", t_light_latency),
    ("Two relayers >= 150% of one", t_two_relayers),
    ("tx/s at 10^6 accounts >= 70% of tx/s at 10^4", t_growth),
    ("RSS at 10^6 accounts < 1 GiB (peak, bench process)", t_rss),
]


def verdict(passed):
    return "not measured" if passed is None else ("pass" if passed else "**FAIL**")


def section_targets(runs):
    out = ["### Targets", ""]
    header = ["target"]
    for r in runs:
        suffix = f" ({r.label})" if len(runs) == 2 else ""
        header += [f"measured{suffix}", f"verdict{suffix}"]
    out.append("| " + " | ".join(header) + " |")
    out.append("|" + "---|" * len(header))
    for text, fn in TARGETS:
        row = [text]
        for r in runs:
            value, passed = fn(r)
            row += [value, verdict(passed)]
        out.append("| " + " | ".join(row) + " |")
    return out


def report(runs, svg_rel):
    parts = []
    title = " vs ".join(r.label for r in runs)
    parts.append(
        [
            f"Generated by `scripts/bench-report.py` from {', '.join('`' + os.path.basename(r.path) + '`' for r in runs)} "
            f"({title}). Do not edit between the markers: the next run rewrites it."
        ]
    )
    for section in (
        section_machine,
        section_ceiling,
        section_targets,
        section_state,
        section_growth,
        section_disk,
        section_zone,
        section_settlement,
    ):
        parts.append(section(runs))
    parts.append(
        [
            "### Plots",
            "",
            f"![tx/s by validator count]({svg_rel}/tps-by-validators.svg)",
            "",
            f"![tx/s by accounts in the state]({svg_rel}/tps-by-accounts.svg)",
        ]
    )
    return "\n\n".join("\n".join(p) for p in parts)


# --------------------------------------------------------------------------
# SVG plots, by hand

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]


def nice_step(span, ticks=5):
    if span <= 0:
        return 1.0
    raw = span / ticks
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def esc(s):
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def tick_label(v):
    if v >= 1_000_000:
        return f"{v / 1_000_000:g}M"
    if v >= 1_000:
        return f"{v / 1_000:g}k"
    return f"{v:g}"


def svg_plot(path, title, xlabel, ylabel, series, xlog=False, xticks=None, hlines=()):
    """series: [(name, [(x, y), ...])]; hlines: [(y, label)]."""
    w, h = 680, 420
    left, right, top, bottom = 80, 30, 50, 70
    pw, ph = w - left - right, h - top - bottom
    points = [p for _, pts in series for p in pts if p[1] is not None]
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{w}" height="{h}" fill="white"/>',
        f'<text x="{w / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">{esc(title)}</text>',
    ]
    if not points:
        out.append(f'<text x="{w / 2}" y="{h / 2}" text-anchor="middle" fill="#666">not measured</text>')
        out.append("</svg>")
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(out) + "\n")
        return

    xs = [p[0] for p in points]
    if xlog:
        # Decades around the points (a point just past a power of ten,
        # such as 10^6 + the customers, does not add a decade).
        lo = math.floor(math.log10(min(xs)) + 0.02)
        hi = math.ceil(math.log10(max(xs)) - 0.02)
        if hi == lo:
            hi += 1
        fx = lambda x: left + pw * (math.log10(x) - lo) / (hi - lo)  # noqa: E731
        xt = [10 ** e for e in range(lo, hi + 1)]
    else:
        xt = xticks or sorted(set(xs))
        lo, hi = min(min(xt), min(xs)), max(max(xt), max(xs))
        pad = (hi - lo) * 0.08 or 0.5
        lo, hi = lo - pad, hi + pad
        fx = lambda x: left + pw * (x - lo) / (hi - lo)  # noqa: E731
    ymax = max([p[1] for p in points] + [y for y, _ in hlines])
    step = nice_step(ymax * 1.1)
    ytop = step * math.ceil(ymax * 1.1 / step)
    fy = lambda y: top + ph * (1 - y / ytop)  # noqa: E731

    # Grid and axes.
    y = 0.0
    while y <= ytop + step / 2:
        py = fy(y)
        out.append(f'<line x1="{left}" y1="{py:.1f}" x2="{left + pw}" y2="{py:.1f}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{left - 8}" y="{py + 4:.1f}" text-anchor="end">{tick_label(y)}</text>')
        y += step
    for x in xt:
        px = fx(x)
        out.append(f'<line x1="{px:.1f}" y1="{top + ph}" x2="{px:.1f}" y2="{top + ph + 5}" stroke="black"/>')
        label = f"10^{int(round(math.log10(x)))}" if xlog else tick_label(x)
        out.append(f'<text x="{px:.1f}" y="{top + ph + 20}" text-anchor="middle">{esc(label)}</text>')
    out.append(f'<line x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}" stroke="black"/>')
    out.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + ph}" stroke="black"/>')
    out.append(f'<text x="{left + pw / 2}" y="{h - 22}" text-anchor="middle">{esc(xlabel)}</text>')
    out.append(
        f'<text x="20" y="{top + ph / 2}" text-anchor="middle" transform="rotate(-90 20 {top + ph / 2})">{esc(ylabel)}</text>'
    )
    for yv, label in hlines:
        py = fy(yv)
        out.append(
            f'<line x1="{left}" y1="{py:.1f}" x2="{left + pw}" y2="{py:.1f}" stroke="#888" stroke-dasharray="6 4"/>'
        )
        out.append(f'<text x="{left + 6}" y="{py - 5:.1f}" fill="#555">{esc(label)}</text>')

    # Series: points joined by lines, values next to the points: above the
    # highest point at an x, below the others.
    top_at = {}
    for _, pts in series:
        for x, y in pts:
            if y is not None:
                top_at[x] = max(top_at.get(x, y), y)
    for i, (name, pts) in enumerate(series):
        color = COLORS[i % len(COLORS)]
        pts = sorted(p for p in pts if p[1] is not None)
        if not pts:
            continue
        coords = " ".join(f"{fx(x):.1f},{fy(y):.1f}" for x, y in pts)
        out.append(f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="2"/>')
        for x, y in pts:
            out.append(f'<circle cx="{fx(x):.1f}" cy="{fy(y):.1f}" r="4" fill="{color}"/>')
            dy = -9 if y >= top_at[x] else 18
            out.append(
                f'<text x="{fx(x):.1f}" y="{fy(y) + dy:.1f}" text-anchor="middle" fill="{color}">{f_rate(y)}</text>'
            )
    if len(series) > 1:
        for i, (name, _) in enumerate(series):
            color = COLORS[i % len(COLORS)]
            ly = top + 8 + 18 * i
            out.append(f'<line x1="{left + 12}" y1="{ly}" x2="{left + 36}" y2="{ly}" stroke="{color}" stroke-width="2"/>')
            out.append(f'<text x="{left + 42}" y="{ly + 4}">{esc(name)}</text>')
    out.append("</svg>")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")


def write_plots(runs, svg_dir):
    os.makedirs(svg_dir, exist_ok=True)
    series = [(r.label, [(k, num(v, "tx_per_sec")) for k, v in r.zone.items()]) for r in runs]
    svg_plot(
        os.path.join(svg_dir, "tps-by-validators.svg"),
        "Zone throughput by validator count",
        "validators",
        "committed tx/s",
        series,
        xticks=sorted({k for r in runs for k in r.zone}),
        hlines=[(5_000, "target at 4 validators: 5,000 tx/s")],
    )
    series = [
        (r.label, [(int(v.get("accounts") or k), num(v, "tx_per_sec")) for k, v in r.growth.items()]) for r in runs
    ]
    svg_plot(
        os.path.join(svg_dir, "tps-by-accounts.svg"),
        "State machine throughput by accounts in the state",
        "funded accounts in the state (log scale)",
        "transfers/s (FinalizeBlock + Commit)",
        series,
        xlog=True,
    )


# --------------------------------------------------------------------------


def write_doc(doc_path, block):
    if os.path.exists(doc_path):
        with open(doc_path, encoding="utf-8") as f:
            text = f.read()
    else:
        os.makedirs(os.path.dirname(doc_path) or ".", exist_ok=True)
        text = DOC_TEMPLATE
    if BEGIN in text and END in text and text.index(BEGIN) < text.index(END):
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        text = head + BEGIN + "\n" + block + "\n" + END + tail
    else:
        text = text.rstrip("\n") + "\n\n## Results\n\n" + BEGIN + "\n" + block + "\n" + END + "\n"
    with open(doc_path, "w", encoding="utf-8") as f:
        f.write(text)


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="*", help="one JSON (a run) or two (before, after)")
    p.add_argument("--doc", default=os.path.join(root, "docs", "performance.md"))
    p.add_argument("--svg-dir", default=os.path.join(root, "docs", "perf"))
    args = p.parse_args()
    paths = args.runs or [os.path.join(root, "target", "bench-all", "run.json")]
    if len(paths) > 2:
        p.error("one JSON file, or two (before, after)")
    runs = [Run(path) for path in paths]
    if len(runs) == 2 and runs[0].label == runs[1].label:
        runs[0].label, runs[1].label = "before", "after"
    svg_rel = os.path.relpath(args.svg_dir, os.path.dirname(os.path.abspath(args.doc)))
    block = report(runs, svg_rel)
    write_plots(runs, args.svg_dir)
    write_doc(args.doc, block)
    print(block)
    print(f"\nwrote {args.doc} and {args.svg_dir}/tps-by-{{validators,accounts}}.svg", file=sys.stderr)


if __name__ == "__main__":
    main()
