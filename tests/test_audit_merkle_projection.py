"""The Merkle projection over a real log: tree == chain, rebuilds, signed heads, the CLI, both verifiers."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from clients import TS_DIR
from conftest import run_lokilog, subprocess_env
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from projection_helpers import views
from strategies import payloads

from eventlog import FileEventLog, NewEvent
from projections.audit import AuditProjection, AuditSettings
from projections.audit.entry import Selection
from projections.audit.files import audit_dir, chain_files, iter_lines
from projections.audit.merkle import MerkleProjection, NodeStore, merkle_dir
from projections.audit.merkle.tree import leaf_hash, root_of, verify_consistency, verify_inclusion
from projections.engine import catch_up, rebuild

event_lists = st.lists(st.tuples(st.sampled_from(["task", "metric", "session", "audit"]), payloads), min_size=1, max_size=25)


def emit(loki: Path, events) -> None:
    with FileEventLog(loki) as log:
        log.append_many([NewEvent(type=t, source="runner", payload=p) for t, p in events])


def chain_leaves(loki: Path, settings: AuditSettings | None = None) -> list[bytes]:
    catch_up(loki, AuditProjection(settings or AuditSettings()))
    return [leaf_hash(line) for line in iter_lines(chain_files(audit_dir(loki)))]


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(event_lists, min_size=1, max_size=3), data=st.data())
def test_the_tree_is_the_chain_and_every_proof_verifies(tmp_path_factory, batches, data):
    loki = tmp_path_factory.mktemp("m") / ".loki"
    for batch in batches:  # incremental catch-ups, each from the last snapshot
        emit(loki, batch)
        state = catch_up(loki, MerkleProjection(AuditSettings())).state
    leaves = chain_leaves(loki)
    assert state.size == len(leaves) and state.root() == root_of(leaves)
    with NodeStore(merkle_dir(loki)) as store:
        assert store.size == len(leaves) and store.root() == state.root()
        index = data.draw(st.integers(0, len(leaves) - 1), label="index")
        size = data.draw(st.integers(index + 1, len(leaves)), label="size")
        verify_inclusion(index, size, leaves[index], store.inclusion(index, size), root_of(leaves[:size]))
        old = data.draw(st.integers(0, len(leaves)), label="old")
        verify_consistency(old, len(leaves), root_of(leaves[:old]), store.root(), store.consistency(old))


def test_a_rebuild_gives_the_same_tree_and_proofs_byte_for_byte(loki):
    emit(loki, [("task", {"action": "created", "n": i}) for i in range(37)])
    catch_up(loki, MerkleProjection(AuditSettings()))
    emit(loki, [("metric", {"value": i}) for i in range(20)])
    first = catch_up(loki, MerkleProjection(AuditSettings())).state
    before = views(loki, "audit/merkle")
    with NodeStore(merkle_dir(loki)) as store:
        proofs = [store.inclusion(i) for i in range(store.size)] + [store.consistency(m) for m in range(store.size)]
    snapshot = (loki / "projections" / "audit-merkle" / "snapshot.json").read_bytes()
    shutil.rmtree(merkle_dir(loki))
    rebuilt = rebuild(loki, [MerkleProjection(AuditSettings())])[0].state
    assert views(loki, "audit/merkle") == before
    assert (loki / "projections" / "audit-merkle" / "snapshot.json").read_bytes() == snapshot
    assert (rebuilt.size, rebuilt.root(), rebuilt.frontier) == (first.size, first.root(), first.frontier)
    rebuild(loki, [MerkleProjection(AuditSettings())])  # over the existing store: nothing changes
    assert views(loki, "audit/merkle") == before
    with NodeStore(merkle_dir(loki)) as store:
        assert [store.inclusion(i) for i in range(store.size)] + [store.consistency(m) for m in range(store.size)] == proofs


def test_the_selection_decides_the_leaves(loki):
    emit(loki, [("task", {"n": 1}), ("metric", {"n": 2}), ("task", {"n": 3})])
    chosen = AuditSettings(selection=Selection(["task"]))
    state = catch_up(loki, MerkleProjection(chosen)).state
    assert state.size == 2 and state.root() == root_of(chain_leaves(loki, chosen))
    with NodeStore(merkle_dir(loki)) as store:
        assert [store.index_of(s) for s in (1, 2, 3)] == [0, None, 1]


def rewrite_event(loki: Path, old: bytes, new: bytes) -> None:
    """Change an event in the log in place (same length), as someone rewriting history would."""
    segment = sorted((loki / "events" / "log").glob("*.jsonl"))[0]
    data = segment.read_bytes()
    assert data.count(old) == 1 and len(old) == len(new)
    segment.write_bytes(data.replace(old, new))


def test_a_rewritten_log_rebuilds_the_store_to_the_new_tree(loki):
    emit(loki, [("task", {"n": i}) for i in range(10)])
    catch_up(loki, MerkleProjection(AuditSettings()))
    rewrite_event(loki, b'"n":3}', b'"n":8}')
    state = rebuild(loki, [AuditProjection(AuditSettings()), MerkleProjection(AuditSettings())])[1].state
    with NodeStore(merkle_dir(loki)) as store:
        assert store.root() == state.root() == root_of(chain_leaves(loki))


# ---------------------------------------------------------------------- the CLI, end to end

@pytest.fixture
def key_env(tmp_path, monkeypatch):
    path = tmp_path / "keys" / "sth.pem"
    monkeypatch.setenv("LOKI_AUDIT_STH_KEY", str(path))
    return path


def test_an_auditor_verifies_one_entry_and_catches_a_rewritten_chain(cli, loki, key_env, tmp_path):
    pytest.importorskip("cryptography")
    emit(loki, [("task", {"action": "completed", "n": i, "agent_id": f"agent-{i % 3}"}) for i in range(12)])
    signed = cli("audit", "sth", "--json")
    assert signed.exit_code == 0, signed.output
    old_head = json.loads(signed.stdout)
    assert old_head["tree_size"] == 12 and key_env.stat().st_mode & 0o777 == 0o600
    assert key_env.parent.stat().st_mode & 0o777 == 0o700 and audit_dir(loki) not in key_env.parents
    again = cli("audit", "sth", "--json")
    assert json.loads(again.stdout) == old_head  # the tree grew only by the head's own event: no new head
    with FileEventLog(loki) as log:
        recorded = log.get(old_head["seq"])
    assert (recorded.type, recorded.payload["action"], recorded.payload["root_hash"]) == (
        "audit", "tree_head_signed", old_head["root_hash"])

    (tmp_path / "old-head.json").write_text(json.dumps(old_head))
    proof = cli("audit", "prove", "5")
    assert proof.exit_code == 0, proof.output
    bundle = json.loads(proof.stdout)
    assert (bundle["leaf_index"], bundle["tree_size"], bundle["head"]["root_hash"]) == (4, 12, old_head["root_hash"])
    (tmp_path / "proof.json").write_text(proof.stdout)
    (tmp_path / "entry.txt").write_text(bundle["entry"] + "\n")
    stripped = dict(bundle, entry=None, head=None)
    (tmp_path / "bare.json").write_text(json.dumps(stripped))
    ok = run_lokilog("audit", "check-proof", str(tmp_path / "bare.json"), "--entry", str(tmp_path / "entry.txt"),
                     "--head", str(tmp_path / "old-head.json"), "--public-key", old_head["key_id"], "--json", loki=loki)
    assert ok.returncode == 0, ok.stdout
    assert json.loads(ok.stdout)["signed"] is True
    (tmp_path / "forged.txt").write_text(bundle["entry"].replace("agent-1", "agent-2"))
    forged = cli("audit", "check-proof", str(tmp_path / "bare.json"), "--entry", str(tmp_path / "forged.txt"),
                 "--head", str(tmp_path / "old-head.json"))
    assert forged.exit_code == 1 and "INVALID" in forged.stdout

    emit(loki, [("task", {"action": "completed", "n": 100 + i}) for i in range(5)])
    grown = cli("audit", "consistency", "12")
    (tmp_path / "grown.json").write_text(grown.stdout)
    honest = cli("audit", "check-proof", str(tmp_path / "grown.json"), "--old-head", str(tmp_path / "old-head.json"))
    assert honest.exit_code == 0, honest.stdout

    # Someone rewrites an old event and rebuilds chain and tree consistently: only the old head catches it.
    rewrite_event(loki, b'"n":3,', b'"n":9,')
    shutil.rmtree(audit_dir(loki))
    rebuild(loki, [AuditProjection(AuditSettings()), MerkleProjection(AuditSettings())])
    assert cli("audit", "verify").exit_code == 0  # the chain alone still looks intact
    assert cli("audit", "sth").exit_code == 0
    rewritten = cli("audit", "consistency", "12")
    (tmp_path / "rewritten.json").write_text(rewritten.stdout)
    caught = run_lokilog("audit", "check-proof", str(tmp_path / "rewritten.json"), "--old-head", str(tmp_path / "old-head.json"),
                         "--json", loki=loki)
    assert caught.returncode == 1
    assert "old root" in json.loads(caught.stdout)["error"]


def test_cli_errors_are_one_line_with_their_exit_codes(cli, loki, tmp_path):
    emit(loki, [("task", {"n": i}) for i in range(3)])
    assert cli("audit", "prove", "99").exit_code == 2
    assert cli("audit", "prove", "2", "--tree-size", "9").exit_code == 2
    assert cli("audit", "consistency", "3", "2").exit_code == 2
    disabled = run_lokilog("audit", "prove", "1", loki=loki, LOKI_AUDIT_DISABLED="true")
    assert disabled.returncode == 1 and "disabled" in disabled.stderr
    (tmp_path / "junk.json").write_text("{not json")
    junk = run_lokilog("audit", "check-proof", str(tmp_path / "junk.json"), loki=loki)
    assert junk.returncode == 2 and "is not JSON" in junk.stderr and len(junk.stderr.strip().splitlines()) == 1
    unsigned = cli("audit", "prove", "2")
    assert json.loads(unsigned.stdout)["head"] is None
    assert run_lokilog("audit", "check-proof", "-", loki=loki, input=unsigned.stdout).returncode == 0


def test_without_cryptography_proofs_work_and_sth_names_the_extra(loki, tmp_path):
    emit(loki, [("task", {"n": i}) for i in range(4)])
    blocked = ("import sys; sys.modules['cryptography'] = None; sys.argv = ['lokilog'] + sys.argv[1:];"
               "from commands.cli import main; main()")
    run = lambda *args: subprocess.run([sys.executable, "-c", blocked, *args], capture_output=True, text=True, timeout=60,
                                       env=subprocess_env(LOKI_DIR=str(loki), LOKI_AUDIT_STH_KEY=str(tmp_path / "k.pem")))
    sth = run("audit", "sth")
    assert sth.returncode == 1 and "lokilog[audit]" in sth.stderr
    assert not (tmp_path / "k.pem").exists()
    proof = run("audit", "prove", "3")
    assert proof.returncode == 0 and json.loads(proof.stdout)["leaf_index"] == 2


def test_a_signing_key_others_can_read_is_refused(cli, loki, key_env):
    pytest.importorskip("cryptography")
    emit(loki, [("task", {"n": 1})])
    assert cli("audit", "sth").exit_code == 0
    key_env.chmod(0o644)
    emit(loki, [("task", {"n": 2})])
    refused = cli("audit", "sth")
    assert refused.exit_code == 1 and "chmod 600" in refused.output


# ---------------------------------------------------------------------- Python and TypeScript agree

def ts_merkle() -> Path:
    dist = TS_DIR / "dist" / "index.js"
    if not (TS_DIR / "dist" / "merkle.js").exists():
        if not shutil.which("node") or not shutil.which("npm"):
            pytest.skip("node and npm are needed for the TypeScript verifier")
        subprocess.run(["npm", "ci", "--silent", "--no-audit", "--no-fund"], cwd=TS_DIR, check=True, timeout=300)
        subprocess.run(["npx", "--no-install", "tsc", "-p", "."], cwd=TS_DIR, check=True, timeout=300)
    return dist


def test_both_verifiers_agree_on_real_bundles_and_their_alterations(cli, loki, key_env):
    pytest.importorskip("cryptography")
    from projections.audit.merkle.bundle import check_bundle

    client = ts_merkle()
    emit(loki, [("task", {"action": "completed", "n": i, "note": "é\u2028\"q\""}) for i in range(23)])
    old = json.loads(cli("audit", "sth", "--json").stdout)
    emit(loki, [("metric", {"value": i}) for i in range(9)])
    assert cli("audit", "sth").exit_code == 0
    bundles = [json.loads(cli("audit", "prove", str(seq)).stdout) for seq in (1, 7, 23, 30)]
    consistency = json.loads(cli("audit", "consistency", str(old["tree_size"])).stdout)
    bundles.append(dict(consistency, old_head=old))
    cases = []
    for bundle in bundles:
        cases.append(bundle)
        altered = json.loads(json.dumps(bundle))
        altered["path"][0] = ("0" if altered["path"][0][0] != "0" else "1") + altered["path"][0][1:]
        cases.append(altered)
        if "entry" in bundle:
            cases.append(dict(bundle, entry=bundle["entry"].replace('"seq":', '"seQ":')))
    script = ("const m = require(process.argv[1]); const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
              "process.stdout.write(JSON.stringify(cases.map((c) => m.checkProof(c).valid)));")
    done = subprocess.run(["node", "-e", script, str(client)], input=json.dumps(cases), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    python = [check_bundle(c).valid for c in cases]
    assert json.loads(done.stdout) == python
    assert python == [True, False, False] * 4 + [True, False]


def test_verify_recomputes_the_tree_and_names_a_flipped_bit_anywhere_in_it(cli, loki):
    import random

    from projections.audit.merkle.check import verify_tree

    emit(loki, [("task", {"n": i}) for i in range(21)])
    assert cli("audit", "sync").exit_code == 0
    catch_up(loki, MerkleProjection(AuditSettings()))
    ok = cli("audit", "verify", "--json")
    assert ok.exit_code == 0 and json.loads(ok.stdout)["tree"]["valid"] and json.loads(ok.stdout)["tree"]["checkedLeaves"] == 21
    assert "merkle tree valid: 21 leaves" in cli("audit", "verify").stdout
    rng = random.Random(25)
    for path in sorted(merkle_dir(loki).iterdir()):
        pristine = path.read_bytes()
        for _ in range(6):
            offset, bit = rng.randrange(len(pristine)), rng.randrange(8)
            damaged = bytearray(pristine)
            damaged[offset] ^= 1 << bit
            path.write_bytes(bytes(damaged))
            assert not verify_tree(loki).valid, f"{path.name} byte {offset} bit {bit}"
        path.write_bytes(pristine)
    assert verify_tree(loki).valid
    (merkle_dir(loki) / "level-01.bin").write_bytes(b"\0" * 32 * 10)
    broken = cli("audit", "verify")
    assert broken.exit_code == 1 and "merkle tree BROKEN: node 0 of level 1" in broken.stdout
