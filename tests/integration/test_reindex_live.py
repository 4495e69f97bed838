"""``depot reindex`` while Depot is in use: the rebuild pages through the manifests and builds a new
index generation beside the live one, then switches in one step. Uploads, deletes and status
changes made while it runs are neither lost nor brought back, and readers keep seeing the whole
live index until the switch."""

import asyncio

import httpx

from service.domain.records import Status
from service.settings import Settings
from service.wiring import open_clients
from tests.conftest import stored_keys

MANIFEST = ".meta.json"


def manifest_paths(s3, settings: Settings) -> set[str]:
    return {
        f"{purpose}/{key.removesuffix(MANIFEST)}"
        for purpose in ("training", "ingestion")
        for key in stored_keys(s3, settings.bucket(purpose))
        if key.endswith(MANIFEST)
    }


async def upload(http: httpx.AsyncClient, name: str, purpose: str = "training") -> str:
    response = await http.post(
        "/api/v1/data/upload",
        files={"file": (name, name.encode())},
        data={"purpose": purpose, "description": f"about {name}"},
    )
    assert response.status_code == 201, response.text
    return response.json()["file"]["path"]


def test_uploads_deletes_and_status_changes_during_a_reindex_are_kept(api, client, s3, settings, redis_client):
    async def run() -> tuple[set[str], set[str], set[str]]:
        async with httpx.AsyncClient(base_url=api.url, timeout=60) as http, open_clients(settings) as clients:
            files = clients.files
            before = [await upload(http, f"b{i}.txt", ("training", "ingestion")[i % 2]) for i in range(24)]
            live, added, deleted, done = set(before), set(), set(), set()

            async def step(i: int) -> None:
                """One write while the rebuild is between pages, then a read of the live index."""
                assert redis_client.ttl("depot:next") > 0  # being built, until the lease lapses
                if i % 3 == 0:
                    path = await upload(http, f"during{i}.csv", "ingestion")
                    added.add(path)
                    live.add(path)
                elif i % 3 == 1:
                    path = sorted(live - deleted - done)[i % 5]  # read already or not yet, by turns
                    assert (await http.delete(f"/api/v1/data/files/{path}")).status_code == 200
                    deleted.add(path)
                    live.discard(path)
                else:
                    path = sorted(live - deleted - done)[-1 - i % 4]
                    record = await files.record(path)
                    record.status = Status.done
                    await files.save_status(record)
                    done.add(path)
                listed = (await http.get("/api/v1/data/files", params={"limit": 1})).json()["total"]
                assert listed == len(live)  # never the half-built generation

            async def interleaved():
                i = 0
                async for record in files.manifests(page=2):
                    yield record
                    await step(i)
                    i += 1

            indexed = await files.index.rebuild(interleaved(), batch=2)
            assert indexed == len(live)
            return live, deleted, done

    live, deleted, done = asyncio.run(run())
    assert deleted and done and len(live) > 24 - len(deleted)
    assert manifest_paths(s3, settings) == live
    listing = client.get("/api/v1/data/files", params={"limit": 1000}).json()
    assert {f["path"] for f in listing["files"]} == live and listing["total"] == len(live)
    assert {f["path"] for f in listing["files"] if f["status"] == "done"} == done
    statuses = client.get("/api/v1/data/files", params={"status": "done", "limit": 1000}).json()
    assert {f["path"] for f in statuses["files"]} == done
    stats = client.get("/api/v1/data/stats").json()["stats"]
    assert stats["total_files"] == len(live)
    for path in deleted:
        assert client.get(f"/api/v1/data/files/{path}", params={"metadata": "true"}).status_code == 404
    assert redis_client.get("depot:next") is None and redis_client.get("depot:gen") is not None
    assert not any(redis_client.scan_iter("depot:ix0:*"))  # the old generation is gone


def test_reindex_pages_through_the_manifests_and_matches_them(api, client, s3, settings, redis_client):
    """A reindex with pages of 3 reads every manifest once and indexes exactly them; what a rebuild
    that died left behind (its generation, double writes into it) is cleared."""
    redis_client.set("depot:next", "99", ex=600)
    redis_client.zadd("depot:ix99:o:10", {"ghost.md": 1})
    paths = set()
    for i in range(10):
        response = client.post(
            "/api/v1/data/upload", files={"file": (f"p{i}.md", b"# hi")}, data={"purpose": "ingestion"}
        )
        paths.add(response.json()["file"]["path"])

    async def run() -> tuple[list[str], int]:
        async with open_clients(settings) as clients:
            seen = [record.path async for record in clients.files.manifests(page=3)]
            return seen, await clients.files.reindex(page=3)

    seen, indexed = asyncio.run(run())
    assert sorted(seen) == sorted(paths) and indexed == 10
    listing = client.get("/api/v1/data/files", params={"limit": 100}).json()
    assert {f["path"] for f in listing["files"]} == paths == manifest_paths(s3, settings)
    assert not redis_client.exists("depot:ix99:o:10", "depot:next")
