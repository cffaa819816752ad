"""Striping arithmetic and rendezvous placement."""

from __future__ import annotations

from tierfs.ec.layout import Segment, StripeLayout
from tierfs.ec.placement import choose_targets

LAYOUT = StripeLayout(k=4, cell_size=100, header_size=80, size=1000, tail_cell=50)


def test_a_range_maps_to_data_cells_in_logical_order():
    assert LAYOUT.segments(350, 420) == [Segment(0, 3, 50, 50), Segment(1, 0, 0, 20)]


def test_the_last_stripe_has_short_cells_not_padded_ones():
    assert LAYOUT.num_stripes == 3
    assert LAYOUT.segments(850, 1000) == [Segment(2, 1, 0, 50), Segment(2, 2, 0, 50),
                                          Segment(2, 3, 0, 50)]
    assert LAYOUT.fragment_size == 2 * 180 + 130


def test_a_run_of_stripes_is_one_contiguous_byte_range_of_a_fragment():
    start, end = LAYOUT.run_range(1, 2)
    assert (start, end) == (180, 490)
    cells = LAYOUT.split_run(1, bytes(end - start))
    assert {stripe: len(cell) for stripe, cell in cells.items()} == {1: 180, 2: 130}


def test_ranges_past_the_end_are_clipped():
    assert LAYOUT.segments(990, 5000) == [Segment(2, 3, 40, 10)]
    assert LAYOUT.segments(1000, 2000) == []


TARGETS = [f"s3://node{i}" for i in range(9)]


def test_placement_is_stable_and_distinct():
    chosen = choose_targets(TARGETS, "a/b.parquet", 6)
    assert chosen == choose_targets(list(reversed(TARGETS)), "a/b.parquet", 6)
    assert len(set(chosen)) == 6


def test_placement_spreads_files_over_all_targets():
    counts = dict.fromkeys(TARGETS, 0)
    for i in range(3000):
        for target in choose_targets(TARGETS, f"file-{i}", 6):
            counts[target] += 1
    expected = 3000 * 6 / 9
    assert all(abs(count - expected) < 0.1 * expected for count in counts.values())


def test_removing_a_target_moves_only_the_files_it_held():
    moved = 0
    for i in range(1000):
        before = choose_targets(TARGETS, f"file-{i}", 6)
        after = choose_targets(TARGETS[:-1], f"file-{i}", 6)
        if TARGETS[-1] not in before:
            assert before == after
        else:
            moved += 1
    assert 0 < moved < 1000
