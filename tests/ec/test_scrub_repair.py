"""Scrub finds damage without changing anything; repair rebuilds it byte-exact."""

from __future__ import annotations

import os
import shutil

import pytest

from tierfs.cli import main
from tierfs.ec import ECFileSystem
from tierfs.ec.repair import repair_file
from tierfs.ec.scrub import scrub

from .conftest import SMALL_CELL
from .local_damage import flip_byte, fragment_files, node_dir

DATA = os.urandom(7 * 4 * SMALL_CELL + 99)


@pytest.fixture
def stored(local_fs):
    local_fs.pipe_file("keep/a.bin", DATA)
    local_fs.pipe_file("keep/b.bin", DATA[:5000])
    return local_fs


def test_scrub_of_a_healthy_store_finds_nothing(stored):
    reports = list(scrub(stored))
    assert [r.path for r in reports] == ["keep/a.bin", "keep/b.bin"]
    assert all(r.healthy for r in reports)


def test_scrub_reports_a_flipped_byte_in_parity_and_repair_fixes_it(stored):
    fragment = fragment_files(stored, "keep/a.bin")[5]
    original = open(fragment, "rb").read()
    flip_byte(fragment, 3 * (SMALL_CELL + 80) + 7)
    (report,) = [r for r in scrub(stored) if not r.healthy]
    assert report.damaged == {5: "checksum mismatch"} and report.damaged_cells == 1
    outcome = repair_file(stored, report)
    assert outcome.rebuilt == {5: stored.manifest("keep/a.bin").targets[5]}
    assert open(fragment, "rb").read() == original
    assert all(r.healthy for r in scrub(stored))


def test_repair_rebuilds_a_dead_targets_fragments_onto_its_replacement(stored, local_targets,
                                                                       tmp_path):
    dead = local_targets[2]
    shutil.rmtree(node_dir(dead))
    replacement = f"file://{tmp_path}/replacement"
    targets = [replacement if url == dead else url for url in local_targets]
    fs = ECFileSystem(targets=targets, cell_size=SMALL_CELL, skip_instance_cache=True)
    reports = [r for r in scrub(fs) if not r.healthy]
    assert {r.path for r in reports} == {"keep/a.bin", "keep/b.bin"}
    for report in reports:
        repair_file(fs, report)
    assert all(r.healthy for r in scrub(fs))
    assert all(replacement in fs.manifest(p).targets for p in ("keep/a.bin", "keep/b.bin"))
    assert fs.cat_file("keep/a.bin") == DATA


def test_scrub_reports_more_than_m_losses_as_not_recoverable(stored):
    for fragment in fragment_files(stored, "keep/a.bin")[:3]:
        os.remove(fragment)
    (report,) = [r for r in scrub(stored) if not r.healthy]
    assert not report.recoverable
    assert "NOT RECOVERABLE" in report.describe()


def test_cli_scrub_and_repair_report_and_heal(stored, local_targets, capsys):
    flip_byte(fragment_files(stored, "keep/b.bin")[0], 90)
    args = [*local_targets, "--cell-size", str(SMALL_CELL), "--no-progress"]
    assert main(["ec", "scrub", *args]) == 1
    assert "keep/b.bin: recoverable; fragment 0: checksum mismatch" in capsys.readouterr().out
    assert main(["ec", "repair", *args]) == 0
    assert "repair: 2 files checked, 1 repaired, 0 failed" in capsys.readouterr().out
    assert main(["ec", "scrub", *args]) == 0
    assert "scrub: 2 files checked, 0 damaged" in capsys.readouterr().out
