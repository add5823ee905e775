"""Checkpoint ids: minted ids never collide; hostile ids never reach outside `.loki/`."""
from __future__ import annotations

import os

import pytest

from commands.checkpoints.ids import CheckpointIdError, check_id, mint_id
from commands.checkpoints.rollback import rollback
from commands.checkpoints.store import CheckpointStore
from commands.checkpoints.lifecycle import find


def test_ids_minted_in_the_same_millisecond_differ():
    ids = {mint_id() for _ in range(5000)}
    assert len(ids) == 5000
    for value in list(ids)[:50]:
        assert check_id(value) == value


@pytest.mark.parametrize("value, reason", [
    ("..", "'..'"), ("../../etc/passwd", "separator"), ("a/../b", "separator"), ("/etc", "separator"),
    ("cp..1", "'..'"), ("a\\b", "separator"), ("cp\x001", "NUL"), ("x" * 129, "longer than 128"),
    ("", "non-empty"), (".hidden", "must start"), ("-rf", "must start"), ("a b", "must start"),
])
def test_hostile_ids_are_rejected_with_a_reason(value, reason):
    with pytest.raises(CheckpointIdError, match=reason):
        check_id(value)


def test_known_formats_are_accepted():
    for value in ("cp-12-1771668000", "cp-1771668000", "chk-1771668000", "rb-pre-20260221T100000Z",
                  "cp-20260221T100000123Z-0a1b2c3d4e5f"):
        assert check_id(value) == value


def test_a_symlinked_checkpoint_leading_outside_is_refused(loki, tmp_path):
    outside = tmp_path / "evil"
    (outside / "queue").mkdir(parents=True)
    (outside / "queue" / "pending.json").write_text("planted")
    store = CheckpointStore(loki)
    store.root.mkdir(parents=True)
    os.symlink(outside, store.root / "cp-evil")
    with pytest.raises(CheckpointIdError, match="outside .loki"):
        rollback(loki, "cp-evil")
    assert not (loki / "queue").exists()


@pytest.mark.parametrize("value", ["../../etc", "/etc/passwd", "cp\x00x"])
def test_lookups_by_hostile_id_fail_before_touching_files(loki, value):
    with pytest.raises(CheckpointIdError):
        find(loki, value)
    with pytest.raises(CheckpointIdError):
        rollback(loki, value)


def test_a_store_symlinked_outside_loki_is_refused(loki, tmp_path):
    from commands.checkpoints.lifecycle import create

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (loki / "state").mkdir(parents=True)
    os.symlink(outside, loki / "state" / "checkpoints")
    with pytest.raises(CheckpointIdError, match="leads outside .loki"):
        create(loki, "x")
    assert list(outside.iterdir()) == []
