"""Quarantine, scan, publish: hostile models never appear; benign ones carry their report; signatures.

Real API and worker processes, SeaweedFS, Redis, the fake Hub; the hostile files come from
``tests.model_corpus``. After a refused import nothing is left but the task record."""

import hashlib
import io
import json
import pickle
import struct
import zipfile

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from model_signing import signing

from tests.fakes.hf_hub import safetensors_weights
from tests.integration.model_fixtures import created, follow, model_keys
from tests.model_corpus import GETATTR_CHAIN, System, gguf_claiming, torch_zip

MIB = 1024 * 1024
CONFIG = b'{"model_type": "bert"}'


def import_hf(mclient, hub, repo: str, files: dict) -> str:
    hub.add_model(repo, files)
    return created(mclient.post("/v1/upload/huggingface", json={"model_tag": repo}))


def only_tasks_left(s3, settings) -> None:
    """A refused import leaves its task record and nothing else: no staging, no files, no manifest."""
    keys = model_keys(s3, settings.bucket("models"), "")
    assert keys and all(k.startswith("_tasks/") for k in keys), keys
    assert s3.list_multipart_uploads(Bucket=settings.bucket("models")).get("Uploads", []) == []


def overlapping_safetensors() -> bytes:
    header = json.dumps(
        {
            "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
            "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
        }
    ).encode()
    return struct.pack("<Q", len(header)) + header + bytes(12)


HOSTILE = {
    "os.system pickle": ("pytorch_model.bin", pickle.dumps(System(), protocol=2), "posix.system"),
    "torch zip with data.pkl": ("model.pt", torch_zip(pickle.dumps(System(), protocol=2)), "archive/data.pkl"),
    "getattr chain": ("model.ckpt", GETATTR_CHAIN, "builtins.getattr"),
    "nested pickle": ("model.bin", pickle.dumps([pickle.loads, pickle.dumps(System())]), "_pickle.loads"),
    "safetensors 2^63 header": ("model.safetensors", struct.pack("<Q", 2**63) + b"{}", "cap"),
    "safetensors truncated": ("model.safetensors", safetensors_weights(4096).read()[:-100], "cover"),
    "safetensors overlapping": ("model.safetensors", overlapping_safetensors(), "overlaps"),
    "safetensors non-JSON header": ("model.safetensors", struct.pack("<Q", 5) + b"nope!" + bytes(8), "not JSON"),
    "safetensors header over the cap": ("model.safetensors", struct.pack("<Q", 200_000_000) + b"{}", "cap"),
    "gguf 2^40 tensors": ("model.gguf", gguf_claiming(2**40), f"claims {2**40} tensors"),
}


@pytest.mark.parametrize("case", HOSTILE, ids=list(HOSTILE))
def test_hostile_weights_fail_under_strict(case, hub, mclient, model_env, s3, settings):
    path, data, finding = HOSTILE[case]
    location = import_hf(mclient, hub, "acme/evil", {"config.json": CONFIG, path: data})
    task = follow(mclient, location, model_env)
    assert task["task_status"] == "FAILED", task
    assert task["error_msg"].startswith(f"unsafe model: {path}: ") and finding in task["error_msg"], task
    report = task["scan"]["huggingface/acme/evil@main"]
    assert report["verdict"] == "unsafe" and report["policy"] == "strict"
    assert mclient.get("/v1/models/huggingface/acme/evil@main").status_code == 404
    assert mclient.get("/v1/models").json()["total"] == 0
    only_tasks_left(s3, settings)


def test_hostile_zip_model_fails_and_leaves_nothing(mclient, model_env, s3, settings):
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w") as archive:
        archive.writestr("evil/config.json", CONFIG)
        archive.writestr("evil/pytorch_model.bin", torch_zip(pickle.dumps(System(), protocol=4)))
    response = mclient.post("/v1/upload/local", files={"file": ("models.zip", raw.getvalue(), "application/zip")})
    task = follow(mclient, created(response), model_env)
    assert (
        task["task_status"] == "FAILED"
        and "pytorch_model.bin: archive/data.pkl: calls posix.system" in (task["error_msg"])
    ), task
    only_tasks_left(s3, settings)


def test_benign_model_is_published_with_its_report(hub, mclient, model_env, s3, settings):
    files = {"config.json": CONFIG, "model.safetensors": safetensors_weights(6 * MIB, seed=3), "vocab.txt": b"a\n"}
    task = follow(mclient, import_hf(mclient, hub, "acme/good", files), model_env)
    assert task["task_status"] == "DONE", task
    model = mclient.get("/v1/models/huggingface/acme/good@main").json()
    by_path = {f["path"]: f for f in model["scan"]["files"]}
    assert model["scan"]["verdict"] == "safe" and model["scan"]["policy"] == "strict"
    assert by_path["model.safetensors"]["verdict"] == "safe" and by_path["model.safetensors"]["format"] == "safetensors"
    assert by_path["model.safetensors"]["scanner"] == "depot-scan" and by_path["model.safetensors"]["version"]
    assert by_path["config.json"]["verdict"] == "not_scanned"
    assert mclient.get("/v1/models").json()["models"][0]["scan_verdict"] == "safe"
    assert not model_keys(s3, settings.bucket("models"), "_staging/")  # staging is emptied once published


def test_warn_publishes_but_flags(hub, mclient, model_env, s3, settings):
    location = import_hf(mclient, hub, "acme/flagged", {"config.json": CONFIG, "model.bin": GETATTR_CHAIN})
    task = follow(mclient, location, {**model_env, "DEPOT_MODEL_SCAN": "warn"})
    assert task["task_status"] == "DONE", task
    model = mclient.get("/v1/models/huggingface/acme/flagged@main").json()
    assert model["scan"]["verdict"] == "unsafe" and model["scan"]["policy"] == "warn"
    assert "builtins.getattr" in model["scan"]["files"][1]["findings"][0]
    assert mclient.get("/v1/models").json()["models"][0]["scan_verdict"] == "unsafe"


# ---- signatures ------------------------------------------------------------------------------


@pytest.fixture
def signer(tmp_path):
    """A P-256 key pair: the private key signs model folders, the public key is trusted."""
    key = ec.generate_private_key(ec.SECP256R1())
    private = tmp_path / "signer.pem"
    private.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    public = tmp_path / "trusted" / "signer.pub.pem"
    public.parent.mkdir()
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    fingerprint = hashlib.sha256(
        key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ).hexdigest()
    return private, public.parent, fingerprint


def signed_files(tmp_path, private) -> dict[str, bytes]:
    folder = tmp_path / "model"
    folder.mkdir()
    files = {"config.json": CONFIG, "model.safetensors": safetensors_weights(4096, seed=8).read()}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    signing.Config().use_elliptic_key_signer(private_key=private).sign(folder, tmp_path / "model.sig")
    return {**files, "model.sig": (tmp_path / "model.sig").read_bytes()}


def test_signed_model_records_its_signer(signer, tmp_path, hub, mclient, model_env):
    private, trusted, fingerprint = signer
    env = {**model_env, "DEPOT_MODEL_TRUSTED_KEYS": str(trusted), "DEPOT_MODEL_REQUIRE_SIGNATURE": "true"}
    task = follow(mclient, import_hf(mclient, hub, "acme/signed", signed_files(tmp_path, private)), env)
    assert task["task_status"] == "DONE", task
    model = mclient.get("/v1/models/huggingface/acme/signed@main").json()
    assert model["signature"] == {"signer": f"key sha256:{fingerprint}", "file": "model.sig"}
    assert mclient.get("/v1/models").json()["models"][0]["signed_by"] == f"key sha256:{fingerprint}"


def test_tampered_wrong_key_and_unsigned_models_fail(signer, tmp_path, hub, mclient, model_env, s3, settings):
    private, trusted, _ = signer
    env = {**model_env, "DEPOT_MODEL_TRUSTED_KEYS": str(trusted), "DEPOT_MODEL_REQUIRE_SIGNATURE": "true"}
    files = signed_files(tmp_path, private)
    tampered = {**files, "config.json": b'{"model_type": "gpt2"}'}
    task = follow(mclient, import_hf(mclient, hub, "acme/tampered", tampered), env)
    assert task["task_status"] == "FAILED" and "changed since signing: config.json" in task["error_msg"], task

    other = tmp_path / "other"
    other.mkdir()
    (other / "k.pem").write_bytes(
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    wrong_key = {**env, "DEPOT_MODEL_TRUSTED_KEYS": str(other)}
    task = follow(mclient, import_hf(mclient, hub, "acme/wrong-key", files), wrong_key)
    assert task["task_status"] == "FAILED" and "does not verify against any trusted key" in task["error_msg"], task

    unsigned = {k: v for k, v in files.items() if k != "model.sig"}
    task = follow(mclient, import_hf(mclient, hub, "acme/unsigned", unsigned), env)
    assert task["task_status"] == "FAILED" and task["error_msg"].startswith("unsigned model"), task
    only_tasks_left(s3, settings)
    assert json.loads(s3.get_object(Bucket=settings.bucket("models"), Key=f"_tasks/{task['id']}.json")["Body"].read())
