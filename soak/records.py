"""One JSON record per fault-injection test or soak run, under ``build/reliability/``.

The README's reliability table is rendered from these files (``reliability_table.py``), so
each run's counts are the table's figures: what was injected, how often, what was lost.
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

RELIABILITY_DIR = Path(__file__).resolve().parents[1] / "build" / "reliability"


def invocation() -> str:
    """The command line of this process, as a user would type it."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    program = (f"python -m {spec.name.removesuffix('.__main__')}" if spec is not None
               else Path(sys.argv[0]).name)
    return " ".join([program, *map(shlex.quote, sys.argv[1:])])


@dataclass
class FaultRecord:
    """The counts of one fault run; ``lost_bytes`` and ``wrong_bytes`` must stay 0."""

    name: str
    fault: str = ""
    injections: int = 0
    operations: int = 0  # reads and writes attempted
    bytes_verified: int = 0  # bytes compared with what they must be
    acknowledged_bytes: int = 0  # bytes whose write was acknowledged
    lost_bytes: int = 0  # acknowledged bytes missing or different afterwards
    wrong_bytes: int = 0  # bytes served that differ from the object's
    clean_errors: int = 0  # operations that failed with a clear, named error
    outcome: str = "unknown"
    seconds: float = 0.0
    date: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    command: str = field(default_factory=invocation)
    extra: dict = field(default_factory=dict)  # figures particular to one run (soak: p99...)

    def save(self, directory: Path = RELIABILITY_DIR) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.name}.json"
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        return path


def load_records(directory: Path = RELIABILITY_DIR) -> list[dict]:
    """Every record in ``directory``, by name."""
    return [json.loads(path.read_text()) for path in sorted(directory.glob("*.json"))]
