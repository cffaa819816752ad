"""What the property tests share: a modest example budget and damage done to valid encodings.

Parsers at a trust boundary must turn any damage into their own named error, so every
property draws a valid encoding, damages it here, and checks the parser's answer.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Enough to find the shallow bugs in every `make test`; `make fuzz` searches deeper.
modest = settings(max_examples=150, deadline=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

IN_PLACE = ("flip", "set")
ANY_EDIT = (*IN_PLACE, "insert", "delete", "truncate")


@st.composite
def damaged(draw, encoded: bytes, edits: tuple[str, ...] = ANY_EDIT) -> bytes:
    """``encoded`` after one to four edits: flipped bits, overwritten, inserted, deleted or
    cut-off bytes (``edits`` names the kinds allowed; in-place edits keep the length)."""
    data = bytearray(encoded)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(edits))
        last = max(len(data) - 1, 0)
        at = draw(st.integers(0, min(last, 4200)) | st.integers(0, last))  # headers come first
        if kind == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "set" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 64))]
        elif kind == "truncate":
            del data[at:]
    return bytes(data)


def json_values(max_leaves: int = 12):
    """Any JSON document (what a hostile peer or a damaged file can hand a parser)."""
    scalars = (st.none() | st.booleans() | st.integers(-2**70, 2**70)
               | st.floats(allow_nan=False) | st.text(max_size=20))
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.text(max_size=12), inner, max_size=4),
                        max_leaves=max_leaves)
