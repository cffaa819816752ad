"""The codec decodes every loss pattern of up to m fragments for every shipped policy."""

from __future__ import annotations

import itertools
import os
import re

import pytest

from tierfs.ec.codec import DEFAULT_BACKEND, ECPolicy, StripeCodec

POLICIES = [(4, 2), (3, 2), (6, 3), (10, 4)]


@pytest.mark.parametrize(("k", "m"), POLICIES)
def test_every_loss_pattern_of_up_to_m_fragments_decodes(k, m):
    codec = StripeCodec(ECPolicy(k, m, 4096))
    stripe = os.urandom(k * 4096 - 123)  # a short stripe, as the last one of a file
    fragments = dict(enumerate(codec.encode(stripe)))
    for lost_count in range(m + 1):
        for lost in itertools.combinations(range(k + m), lost_count):
            kept = {i: f for i, f in fragments.items() if i not in lost}
            assert codec.decode(kept) == stripe, f"RS({k},{m}) lost {lost}"


@pytest.mark.parametrize(("k", "m"), POLICIES)
def test_every_loss_pattern_reconstructs_the_lost_fragments_byte_exact(k, m):
    codec = StripeCodec(ECPolicy(k, m, 4096))
    fragments = dict(enumerate(codec.encode(os.urandom(k * 4096))))
    for lost in itertools.combinations(range(k + m), m):
        kept = {i: f for i, f in fragments.items() if i not in lost}
        rebuilt = codec.reconstruct(dict(list(kept.items())[:k]), list(lost))
        assert rebuilt == {i: fragments[i] for i in lost}


def test_data_fragments_hold_the_stripe_in_order_so_healthy_reads_need_no_decode():
    codec = StripeCodec(ECPolicy(4, 2, 4096))
    stripe = os.urandom(4 * 4096)
    header = codec.header_size
    payloads = [fragment[header:] for fragment in codec.encode(stripe)[:4]]
    assert b"".join(payloads) == stripe


def test_default_backend_is_isa_l_cauchy():
    assert StripeCodec(ECPolicy(4, 2, 2**20)).backend == DEFAULT_BACKEND == "isa_l_rs_cauchy"


@pytest.mark.parametrize(
    ("k", "m", "cell_size", "setting"),
    [(0, 2, 4096, "k"), (4, -1, 4096, "m"), (4, 0, 4096, "m"), (30, 4, 4096, "k + m"),
     (4, 2, 0, "cell_size"), (4, 2, 1000, "cell_size"), (4, 2, -4096, "cell_size")],
)
def test_bad_policy_raises_value_error_naming_the_setting(k, m, cell_size, setting):
    with pytest.raises(ValueError, match=f"^{re.escape(setting)}:"):
        ECPolicy(k, m, cell_size)
