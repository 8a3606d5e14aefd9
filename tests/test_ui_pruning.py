"""The UI's kept conversations and its zips of ticked attempts are pruned (issue 25: they were never):
conversations by age and count, zips past the newest few, each limit refused in one line when bad."""
from __future__ import annotations

import os
import time
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("gradio")
from agent.surfaces.ui.conversations import KEEP_COUNT, KEEP_DAYS, KeptDesks  # noqa: E402
from agent.surfaces.ui.files import KEEP_ZIPS, Files  # noqa: E402


def kept(folder: Path, name: str, days_old: float) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    f = folder / f"{name}.json"
    f.write_text("{}")
    when = time.time() - days_old * 86400
    os.utime(f, (when, when))
    return f


def test_conversations_untouched_for_long_or_past_the_count_are_removed(tmp_path):
    folder = tmp_path / ".ui-conversations"
    old = kept(folder, "old", KEEP_DAYS + 1)
    recent = [kept(folder, f"r{i}", i / 100) for i in range(5)]  # r0 newest
    desks = KeptDesks(tmp_path, keep_count=3)  # prunes as the UI starts
    assert not old.exists()
    assert [f.exists() for f in recent] == [True, True, True, False, False]  # the newest three stay
    assert desks.prune() == []  # nothing more to do


def test_a_desk_saved_often_is_pruned_as_it_goes_and_its_own_file_kept(tmp_path):
    from agent.surfaces import ui_support as ui

    desks = KeptDesks(tmp_path, keep_count=2)
    others = [kept(tmp_path / ".ui-conversations", f"o{i}", 1 + i) for i in range(4)]
    desk = ui.Desk("tab-key", "owner")
    for _ in range(25):  # PRUNE_EVERY saves
        desks.save(desk)
    assert desks.path_of("tab-key").is_file()
    assert sum(f.exists() for f in others) == 1


def test_the_defaults_are_sane_and_bad_limits_are_one_line(tmp_path):
    assert KEEP_DAYS >= 7 and KEEP_COUNT >= 50 and KEEP_ZIPS >= 4
    with pytest.raises(ValueError, match="keep_days must be more than 0, not 0"):
        KeptDesks(tmp_path, keep_days=0)
    with pytest.raises(ValueError, match="keep_count must be a whole number of at least 1, not 'x'"):
        KeptDesks(tmp_path, keep_count="x")
    with pytest.raises(ValueError, match="keep_zips must be a whole number of at least 1, not 0"):
        Files(tmp_path, keep_zips=0)


def test_only_the_newest_zips_are_kept_and_the_newest_still_reads_back(tmp_path):
    runs = tmp_path / "runs"
    (runs / "r1").mkdir(parents=True)
    pictures = []
    for i in range(4):
        p = runs / "r1" / f"{i}.png"
        p.write_bytes(b"picture %d" % i)
        pictures.append(p)
    files = Files(runs, keep_zips=2)
    made = [files.zipped([pictures[i]], f"z{i}.zip") for i in range(4)]
    zips = sorted(files.scratch.rglob("*.zip"))
    assert sorted(z.name for z in zips) == ["z2.zip", "z3.zip"]  # the two newest
    assert not Path(made[0]).exists() and not Path(made[1]).exists()  # their copies for the page too
    with zipfile.ZipFile(made[3]) as z:
        assert z.read("r1/3.png") == b"picture 3"
    assert files.zipped([pictures[3]], "z3.zip") == made[3]  # the same files: the same zip, not a new one
    again = files.zipped([pictures[0]], "z0.zip")  # a pruned one asked again is made again
    with zipfile.ZipFile(again) as z:
        assert z.read("r1/0.png") == b"picture 0"
