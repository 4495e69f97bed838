"""GitHub imports end to end: branch, tag or sha, the tarball streamed in, no clone."""

import json

from tests.fakes.hf_hub import pickle_weights, safetensors_weights
from tests.integration.model_fixtures import created, follow, model_keys, stored

MIB = 1024 * 1024


def model_files(extra: bytes = b"") -> dict:
    return {
        "config.json": json.dumps({"model_type": "gpt2"}).encode(),
        "pytorch_model.bin": pickle_weights(9 * MIB, seed=3),
        "tokenizer.json": b'{"version": "1.0"}' + extra,
        "src/train.py": b"print('hi')\n",
    }


def import_gh(client, owner: str, repo: str, revision: str | None = None):
    body = {"owner": owner, "repo_name": repo} | ({"revision": revision} if revision else {})
    return client.post("/v1/upload/github", json=body)


def assert_model(s3, settings, mid: str, files: dict) -> None:
    bucket = settings.bucket("models")
    assert model_keys(s3, bucket, mid + "/") == sorted(f"{mid}/{p}" for p in files)
    for path, value in files.items():
        assert stored(s3, bucket, f"{mid}/{path}") == (value if isinstance(value, bytes) else value.read()), path


def test_branch_tag_and_sha_revisions(github, mclient, model_env, s3, settings):
    files = model_files()
    sha = github.add_commit("acme/gpt", files, branch="main", tag="v1.0")
    for revision, mid in [(None, "github/acme/gpt@main"), ("v1.0", "github/acme/gpt@v1.0"),
                          (sha[:10], f"github/acme/gpt@{sha[:10]}")]:
        task = follow(mclient, created(import_gh(mclient, "acme", "gpt", revision)), model_env)
        assert task["task_status"] == "DONE", task
        assert task["source"] == "GITHUB" and task["resolved_commit"] == sha
        assert_model(s3, settings, mid, files)
    assert github.authorized and all(github.authorized)  # the configured token was sent
    assert mclient.get("/v1/models", params={"source": "GITHUB"}).json()["total"] == 3
    assert sum(github.archives.values()) == 1  # the other two revisions came from the cache


def test_missing_repo_or_revision_is_404(github, mclient, s3, settings):
    github.add_commit("acme/gpt", model_files())
    for owner, repo, revision in [("acme", "ghost", None), ("acme", "gpt", "no-such-branch")]:
        answer = import_gh(mclient, owner, repo, revision)
        assert answer.status_code == 404, answer.text
        assert answer.json()["success"] is False
    assert model_keys(s3, settings.bucket("models"), "") == []


def test_invalid_names_are_400(mclient):
    for owner, repo, revision in [("-bad", "x", None), ("acme", "..", None), ("acme", "a/b", None),
                                  ("acme", "x", "../main"), ("ac me", "x", None)]:
        answer = import_gh(mclient, owner, repo, revision)
        assert answer.status_code == 400, (owner, repo, revision, answer.text)


def test_required_files_are_checked(github, mclient, model_env, s3, settings):
    github.add_commit("acme/notes", {"README.md": b"# notes", "config.json": b"{}"},
                      symlinks={"weights.bin": "/etc/passwd"})
    task = follow(mclient, created(import_gh(mclient, "acme", "notes")), model_env)
    assert task["task_status"] == "FAILED" and task["attempts"] == 1
    assert "lacks required files: *.safetensors or *.bin or *.pt" in task["error_msg"]  # config.json is there
    assert model_keys(s3, settings.bucket("models"), "github/") == []


def test_symlinks_in_the_archive_are_not_stored(github, mclient, model_env, s3, settings):
    files = model_files()
    github.add_commit("acme/links", files, symlinks={"escape": "../../etc/passwd"})
    assert follow(mclient, created(import_gh(mclient, "acme", "links")), model_env)["task_status"] == "DONE"
    assert_model(s3, settings, "github/acme/links@main", files)


def test_archive_500_twice_then_ok(github, mclient, model_env, s3, settings):
    files = model_files()
    github.add_commit("acme/flaky", files)
    location = created(import_gh(mclient, "acme", "flaky"))
    github.fail("/tarball/", status=502, times=2)
    task = follow(mclient, location, model_env)
    assert task["task_status"] == "DONE" and task["attempts"] == 3
    assert_model(s3, settings, "github/acme/flaky@main", files)


def test_same_revision_409_new_revision_201(github, mclient, model_env):
    github.add_commit("acme/gpt", model_files(), branch="main")
    github.add_commit("acme/gpt", model_files(b" "), branch="dev")
    first = created(import_gh(mclient, "acme", "gpt"))
    assert import_gh(mclient, "acme", "gpt", "main").status_code == 409
    created(import_gh(mclient, "acme", "gpt", "dev"))
    assert follow(mclient, first, model_env)["task_status"] == "DONE"
    assert import_gh(mclient, "acme", "gpt").status_code == 409
    empty = mclient.post("/v1/upload/github", json={"owner": "acme", "repo_name": "gpt", "revision": ""})
    assert empty.status_code == 409 and "github/acme/gpt@main" in empty.json()["error"], empty.text


def test_lfs_files_are_fetched_through_the_batch_api(github, mclient, model_env, s3, settings):
    weights = safetensors_weights(7 * MIB, seed=11)
    files = {"config.json": b'{"model_type": "bert"}', "model.safetensors": weights, "README.md": b"# lfs model"}
    github.add_commit("acme/lfs", files, lfs={"model.safetensors"})
    task = follow(mclient, created(import_gh(mclient, "acme", "lfs")), model_env)
    assert task["task_status"] == "DONE", task
    assert_model(s3, settings, "github/acme/lfs@main", files)  # the weights, never the pointer
    assert github.lfs_downloads[weights.sha256] == 1
    assert github.authorized and all(github.authorized)  # the batch request carried the token


def test_a_missing_lfs_object_fails_the_task_and_stores_nothing(github, mclient, model_env, s3, settings):
    files = {"config.json": b"{}", "model.safetensors": safetensors_weights(4096, seed=12)}
    sha = github.add_commit("acme/lfs-gone", files, lfs={"model.safetensors"})
    github.lfs_objects.clear()  # the pointer is in the archive, the object is not on the LFS server
    task = follow(mclient, created(import_gh(mclient, "acme", "lfs-gone")), model_env)
    assert task["task_status"] == "FAILED", task
    assert "model.safetensors: Git LFS object" in task["error_msg"] and "not available" in task["error_msg"]
    assert model_keys(s3, settings.bucket("models"), "github/") == [] and sha
