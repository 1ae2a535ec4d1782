"""The offset-continuity guard: holes become rewinds; missing offsets that hold
no records are accepted once the re-read shows it."""

from __future__ import annotations

from hunt.streaming.sequence import OffsetGuard, Verdict

TP = ("shop.behavior", 3)
A, H, R = Verdict.APPLY, Verdict.HOLD, Verdict.REWIND


def run(guard: OffsetGuard, offsets: list[int], start: int | None = None) -> list[Verdict]:
    """``start``: where the partition's reading began (its commit or log start)."""
    starts = {} if start is None else {TP: start}
    return [guard.check(TP, o, starts) for o in offsets]


def test_an_unbroken_sequence_from_the_commit_is_applied() -> None:
    assert run(OffsetGuard(), [10, 11, 12], start=10) == [A, A, A]


def test_a_partition_whose_start_is_unknown_starts_at_its_first_record() -> None:
    assert run(OffsetGuard(), [57, 58]) == [A, A]


def test_a_partition_never_committed_must_start_at_its_log_start() -> None:
    """The consumer read it from its log start (0): a first record past that is a
    hole (Faust emptied the stream buffer after delivering 0..4), not the start."""
    guard = OffsetGuard()
    assert run(guard, [5], start=0) == [R]
    assert guard.rewind_to == 0
    assert run(guard, [0, 1, 2, 3, 4, 5], start=0) == [A] * 6


def test_offsets_already_seen_go_through_for_the_watermark_to_skip() -> None:
    assert run(OffsetGuard(), [10, 11, 12, 11, 13], start=10) == [A] * 5


def test_a_hole_after_the_commit_rewinds_holds_the_leftovers_and_closes() -> None:
    """Faust dropped 10..14 while seeking: the guard asks for 10 again, holds what
    was fetched before the rewind took effect, and applies the re-read."""
    guard = OffsetGuard()
    assert run(guard, [15], start=10) == [R]
    assert guard.rewind_to == 10
    assert run(guard, [16, 17], start=10) == [H, H]
    assert run(guard, list(range(10, 18)), start=10) == [A] * 8
    assert guard.accepted_gaps == 0


def test_a_hole_in_the_middle_rewinds_to_the_first_missing_offset() -> None:
    guard = OffsetGuard()
    assert run(guard, [0, 1, 2, 7]) == [A, A, A, R]
    assert guard.rewind_to == 3


def test_offsets_without_records_are_accepted_when_the_re_read_skips_them() -> None:
    """Offsets 3..4 were transaction markers: the re-read from 3 starts at 5."""
    guard = OffsetGuard()
    assert run(guard, [0, 1, 2, 5, 6, 7]) == [A, A, A, R, H, H]
    assert run(guard, [5, 6, 7, 8]) == [Verdict.GAP, A, A, A]
    assert guard.gap_from == 3
    assert guard.accepted_gaps == 1


def test_leftovers_never_close_a_hole_however_long_they_last() -> None:
    guard = OffsetGuard()
    assert run(guard, [0, 9]) == [A, R]
    assert run(guard, list(range(10, 1000))) == [H] * 990
    assert run(guard, [1]) == [A]
    assert guard.accepted_gaps == 0


def test_partitions_are_independent_and_reset_after_a_rebalance() -> None:
    guard = OffsetGuard()
    other = ("shop.inventory", 3)
    guard.check(TP, 5, {TP: 5})
    assert guard.check(other, 0, {other: 0}) is A
    guard.reset()
    assert guard.check(TP, 3, {TP: 3}) is A
