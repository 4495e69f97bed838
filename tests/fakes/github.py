"""A small fake GitHub REST API on loopback: repos, branches, tags, commits and tarballs.

``GET /repos/{o}/{r}``, ``/branches[/{b}]``, ``/tags``, ``/commits/{ref}`` (branch, tag or
sha, 422 when unknown, as GitHub answers) and ``/tarball/{ref}``, which redirects to a
codeload-style path serving a gzipped tar with one ``owner-repo-sha7/`` folder and a pax
global header, like GitHub's. A configured token must match when one is sent."""

import gzip
import hashlib
import io
import json
import re
import tarfile
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from tests.fakes.hf_hub import Content, Generated
from tests.fakes.server import FakeHandler, FakeServer


@dataclass
class GhRepo:
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    commits: dict[str, dict[str, Content]] = field(default_factory=dict)
    symlinks: dict[str, dict[str, str]] = field(default_factory=dict)  # commit -> link -> target


class FakeGitHub(FakeServer):
    def __init__(self, token: str = "ghp_fake_token") -> None:
        super().__init__()
        self.token = token
        self.reset()

    def reset(self) -> None:
        self.repos: dict[str, GhRepo] = {}
        self.faults.clear()
        self.archives: Counter[str] = Counter()  # sha -> tarball downloads
        self.authorized: list[bool] = []

    def add_commit(self, full_name: str, files: dict[str, Content], branch: str | None = "main",
                   tag: str | None = None, symlinks: dict[str, str] | None = None) -> str:
        digest = hashlib.sha1(full_name.encode())
        for path in sorted(files):
            body = files[path] if isinstance(files[path], bytes) else files[path].sha256.encode()
            digest.update(path.encode() + b"\0" + body)
        sha = digest.hexdigest()
        repo = self.repos.setdefault(full_name, GhRepo())
        repo.commits[sha] = dict(files)
        repo.symlinks[sha] = dict(symlinks or {})
        if branch:
            repo.branches[branch] = sha
        if tag:
            repo.tags[tag] = sha
        return sha

    def resolve(self, full_name: str, ref: str) -> str | None:
        repo = self.repos[full_name]
        if ref in repo.branches:
            return repo.branches[ref]
        if ref in repo.tags:
            return repo.tags[ref]
        matches = [sha for sha in repo.commits if len(ref) >= 7 and sha.startswith(ref)]
        return matches[0] if len(matches) == 1 else None

    def tarball(self, full_name: str, sha: str) -> bytes:
        top = f"{full_name.replace('/', '-')}-{sha[:7]}"
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT, pax_headers={"comment": sha}) as tar:
            folder = tarfile.TarInfo(top)
            folder.type, folder.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(folder)
            for path, content in sorted(self.repos[full_name].commits[sha].items()):
                data = content if isinstance(content, bytes) else content.read()
                info = tarfile.TarInfo(f"{top}/{path}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            for link, target in self.repos[full_name].symlinks[sha].items():
                info = tarfile.TarInfo(f"{top}/{link}")
                info.type, info.linkname = tarfile.SYMTYPE, target
                tar.addfile(info)
        return gzip.compress(raw.getvalue(), mtime=0)


class _Handler(FakeHandler):
    fake: FakeGitHub

    def _send(self, status: int, body: bytes, content_type: str = "application/json",
              headers: dict[str, str] | None = None) -> None:
        self.send(status, body, content_type, headers)

    def _json(self, status: int, body: object) -> None:
        self._send(status, json.dumps(body).encode())

    def route(self) -> None:
        path = urlsplit(self.path).path
        status = self.fake.take_fault(path)
        if status is not None:
            return self._json(status, {"message": f"injected {status}"})
        auth = self.headers.get("Authorization")
        if auth is not None:
            ok = auth == f"Bearer {self.fake.token}"
            self.fake.authorized.append(ok)
            if not ok:
                return self._json(401, {"message": "Bad credentials"})
        if m := re.match(r"^/codeload/([^/]+/[^/]+)/legacy\.tar\.gz/([0-9a-f]{40})$", path):
            with self.fake.lock:
                self.fake.archives[m[2]] += 1
            return self._send(200, self.fake.tarball(m[1], m[2]), "application/x-gzip")
        m = re.match(r"^/repos/([^/]+)/([^/]+)(?:/(.*))?$", path)
        if not m or f"{m[1]}/{m[2]}" not in self.fake.repos:
            return self._json(404, {"message": "Not Found", "status": "404"})
        name, rest = f"{m[1]}/{m[2]}", m[3] or ""
        repo = self.fake.repos[name]
        if rest == "":
            return self._json(200, {"id": 1, "name": m[2], "full_name": name, "default_branch": "main",
                                    "private": False})
        if rest == "branches":
            return self._json(200, [{"name": b, "commit": {"sha": s}} for b, s in repo.branches.items()])
        if rest.startswith("branches/"):
            branch = unquote(rest[len("branches/"):])
            if branch not in repo.branches:
                return self._json(404, {"message": "Branch not found"})
            return self._json(200, {"name": branch, "commit": {"sha": repo.branches[branch]}})
        if rest == "tags":
            return self._json(200, [{"name": t, "commit": {"sha": s}} for t, s in repo.tags.items()])
        if rest.startswith("commits/"):
            ref = unquote(rest[len("commits/"):])
            sha = self.fake.resolve(name, ref)
            if sha is None:
                return self._json(422, {"message": f"No commit found for SHA: {ref}"})
            return self._json(200, {"sha": sha, "commit": {"message": "fake"}})
        if rest.startswith("tarball/"):
            sha = self.fake.resolve(name, unquote(rest[len("tarball/"):]))
            if sha is None:
                return self._json(404, {"message": "Not Found"})
            return self._send(302, b"", headers={"Location": f"{self.fake.url}/codeload/{name}/legacy.tar.gz/{sha}"})
        return self._json(404, {"message": "Not Found"})


FakeGitHub.handler = _Handler

__all__ = ["FakeGitHub", "Generated"]
