"""A small fake GitHub REST API on loopback: repos, branches, tags, commits and tarballs.

``GET /repos/{o}/{r}``, ``/branches[/{b}]``, ``/tags``, ``/commits/{ref}`` (branch, tag or
sha, 422 when unknown, as GitHub answers) and ``/tarball/{ref}``, which redirects to a
codeload-style path serving a gzipped tar with one ``owner-repo-sha7/`` folder and a pax
global header, like GitHub's. A configured token must match when one is sent.

Git LFS: files added as ``lfs`` appear in the tarball as pointer files (as GitHub's archives
hold them), and ``POST /{owner}/{repo}.git/info/lfs/objects/batch`` answers the batch API
with download actions pointing at ``/lfs-objects/{oid}`` (with a header the download must
carry, as the real batch API's actions do)."""

import base64
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
    lfs: dict[str, set[str]] = field(default_factory=dict)  # commit -> paths stored in LFS


LFS_ACTION_HEADER = "X-Fake-Lfs-Ticket"


def lfs_pointer(content: Content) -> bytes:
    size = len(content) if isinstance(content, bytes) else content.size
    sha = hashlib.sha256(content).hexdigest() if isinstance(content, bytes) else content.sha256
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha}\nsize {size}\n".encode()


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
        self.lfs_objects: dict[str, Content] = {}  # oid -> content
        self.lfs_downloads: Counter[str] = Counter()  # oid -> GETs

    def add_commit(
        self,
        full_name: str,
        files: dict[str, Content],
        branch: str | None = "main",
        tag: str | None = None,
        symlinks: dict[str, str] | None = None,
        lfs: set[str] | None = None,
    ) -> str:
        digest = hashlib.sha1(full_name.encode())
        for path in sorted(files):
            body = files[path] if isinstance(files[path], bytes) else files[path].sha256.encode()
            digest.update(path.encode() + b"\0" + body)
        sha = digest.hexdigest()
        repo = self.repos.setdefault(full_name, GhRepo())
        repo.commits[sha] = dict(files)
        repo.symlinks[sha] = dict(symlinks or {})
        repo.lfs[sha] = set(lfs or ())
        for path in repo.lfs[sha]:
            content = files[path]
            oid = hashlib.sha256(content).hexdigest() if isinstance(content, bytes) else content.sha256
            self.lfs_objects[oid] = content
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
                if path in self.repos[full_name].lfs[sha]:
                    data = lfs_pointer(content)
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

    def _send(
        self, status: int, body: bytes, content_type: str = "application/json", headers: dict[str, str] | None = None
    ) -> None:
        self.send(status, body, content_type, headers)

    def _json(self, status: int, body: object) -> None:
        self._send(status, json.dumps(body).encode())

    def do_POST(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path
        auth = self.headers.get("Authorization")
        if auth is not None:  # git's way: Basic with the token as password
            ok = auth == "Basic " + base64.b64encode(f"x-access-token:{self.fake.token}".encode()).decode()
            self.fake.authorized.append(ok)
            if not ok:
                return self._json(401, {"message": "Bad credentials"})
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        m = re.match(r"^/([^/]+/[^/]+)\.git/info/lfs/objects/batch$", path)
        if not m or m[1] not in self.fake.repos or self.headers.get("Accept") != "application/vnd.git-lfs+json":
            return self._json(404, {"message": "Not Found"})
        answers = []
        for obj in body.get("objects", []):
            content = self.fake.lfs_objects.get(obj.get("oid"))
            if content is None:
                answers.append({**obj, "error": {"code": 404, "message": "Object does not exist"}})
            else:
                href = f"{self.fake.url}/lfs-objects/{obj['oid']}"
                answers.append(
                    {
                        **obj,
                        "authenticated": True,
                        "actions": {
                            "download": {
                                "href": href,
                                "header": {LFS_ACTION_HEADER: obj["oid"][:8]},
                                "expires_in": 3600,
                            }
                        },
                    }
                )
        body = json.dumps({"transfer": "basic", "objects": answers, "hash_algo": "sha256"}).encode()
        self._send(200, body, "application/vnd.git-lfs+json")

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
        if m := re.match(r"^/lfs-objects/([0-9a-f]{64})$", path):
            content = self.fake.lfs_objects.get(m[1])
            if content is None or self.headers.get(LFS_ACTION_HEADER) != m[1][:8]:
                return self._json(404, {"message": "Not Found"})
            with self.fake.lock:
                self.fake.lfs_downloads[m[1]] += 1
            return self._send(
                200, content if isinstance(content, bytes) else content.read(), "application/octet-stream"
            )
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
            return self._json(
                200, {"id": 1, "name": m[2], "full_name": name, "default_branch": "main", "private": False}
            )
        if rest == "branches":
            return self._json(200, [{"name": b, "commit": {"sha": s}} for b, s in repo.branches.items()])
        if rest.startswith("branches/"):
            branch = unquote(rest[len("branches/") :])
            if branch not in repo.branches:
                return self._json(404, {"message": "Branch not found"})
            return self._json(200, {"name": branch, "commit": {"sha": repo.branches[branch]}})
        if rest == "tags":
            return self._json(200, [{"name": t, "commit": {"sha": s}} for t, s in repo.tags.items()])
        if rest.startswith("commits/"):
            ref = unquote(rest[len("commits/") :])
            sha = self.fake.resolve(name, ref)
            if sha is None:
                return self._json(422, {"message": f"No commit found for SHA: {ref}"})
            return self._json(200, {"sha": sha, "commit": {"message": "fake"}})
        if rest.startswith("tarball/"):
            sha = self.fake.resolve(name, unquote(rest[len("tarball/") :]))
            if sha is None:
                return self._json(404, {"message": "Not Found"})
            return self._send(302, b"", headers={"Location": f"{self.fake.url}/codeload/{name}/legacy.tar.gz/{sha}"})
        return self._json(404, {"message": "Not Found"})


FakeGitHub.handler = _Handler

__all__ = ["FakeGitHub", "Generated"]
