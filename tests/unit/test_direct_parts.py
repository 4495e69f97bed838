"""Direct uploads: the part size grows so that no file needs more than S3's 10 000 parts."""

import math

import pytest

from service.storage.direct import part_size_for
from service.storage.objects import MAX_PARTS

MIB = 1024 * 1024


@pytest.mark.parametrize("size", [1, 16 * MIB, 160_000 * MIB, 160_000 * MIB + 1, 5 * 1024**4])
def test_parts_never_exceed_the_s3_limit(size):
    part = part_size_for(size, 16 * MIB)
    assert part >= 16 * MIB and part % MIB == 0
    assert math.ceil(size / part) <= MAX_PARTS


def test_the_configured_size_is_kept_when_it_fits():
    assert part_size_for(1024**3, 8 * MIB) == 8 * MIB
    assert part_size_for(200_000 * MIB, 8 * MIB) == 20 * MIB
