"""``depot verify`` pages through each bucket's listing: manifests are checked a page at a time and
an orphan is reported once the listing has passed where its manifest would sort, so the report is
the same whatever the page size."""

import asyncio

from service.storage.verify import verify
from service.wiring import open_clients


def test_drift_and_orphans_are_found_across_page_boundaries(client, s3, settings):
    paths = []
    for i in range(7):
        response = client.post(
            "/api/v1/data/upload", files={"file": (f"v{i}.csv", b"a,b\n1,2\n")}, data={"purpose": "training"}
        )
        paths.append(response.json()["file"]["path"])
    bucket = settings.bucket("training")
    s3.put_object(Bucket=bucket, Key="data/0_orphan_first.csv", Body=b"x")  # sorts before every file
    s3.put_object(Bucket=bucket, Key="data/v3_orphan.csv", Body=b"x")  # between two files
    s3.put_object(Bucket=bucket, Key="text/zz_orphan_last.txt", Body=b"x")  # after every manifest
    missing = paths[4].split("/", 1)[1]
    s3.delete_object(Bucket=bucket, Key=missing)  # a manifest whose object is gone

    async def run(page: int):
        async with open_clients(settings) as clients:
            return await verify(clients.files, concurrency=2, page=page)

    reports = [asyncio.run(run(page)) for page in (1, 2, 1000)]
    expected = sorted(
        [
            f"{bucket}/data/0_orphan_first.csv: object without manifest (orphan)",
            f"{bucket}/data/v3_orphan.csv: object without manifest (orphan)",
            f"{bucket}/text/zz_orphan_last.txt: object without manifest (orphan)",
            f"{paths[4]}: object missing",
        ]
    )
    for report in reports:
        assert report.problems == expected
        assert report.checked == 6 and report.drift


def test_a_manifest_that_is_not_json_is_reported_and_skipped_by_reindex(client, s3, settings):
    """Garbage where a manifest should be: verify reports it, reindex indexes every other file."""
    kept = client.post("/api/v1/data/upload", files={"file": ("kept.csv", b"a,b\n1,2\n")}, data={"purpose": "training"})
    bucket = settings.bucket("training")
    s3.put_object(Bucket=bucket, Key="data/broken.csv", Body=b"x")
    s3.put_object(Bucket=bucket, Key="data/broken.csv.meta.json", Body=b"\x00 not json")

    async def run():
        async with open_clients(settings) as clients:
            return await verify(clients.files, concurrency=2), await clients.files.reindex()

    report, indexed = asyncio.run(run())
    assert report.problems == [
        f"{bucket}/data/broken.csv.meta.json: unreadable manifest (read data/broken.csv.meta.json: manifest is not JSON)"
    ]
    assert indexed == 1
    assert [f["path"] for f in client.get("/api/v1/data/files").json()["files"]] == [kept.json()["file"]["path"]]
