"""Model signatures made by the real ``model-signing`` package, verified against hashes Depot computed."""

import hashlib

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from model_signing import signing

from service.workers.model_signatures import SignatureError, load_trusted, verify


def write_key(path, key) -> str:
    path.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return str(path)


@pytest.fixture
def signed_model(tmp_path):
    """A model directory signed with a fresh P-256 key; the signature kept outside the files."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "bert"}')
    (model / "model.safetensors").write_bytes(b"\x08" + bytes(1000))
    key = ec.generate_private_key(ec.SECP256R1())
    private = tmp_path / "key.pem"
    private.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    signing.Config().use_elliptic_key_signer(private_key=private).sign(model, tmp_path / "model.sig")
    hashes = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in model.iterdir()}
    return (tmp_path / "model.sig").read_bytes(), hashes, write_key(tmp_path / "pub.pem", key)


def test_a_valid_signature_names_its_signer(signed_model, tmp_path):
    signature, hashes, public = signed_model
    signer = verify(signature, {**hashes, "model.sig": "ignored"}, load_trusted(public))
    assert signer.startswith("key sha256:") and len(signer) == len("key sha256:") + 64
    other = write_key(tmp_path / "other.pem", ec.generate_private_key(ec.SECP256R1()))
    assert verify(signature, hashes, load_trusted(f"{other}, {public}")) == signer  # rotation: any trusted key


def test_a_tampered_file_fails(signed_model):
    signature, hashes, public = signed_model
    with pytest.raises(SignatureError, match="changed since signing: model.safetensors"):
        verify(signature, {**hashes, "model.safetensors": "0" * 64}, load_trusted(public))
    with pytest.raises(SignatureError, match="not covered by the signature: extra.bin"):
        verify(signature, {**hashes, "extra.bin": "0" * 64}, load_trusted(public))
    with pytest.raises(SignatureError, match="missing: config.json"):
        verify(signature, {"model.safetensors": hashes["model.safetensors"]}, load_trusted(public))


def test_a_wrong_key_or_a_broken_bundle_fails(signed_model, tmp_path):
    signature, hashes, _ = signed_model
    wrong = write_key(tmp_path / "wrong.pem", ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(SignatureError, match="does not verify against any trusted key"):
        verify(signature, hashes, load_trusted(wrong))
    with pytest.raises(SignatureError, match="not a model-signing bundle"):
        verify(b"{not json", hashes, load_trusted(wrong))
    with pytest.raises(SignatureError, match="no trusted keys"):
        verify(signature, hashes, [])
