"""Command-line options that take JSON inline or from a file (``@path``), parsed in one place."""

from __future__ import annotations

import json


def json_object(text: str, flag: str) -> dict:
    """The JSON object ``text`` holds (or the file ``@path`` holds); ValueError names ``flag``."""
    if text.startswith("@"):
        with open(text[1:]) as file:
            text = file.read()
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{flag}: not JSON ({error.msg})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{flag}: expected a JSON object")
    return value
