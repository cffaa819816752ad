"""The data source's options, parsed once on the driver into a picklable ``SourceOptions``.

Every bad option raises ``ValueError`` naming it (never echoing a credential). S3
credentials missing from the options are taken from the usual AWS environment variables
here, on the driver, so executors on other machines receive them with the plan.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from fsspec.core import split_protocol

from tierfs.sizes import parse_size

FORMATS = ("parquet", "csv", "json", "text", "binary")
WRITE_MODES = ("through", "back")
# Spark 4.3 refuses ErrorIfExists and Ignore for every Python data source before any of
# its code runs, so those modes are asked for with ``.mode("append").option("save_mode", ...)``
SAVE_MODES = ("append", "errorifexists", "ignore")
# option -> (s3fs option, environment variable): explicit options win over the environment
_S3_CREDENTIALS = {
    "endpoint_url": ("endpoint_url", "AWS_ENDPOINT_URL"),
    "key": ("key", "AWS_ACCESS_KEY_ID"),
    "secret": ("secret", "AWS_SECRET_ACCESS_KEY"),
    "token": ("token", "AWS_SESSION_TOKEN"),
}
_KNOWN = {
    "path", "format", "target_protocol", "target_options", "tiers", "daemon", "block_size",
    "write_mode", "buffer_dir", "save_mode", "header", "inferschema", "sep", *_S3_CREDENTIALS,
}


@dataclass(frozen=True)
class CsvOptions:
    """Spark's names and defaults: no header row and every column a string unless asked."""

    header: bool = False
    infer_schema: bool = False
    delimiter: str = ","


@dataclass(frozen=True)
class SourceOptions:
    path: str  # in the target filesystem, without its protocol
    format: str
    target_protocol: str
    target_options: dict = field(default_factory=dict)
    tiers: list | None = None
    daemon: str | None = None
    block_size: int | None = None
    write_mode: str = "through"
    buffer_dir: str | None = None
    save_mode: str = "append"
    csv: CsvOptions = CsvOptions()

    def filesystem_kwargs(self) -> dict:
        """Arguments of ``fsspec.filesystem("tierfs", ...)`` (``buffer_dir`` is per process)."""
        kwargs = {"target_protocol": self.target_protocol, "target_options": self.target_options,
                  "tiers": self.tiers, "block_size": self.block_size, "daemon": self.daemon,
                  "write_mode": self.write_mode}
        return {name: value for name, value in kwargs.items() if value is not None}

    def url(self, path: str) -> str:
        """``path`` of the target filesystem as a URL users recognise (``s3://b/k``)."""
        return f"{self.target_protocol}://{path}"


def parse_options(options: Mapping[str, str], environ: Mapping[str, str] = os.environ
                  ) -> SourceOptions:
    """Validate Spark's case-insensitive string options; ``ValueError`` names a bad one."""
    given = {name.lower(): value for name, value in options.items()}
    unknown = sorted(set(given) - _KNOWN)
    if unknown:
        raise ValueError(f"{unknown[0]}: unknown option; known options are "
                         f"{', '.join(sorted(_KNOWN))}")
    url = given.get("path")
    if not url:
        raise ValueError("path: required, e.g. .load('s3://bucket/prefix') or .save(...)")
    protocol, path = split_protocol(url)
    protocol = given.get("target_protocol") or protocol or "file"
    return SourceOptions(
        path=path.rstrip("/") if protocol != "file" else os.path.abspath(path),
        format=_choice(given, "format", FORMATS, "parquet"),
        target_protocol=protocol,
        target_options=_target_options(given, protocol, environ),
        tiers=_json(given, "tiers", list),
        daemon=given.get("daemon") or None,
        block_size=parse_size(given["block_size"], "block_size") if "block_size" in given
        else None,
        write_mode=_choice(given, "write_mode", WRITE_MODES, "through"),
        buffer_dir=given.get("buffer_dir") or None,
        save_mode=_choice(given, "save_mode", SAVE_MODES, "append"),
        csv=CsvOptions(header=_flag(given, "header"), infer_schema=_flag(given, "inferschema"),
                       delimiter=_delimiter(given)),
    )


def _target_options(given: dict, protocol: str, environ: Mapping[str, str]) -> dict:
    options = _json(given, "target_options", dict) or {}
    for option, (name, variable) in _S3_CREDENTIALS.items():
        if option in given:
            options[name] = given[option]
        elif protocol in ("s3", "s3a") and name not in options and environ.get(variable):
            options[name] = environ[variable]
    return options


def _json(given: dict, name: str, kind: type):
    if name not in given:
        return None
    try:
        value = json.loads(given[name])
    except json.JSONDecodeError as error:
        raise ValueError(f"{name}: not valid JSON ({error.msg} at character {error.pos})") from None
    if not isinstance(value, kind):
        raise ValueError(f"{name}: expected a JSON {'object' if kind is dict else 'array'}, "
                         f"got {type(value).__name__}")
    return value


def _choice(given: dict, name: str, choices: tuple[str, ...], default: str) -> str:
    value = given.get(name, default).lower()
    if value not in choices:
        raise ValueError(f"{name}: {given[name]!r} is not one of {', '.join(choices)}")
    return value


def _flag(given: dict, name: str) -> bool:
    value = given.get(name, "false").lower()
    if value not in ("true", "false"):
        raise ValueError(f"{name}: expected true or false, got {given[name]!r}")
    return value == "true"


def _delimiter(given: dict) -> str:
    value = given.get("sep", ",")
    if len(value) != 1:
        raise ValueError(f"sep: expected one character, got {value!r}")
    return value
