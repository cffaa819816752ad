"""Every ``examples/*.py`` runs to completion and prints its check (its last line).

Examples exit non-zero when their check fails. They run against the session's SeaweedFS
through the AWS environment variables, as a user's would; one also runs with none set,
starting its own embedded SeaweedFS.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SCRIPTS = sorted(path for path in EXAMPLES.glob("*.py") if not path.name.startswith("_"))


def run_example(script: Path, environment: dict[str, str]) -> subprocess.CompletedProcess:
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("AWS_") and name != "TIERFS_DAEMON"}
    return subprocess.run([sys.executable, str(script)], cwd=EXAMPLES.parent, env=env | environment,
                          capture_output=True, text=True, timeout=600)


def assert_checked(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    lines = result.stdout.strip().splitlines()
    assert lines and lines[-1].strip(), f"printed no check:\n{result.stderr[-2000:]}"


@pytest.mark.parametrize("script", SCRIPTS, ids=[path.stem for path in SCRIPTS])
def test_example_runs_against_the_configured_endpoint(script, seaweed, shared_bucket):
    assert_checked(run_example(script, {
        "AWS_ENDPOINT_URL": seaweed.endpoint_url,
        "AWS_ACCESS_KEY_ID": seaweed.access_key,
        "AWS_SECRET_ACCESS_KEY": seaweed.secret_key,
        "AWS_DEFAULT_REGION": "us-east-1",
        "TIERFS_EXAMPLE_BUCKET": shared_bucket,
    }))


def test_an_example_starts_its_own_store_when_no_endpoint_is_set():
    assert_checked(run_example(EXAMPLES / "pandas_example.py", {}))
