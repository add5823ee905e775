"""Working-tree snapshots in a real git repository, and `rollback --code`."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from commands.checkpoints.rollback import rollback
from commands.checkpoints.lifecycle import create, prune

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(top: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(top), *args], check=True, capture_output=True, text=True,
                          timeout=30).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path, loki: Path) -> Path:
    top = loki.parent
    git(top, "init", "-q")
    git(top, "config", "user.email", "dev@example.com")
    git(top, "config", "user.name", "Dev")
    (top / ".gitignore").write_text(".loki/\n")
    (top / "app.py").write_text("v1\n")
    (top / "lib.py").write_text("lib\n")
    git(top, "add", "-A")
    git(top, "commit", "-qm", "init")
    loki.mkdir()
    (loki / "session.json").write_text("{}")
    return top


def test_snapshot_is_anchored_and_code_rollback_round_trips(repo, loki):
    (repo / "app.py").write_text("v2 uncommitted\n")
    made = create(loki, "with work in progress").manifest
    assert made.git is not None and made.git.kind == "stash"
    assert git(repo, "rev-parse", made.git.ref) == made.git.sha
    assert git(repo, "stash", "list") == ""  # stash create leaves the stash list alone

    (repo / "app.py").write_text("v3 broken\n")
    (repo / "lib.py").unlink()
    done = rollback(loki, made.id, code=True)
    assert done.code_restored and not done.errors
    assert (repo / "app.py").read_text() == "v2 uncommitted\n"
    assert (repo / "lib.py").read_text() == "lib\n"
    assert done.undo_command.endswith(" --code")

    rollback(loki, done.pre_rollback_checkpoint, code=True)
    assert (repo / "app.py").read_text() == "v3 broken\n"
    assert not (repo / "lib.py").exists()


def test_without_code_the_tree_is_untouched_and_the_command_printed(repo, loki):
    made = create(loki, "clean tree").manifest
    assert made.git.kind == "head"
    (repo / "app.py").write_text("changed\n")
    done = rollback(loki, made.id)
    assert (repo / "app.py").read_text() == "changed\n"
    assert done.code_command == f"git restore --source=refs/loki/cp/{made.id} --worktree -- ."
    subprocess.run(done.code_command.split(), cwd=repo, check=True, timeout=30)
    assert (repo / "app.py").read_text() == "v1\n"


def test_code_rollback_leaves_tracked_loki_files_alone(repo, loki):
    (repo / ".gitignore").write_text("")
    (loki / "CONTINUITY.md").write_text("tracked v1\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "track .loki")
    made = create(loki, "a").manifest
    (loki / "CONTINUITY.md").write_text("tracked v2\n")
    done = rollback(loki, made.id, code=True)
    assert done.code_restored
    assert (loki / "CONTINUITY.md").read_text() == "tracked v1\n"  # restored by the state restore


def test_pruning_deletes_the_anchor_ref(repo, loki):
    first = create(loki, "a").manifest
    create(loki, "b")
    prune(loki, keep=1)
    refs = git(repo, "for-each-ref", "--format=%(refname)", "refs/loki/cp/")
    assert first.git.ref not in refs and len(refs.splitlines()) == 1


def test_code_without_a_snapshot_is_reported(loki):
    loki.mkdir()
    (loki / "session.json").write_text("{}")
    made = create(loki, "no git here").manifest
    assert made.git is None
    done = rollback(loki, made.id, code=True)
    assert done.errors == [f"--code: checkpoint {made.id} has no working-tree snapshot"]
