#!/usr/bin/env bash
# Puts each fixed issue-12 defect back, one at a time, runs the regression
# test written for it, and reports whether that test failed (it must: a
# regression test that passes on the defect protects nothing). The source
# is restored after each (git checkout of the one file); refuses to run on
# a tree with uncommitted changes. About two minutes once built.
#
#   scripts/check-regressions-bite.sh
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
    echo "uncommitted changes: commit or stash them first (this script edits and restores files)" >&2
    exit 2
fi
bad=0
# mutate NAME FILE OLD NEW CARGO-TARGET-ARGS... -- TEST-FILTER
mutate() {
    local name=$1 file=$2 old=$3 new=$4 filter=$5
    shift 5
    if ! python3 - "$file" "$old" "$new" <<'PY'
import sys
p, old, new = sys.argv[1:]
s = open(p).read()
if old not in s:
    sys.exit(1)
open(p, 'w').write(s.replace(old, new, 1))
PY
    then
        echo "$name: the fixed code moved (patch does not apply); update this script"
        bad=1
        return
    fi
    local log
    log=$(mktemp)
    if cargo test --workspace --locked "$@" -- "$filter" >"$log" 2>&1; then
        echo "$name: regression test PASSED with the defect back: it does not catch it"
        bad=1
    elif grep -q "FAILED" "$log"; then
        echo "$name: regression test fails with the defect back, as it must"
    else
        echo "$name: build or run error (see $log)"
        bad=1
    fi
    git checkout -q -- "$file"
}
# Defect 1 has two tests; both must catch the same re-introduced defect.
keyed='self.checked.get(tx_hash) == Some(&Checked { account_number, chain: chain_digest(chain_id) })'
hash_only='let _ = (account_number, chain_id); self.checked.contains_key(tx_hash)'
mutate "defect 1 (signature cache keyed by hash only)" node/app/src/exec.rs "$keyed" "$hash_only" \
    a_signature_checked_against_a_mempool_account_number --test sig_cache
mutate "defect 1, in-process race" node/app/src/exec.rs "$keyed" "$hash_only" \
    a_node_whose_mempool_saw_an_uncommitted_registration --test determinism
mutate "defect 2 (a missing block result is corrupt)" node/consensus/src/commit.rs \
    'if store.results(height)?.is_some() {
        return Ok(());
    }' \
    'if store.results(height)?.is_none() {
        return Err(StoreError::Corrupt { what: "results", height }.into());
    }' \
    a_crash_after_the_app_commit_restarts_cleanly --test crash
mutate "defect 4 (close ignores payments in flight)" modules/settlement/src/state.rs \
    '|| state.bz_incoming(address).map_err(storage)? != 0)' ')' \
    a_bz_account_with_a_payment_in_flight_to_it_cannot_be_closed --test interleavings
mutate "defect 5 (a BZ accepts any channel)" modules/settlement/src/app.rs \
    'fz.accepts(hops[0].as_str(), client.as_str(), &chain).map_err(refuse)?;' 'let _ = (&fz, client, chain);' \
    a_bz_refuses_a_channel_over_a_client_of_another_chain --test channel_counterparty
mutate "defect 6 (a tx twice in one proposal)" node/app/src/abci.rs \
    'if !seen.insert(tx.hash) {' 'if !seen.insert(tx.hash) && false {' \
    a_proposal_with_a_tx_twice_is_refused --test duplicates
mutate "defect 6 (a committed tx proposed again)" node/app/src/abci.rs \
    'Ok(true) => return false,' 'Ok(true) => {}' \
    a_proposal_repeating_a_committed_tx_is_refused --test duplicates
mutate "defect 9 (no Argon2 cost cap)" node/client/src/keystore.rs \
    'if p.m_cost > MAX_M_COST_KIB
        || p.t_cost > MAX_T_COST
        || p.p_cost > MAX_P_COST
        || u64::from(p.m_cost) * u64::from(p.t_cost) > MAX_WORK_KIB_PASSES
    {' 'if false {' \
    a_key_file_demanding_gigabytes_of_argon2_memory --lib
exit $bad
