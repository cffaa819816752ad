"""``tierfs shuffle ls|rm URL``: listing and deleting shuffles of real services."""

from __future__ import annotations

import json
import os

import pytest

import tierfs.shuffle
from tierfs.cli import main


def _write_shuffle(service, shuffle_id: str, maps: int) -> None:
    shuffle = service.create(shuffle_id, num_partitions=3)
    for map_id in range(maps):
        with shuffle.map_writer(map_id) as writer:
            writer.write(map_id % 3, os.urandom(1000))  # incompressible
            writer.commit()


def _listed(capsys, argv: list[str]) -> dict:
    assert main(["shuffle", "ls", *argv, "--json"]) == 0
    return {row["shuffle_id"]: row for row in json.loads(capsys.readouterr().out)}


def test_ls_lists_partitions_committed_maps_and_bytes_of_local_shuffles(tmp_path, capsys):
    url = f"local://{tmp_path}/shuffle"
    service = tierfs.shuffle.open_service(url)
    _write_shuffle(service, "job-a", maps=2)
    _write_shuffle(service, "job-b", maps=0)

    assert main(["shuffle", "ls", url]) == 0
    lines = capsys.readouterr().out.splitlines()

    assert lines[0].split() == ["SHUFFLE", "PARTITIONS", "COMMITTED", "MAPS", "BYTES"]
    assert lines[1].split()[:3] == ["job-a", "3", "2"] and int(lines[1].split()[3]) > 2000
    assert lines[2].split()[:3] == ["job-b", "3", "0"]
    assert lines[3].startswith("2 shuffles")


def test_rm_deletes_one_shuffle_and_leaves_the_others(tmp_path, capsys):
    url = str(tmp_path / "shuffle")  # a plain path is a local service too
    service = tierfs.shuffle.open_service(url)
    _write_shuffle(service, "keep", maps=1)
    _write_shuffle(service, "drop", maps=1)

    assert main(["shuffle", "rm", url, "drop"]) == 0
    assert "deleted shuffle 'drop'" in capsys.readouterr().out

    assert set(_listed(capsys, [url])) == {"keep"}
    with pytest.raises(tierfs.shuffle.ShuffleNotFoundError):
        service.get("drop")


def test_rm_of_an_unknown_shuffle_fails_naming_it(tmp_path):
    with pytest.raises(SystemExit, match="no shuffle 'nope'"):
        main(["shuffle", "rm", f"local://{tmp_path}", "nope"])


def test_s3_options_come_from_dotted_keys_and_json_without_being_printed(
        seaweed, bucket, tmp_path, capsys):
    options = seaweed.storage_options()
    url = f"s3://{bucket}/shuffle"
    _write_shuffle(tierfs.shuffle.open_service(url, **options), "on-s3", maps=3)
    dotted = ["-o", f"key={options['key']}", "-o", f"secret={options['secret']}",
              "-o", f"client_kwargs.endpoint_url={seaweed.endpoint_url}",
              "-o", "client_kwargs.region_name=us-east-1"]
    options_file = tmp_path / "options.json"
    options_file.write_text(json.dumps(options))

    by_dotted = _listed(capsys, [url, *dotted])
    by_file = _listed(capsys, [url, "--options", f"@{options_file}"])

    assert by_dotted == by_file
    assert by_dotted["on-s3"]["committed_maps"] == 3 and by_dotted["on-s3"]["partitions"] == 3
    assert main(["shuffle", "rm", url, "on-s3", *dotted]) == 0
    assert options["secret"] not in capsys.readouterr().out
    assert _listed(capsys, [url, *dotted]) == {}


def test_ls_and_rm_work_against_the_daemon(shuffle_daemon, capsys):
    service = tierfs.shuffle.open_service(shuffle_daemon.url)
    _write_shuffle(service, "cli-daemon", maps=2)

    listed = _listed(capsys, [shuffle_daemon.url])
    assert listed["cli-daemon"]["committed_maps"] == 2 and listed["cli-daemon"]["bytes"] > 0

    assert main(["shuffle", "rm", shuffle_daemon.url, "cli-daemon"]) == 0
    capsys.readouterr()
    assert "cli-daemon" not in _listed(capsys, [shuffle_daemon.url])


@pytest.mark.parametrize(("argv", "message"), [
    (["-o", "novalue"], "expected KEY=VALUE"),
    (["--options", "[1]"], "expected a JSON object"),
    (["--options", "{bad"], "not JSON"),
    (["-o", "compression=zstd"], "compression"),
])
def test_bad_options_fail_naming_the_option(tmp_path, argv, message):
    with pytest.raises(SystemExit, match=message):
        main(["shuffle", "ls", f"local://{tmp_path}", *argv])


def test_an_unknown_scheme_fails_naming_it():
    with pytest.raises(SystemExit, match="unknown scheme 'nosuch'"):
        main(["shuffle", "ls", "nosuch://x"])
