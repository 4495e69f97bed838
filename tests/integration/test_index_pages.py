"""List pages of the compact index against a plain sort: the union of the per-purpose+category
sorted sets, merged in Lua, must page exactly like one list ordered newest first (ties included),
for every filter."""

import asyncio
from datetime import UTC, datetime, timedelta

from bench.index_scale import realistic
from service.domain.categories import Category, Purpose
from service.domain.records import FileRecord, Status, format_time
from service.storage.index import Index


def records(total: int) -> list[FileRecord]:
    """Realistic records, three uploads per millisecond (ties in the score), four statuses."""
    out = []
    for i in range(total):
        record = realistic(i)
        record.uploaded_at = format_time(datetime(2026, 1, 1, tzinfo=UTC) + timedelta(milliseconds=i // 3))
        record.status = list(Status)[i % 4]
        out.append(record)
    return out


def expected(all_records: list[FileRecord], purpose, category, status) -> list[str]:
    chosen = [
        r
        for r in all_records
        if purpose in (None, r.purpose) and category in (None, r.category) and status in (None, r.status)
    ]
    chosen.sort(key=lambda r: (r.uploaded_at, r.filename), reverse=True)
    return [r.path for r in chosen]


def test_every_page_of_every_filter_matches_a_plain_sort(redis_server, redis_client):
    redis_client.flushdb()
    made = records(600)

    async def run() -> None:
        async with Index.open(redis_server.url, "pages:") as index:
            assert await index.rebuild(made, batch=64) == 600
            filters = [
                (None, None, None),
                (Purpose.training, None, None),
                (None, Category.audio, None),
                (Purpose.ingestion, Category.data, None),
                (None, None, Status.done),
                (Purpose.training, None, Status.failed),
            ]
            for purpose, category, status in filters:
                want = expected(made, purpose, category, status)
                for limit, offsets in ((100, range(0, len(want) + 100, 100)), (7, (0, 1, 2, 3, 5, 298, 299, 301))):
                    for offset in offsets:
                        total, entries = await index.page(purpose, category, limit, offset, status)
                        assert total == len(want)
                        assert [e["path"] for e in entries] == want[offset : offset + limit], (
                            purpose,
                            category,
                            status,
                            offset,
                        )
            entry = (await index.page(None, None, 1, 17))[1][0]
            record = next(r for r in made if r.path == entry["path"])
            assert entry == record.list_view() == await index.get(record.path)

    asyncio.run(run())
