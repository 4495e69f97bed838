"""How a PATCH body of known length is cut into S3 parts (``tus_write.plan``): no part under
S3's 5 MiB minimum and nothing left over for a tail."""

import pytest

from service.storage.tus_write import MIN_PART, plan

MIB = 1024 * 1024


@pytest.mark.parametrize(
    ("total", "part_size", "expected"),
    [
        (5 * MIB, 6 * MIB, [5 * MIB]),  # under one part: one part of all of it
        (8 * MIB, 6 * MIB, [8 * MIB]),  # the benchmark's PATCH: one part, no tail
        (17 * MIB, 6 * MIB, [17 * MIB // 2, 17 * MIB // 2]),
        (12 * MIB + 1, 6 * MIB, [6 * MIB + 1, 6 * MIB]),
        (1024 * MIB, 8 * MIB, [8 * MIB] * 128),
    ],
)
def test_plan(total: int, part_size: int, expected: list[int]) -> None:
    assert plan(total, part_size) == expected


@pytest.mark.parametrize("total", [MIN_PART, MIN_PART + 1, 11 * MIB - 1, 11 * MIB, 100 * MIB + 12345, 3 * 10**9])
def test_plan_covers_every_byte_with_parts_of_at_least_one_part_size(total: int) -> None:
    part_size = 6 * MIB
    parts = plan(total, part_size)
    assert sum(parts) == total
    assert min(parts) >= min(total, part_size) >= MIN_PART
    assert max(parts) - min(parts) <= 1
    assert len(parts) == max(1, total // part_size)
