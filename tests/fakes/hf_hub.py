"""A small fake Hugging Face Hub on loopback, speaking the endpoints huggingface_hub uses.

``/api/models/{repo}[/revision/{rev}]`` (repo info with ``sha`` and ``siblings``),
``/api/models/{repo}/tree/{rev}`` (recursive, paged by ``Link`` like the Hub) and
``/{repo}/resolve/{rev}/{path}`` with ``X-Repo-Commit``, ``ETag``, ``Content-Length`` and
Range; the same for datasets under ``/api/datasets/...`` and ``/datasets/{repo}/resolve/...``;
LFS files redirect to a CDN path as the real Hub does. Missing things answer 404
with the Hub's ``X-Error-Code``. Files may be ``Generated`` (any size, never held in
memory), and faults can be injected: status codes for the next N matching requests, a
byte-rate limit. Run ``python -m tests.fakes.hf_hub`` to serve a demo model."""

import argparse
import hashlib
import json
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs, quote, unquote, urlsplit

from tests.fakes.server import FakeHandler, FakeServer

MIB = 1024 * 1024


@dataclass
class Generated:
    """``size`` deterministic bytes made on the fly from ``seed`` (1 MiB blocks)."""

    size: int
    seed: int = 0
    _sha256: str | None = None

    def chunks(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        end = self.size if end is None else end
        base = random.Random(self.seed).randbytes(MIB)
        pos = start
        while pos < end:
            n, offset = divmod(pos, MIB)
            block = n.to_bytes(8, "big") + base[8:]
            piece = block[offset:min(MIB, offset + end - pos)]
            yield piece
            pos += len(piece)

    def read(self) -> bytes:
        return b"".join(self.chunks())

    @property
    def sha256(self) -> str:
        if self._sha256 is None:
            digest = hashlib.sha256()
            for chunk in self.chunks():
                digest.update(chunk)
            self._sha256 = digest.hexdigest()
        return self._sha256


Content = bytes | Generated


def _size(c: Content) -> int:
    return len(c) if isinstance(c, bytes) else c.size


def _sha256(c: Content) -> str:
    return hashlib.sha256(c).hexdigest() if isinstance(c, bytes) else c.sha256


def _is_lfs(path: str, c: Content) -> bool:
    return isinstance(c, Generated) or path.endswith((".safetensors", ".bin", ".gguf", ".parquet")) or _size(c) >= MIB


@dataclass
class Repo:
    refs: dict[str, str] = field(default_factory=dict)  # branch or tag -> commit
    commits: dict[str, dict[str, Content]] = field(default_factory=dict)


class FakeHub(FakeServer):
    """Start with ``start()`` (or as a context manager); ``url`` is the endpoint to configure."""

    def __init__(self, page_size: int = 1000) -> None:
        super().__init__()
        self.repos: dict[str, Repo] = {}
        self.datasets: dict[str, Repo] = {}
        self.downloads: Counter[str] = Counter()  # "repo/path" -> GETs of the bytes
        self.rate: float | None = None  # bytes per second for file bodies
        self.page_size = page_size
        self.auth: list[str | None] = []  # the Authorization header of every request

    # setup -----------------------------------------------------------------------
    def add_model(self, repo_id: str, files: dict[str, Content], revision: str = "main") -> str:
        """Add a commit with exactly ``files`` and point ``revision`` at it; returns the sha."""
        return self._add(self.repos, repo_id, files, revision)

    def add_dataset(self, repo_id: str, files: dict[str, Content], revision: str = "main") -> str:
        """The same for a dataset repository (``repo_type="dataset"``)."""
        return self._add(self.datasets, repo_id, files, revision)

    @staticmethod
    def _add(repos: dict[str, Repo], repo_id: str, files: dict[str, Content], revision: str) -> str:
        digest = hashlib.sha1(repo_id.encode())
        for path in sorted(files):
            digest.update(f"{path}:{_sha256(files[path])}".encode())
        commit = digest.hexdigest()
        repo = repos.setdefault(repo_id, Repo())
        repo.commits[commit] = dict(files)
        repo.refs[revision] = commit
        return commit

    # lookups -------------------------------------------------------------------------
    def lookup(self, repo_id: str, revision: str, kind: str = "models"
               ) -> tuple[str | None, str | None, dict[str, Content] | None]:
        """(error code, commit, files); ``kind`` is models or datasets."""
        repo = (self.datasets if kind == "datasets" else self.repos).get(repo_id)
        if repo is None:
            return "RepoNotFound", None, None
        commit = repo.refs.get(revision) or (revision if revision in repo.commits else None)
        if commit is None:
            return "RevisionNotFound", None, None
        return None, commit, repo.commits[commit]


class _Handler(FakeHandler):
    fake: FakeHub

    def _json(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
        self.send(status, json.dumps(body).encode(), "application/json", headers)

    def _error(self, code: str, message: str) -> None:
        self._json(404, {"error": message}, {"X-Error-Code": code})

    def route(self) -> None:
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query)
        with self.fake.lock:
            self.fake.auth.append(self.headers.get("Authorization"))
        status = self.fake.take_fault(path)
        if status is not None:
            return self._json(status, {"error": f"injected {status}"})
        if m := re.match(r"^/api/(models|datasets)/(.+?)/tree/([^/]+)(?:/(.*))?$", path):
            return self._tree(unquote(m[2]), unquote(m[3]), unquote(m[4] or ""), query, m[1])
        if m := re.match(r"^/api/(models|datasets)/(.+?)/revision/([^/]+)$", path):
            return self._info(unquote(m[2]), unquote(m[3]), m[1])
        if m := re.match(r"^/api/(models|datasets)/([^/]+(?:/[^/]+)?)$", path):
            return self._info(unquote(m[2]), "main", m[1])
        if m := re.match(r"^/cdn/(datasets/)?([0-9a-f]{40})/(.+?)/-/(.+)$", path):
            return self._file(unquote(m[3]), m[2], unquote(m[4]), cdn=True, kind="datasets" if m[1] else "models")
        if m := re.match(r"^/datasets/(.+?)/resolve/([^/]+)/(.+)$", path):
            return self._file(unquote(m[1]), unquote(m[2]), unquote(m[3]), cdn=False, kind="datasets")
        if m := re.match(r"^/(.+?)/resolve/([^/]+)/(.+)$", path):
            return self._file(unquote(m[1]), unquote(m[2]), unquote(m[3]), cdn=False)
        self._json(404, {"error": "not found"})

    def _info(self, repo_id: str, revision: str, kind: str = "models") -> None:
        error, commit, files = self.fake.lookup(repo_id, revision, kind)
        if error:
            return self._error(error, f"{error} {repo_id}@{revision}")
        self._json(200, {
            "_id": hashlib.md5(repo_id.encode()).hexdigest()[:24], "id": repo_id, "modelId": repo_id,
            "sha": commit, "private": False, "gated": False, "disabled": False, "downloads": 0, "likes": 0,
            "tags": [], "lastModified": "2026-01-01T00:00:00.000Z",
            "siblings": [{"rfilename": p} for p in sorted(files)],
        })

    def _tree(self, repo_id: str, revision: str, under: str, query: dict, kind: str = "models") -> None:
        error, commit, files = self.fake.lookup(repo_id, revision, kind)
        if error:
            return self._error(error, f"{error} {repo_id}@{revision}")
        recursive = query.get("recursive", ["false"])[0].lower() == "true"
        prefix = f"{under.strip('/')}/" if under else ""
        entries, folders = [], set()
        for p in sorted(files):
            if not p.startswith(prefix):
                continue
            rest = p[len(prefix):]
            if "/" in rest and not recursive:
                folders.add(prefix + rest.split("/")[0])
                continue
            for i in range(rest.count("/")):
                folders.add(prefix + "/".join(rest.split("/")[: i + 1]))
            c = files[p]
            entry = {"type": "file", "oid": hashlib.sha1(p.encode()).hexdigest(), "size": _size(c), "path": p}
            if _is_lfs(p, c):
                entry["lfs"] = {"oid": _sha256(c), "size": _size(c), "pointerSize": 134}
            entries.append(entry)
        entries += [{"type": "directory", "oid": hashlib.sha1(f.encode()).hexdigest(), "size": 0, "path": f}
                    for f in sorted(folders)]
        cursor = int(query.get("cursor", ["0"])[0])
        page = entries[cursor:cursor + self.fake.page_size]
        headers = {}
        if cursor + self.fake.page_size < len(entries):
            after = cursor + self.fake.page_size
            base = f"{self.fake.url}{urlsplit(self.path).path}?recursive={recursive}&cursor={after}"
            headers["Link"] = f'<{base}>; rel="next"'
        self._json(200, page, headers)

    def _file(self, repo_id: str, revision: str, path: str, cdn: bool, kind: str = "models") -> None:
        error, commit, files = self.fake.lookup(repo_id, revision, kind)
        if error:
            return self._error(error, f"{error} {repo_id}@{revision}")
        if path not in files:
            return self._error("EntryNotFound", f"{path} not in {repo_id}@{commit}")
        content = files[path]
        lfs = _is_lfs(path, content)
        etag = _sha256(content) if lfs else hashlib.sha1(f"blob {_size(content)}\0".encode()).hexdigest()
        if lfs and not cdn:
            self.send_response(302)
            cdn_kind = "datasets/" if kind == "datasets" else ""
            self.send_header("Location", f"/cdn/{cdn_kind}{commit}/{quote(repo_id)}/-/{quote(path)}")
            self.send_header("X-Repo-Commit", commit)
            self.send_header("X-Linked-Etag", f'"{etag}"')
            self.send_header("X-Linked-Size", str(_size(content)))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        size = _size(content)
        start, end = 0, size
        if m := re.match(r"bytes=(\d+)-(\d*)$", self.headers.get("Range", "")):
            start, end = int(m[1]), min(size, int(m[2]) + 1 if m[2] else size)
        self.send_response(206 if (start, end) != (0, size) else 200)
        self.send_header("Content-Length", str(end - start))
        self.send_header("ETag", f'"{etag}"')
        self.send_header("X-Repo-Commit", commit)
        self.send_header("Accept-Ranges", "bytes")
        if (start, end) != (0, size):
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        self.end_headers()
        if self.command == "HEAD":
            return None
        with self.fake.lock:
            self.fake.downloads[f"{'datasets/' if kind == 'datasets' else ''}{repo_id}/{path}"] += 1
        pieces = ([content[start:end]] if isinstance(content, bytes) else content.chunks(start, end))
        for piece in pieces:
            for offset in range(0, len(piece), 64 * 1024):
                bit = piece[offset:offset + 64 * 1024]
                self.wfile.write(bit)
                if self.fake.rate:
                    time.sleep(len(bit) / self.fake.rate)
        return None


FakeHub.handler = _Handler


def demo_files(weights_size: int) -> dict[str, Content]:
    """A tiny BERT-like layout: config, tokenizer and (sharded) safetensors weights."""
    half = weights_size // 2
    return {
        "config.json": json.dumps({"model_type": "bert", "hidden_size": 32}).encode(),
        "tokenizer.json": json.dumps({"version": "1.0", "model": {"type": "WordPiece"}}).encode(),
        "model-00001-of-00002.safetensors": Generated(half, seed=1),
        "model-00002-of-00002.safetensors": Generated(weights_size - half, seed=2),
        "model.safetensors.index.json": json.dumps({"weight_map": {}}).encode(),
    }


def demo_datasets() -> dict[str, dict[str, Content]]:
    """A Parquet dataset with two splits and a JSONL chat dataset, each with files the allow-list skips."""
    from tests.ml_samples import CHAT, jsonl, parquet

    return {
        "depot/tiny-parquet": {
            "README.md": b"---\nconfigs: [{config_name: default}]\n---\n# tiny parquet\n",
            ".gitattributes": b"*.parquet filter=lfs diff=lfs merge=lfs -text\n",
            "data/train-00000-of-00001.parquet": parquet(10),
            "data/test-00000-of-00001.parquet": parquet(4, 2),
        },
        "depot/chat-sft": {
            "train.jsonl": jsonl(CHAT[:2] * 3),
            "valid.jsonl": jsonl(CHAT),
            "prepare.py": b"print('not data')\n",
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a fake Hugging Face Hub with one demo model.")
    parser.add_argument("--port", type=int, default=8900)
    parser.add_argument("--repo", default="depot/tiny-bert")
    parser.add_argument("--size", type=int, default=8 * MIB, help="bytes of weights")
    args = parser.parse_args()
    hub = FakeHub()
    commit = hub.add_model(args.repo, demo_files(args.size))
    for name, files in demo_datasets().items():
        hub.add_dataset(name, files)
    hub.start(args.port)
    print(f"fake hub on {hub.url}: {args.repo}@main = {commit}; datasets {', '.join(demo_datasets())}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
