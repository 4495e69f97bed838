"""OpenSSF model signing: verify a model's ``model.sig`` offline, against configured keys only.

The signature (a Sigstore bundle made by the ``model-signing`` package) carries a signed
manifest: every file of the model with its SHA-256. The bundle is checked with the
package's own key and certificate verifiers (no network: no Sigstore, no Rekor), then its
manifest is compared with the hashes Depot computed while storing the files, so the
model is never read a second time. A file signed but missing, present but unsigned, or
with another hash fails the verification."""

import hashlib
import pathlib
import tempfile
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization

SIGNATURE_FILE = "model.sig"


class SignatureError(Exception):
    """The model's signature is missing, does not verify, or does not match its files."""


@dataclass(frozen=True)
class TrustedKey:
    path: pathlib.Path
    signer: str  # what the manifest records: a key fingerprint or a certificate subject
    is_certificate: bool

    @classmethod
    def load(cls, path: str) -> "TrustedKey":
        data = pathlib.Path(path).read_bytes()
        if b"BEGIN CERTIFICATE" in data:
            cert = x509.load_pem_x509_certificate(data)
            return cls(pathlib.Path(path), f"certificate {cert.subject.rfc4514_string()}", True)
        key = serialization.load_pem_public_key(data)
        der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return cls(pathlib.Path(path), f"key sha256:{hashlib.sha256(der).hexdigest()}", False)


def load_trusted(paths: str) -> list[TrustedKey]:
    """``DEPOT_MODEL_TRUSTED_KEYS``: comma-separated PEM files (public keys or CA certificates) or
    folders of them (a mounted Kubernetes Secret: every regular file in it)."""
    files: list[pathlib.Path] = []
    for entry in (pathlib.Path(p.strip()) for p in paths.split(",") if p.strip()):
        files += sorted(f for f in entry.iterdir() if f.is_file()) if entry.is_dir() else [entry]
    return [TrustedKey.load(str(f)) for f in files]


def verify(signature: bytes, hashes: dict[str, str], trusted: list[TrustedKey]) -> str:
    """The signer of a valid signature over exactly ``hashes`` (path -> sha256 hex), else raise."""
    from model_signing._signing import sign_certificate, sign_ec_key, sign_sigstore_pb  # heavy: worker only

    if not trusted:
        raise SignatureError("the model is signed, but no trusted keys are configured (DEPOT_MODEL_TRUSTED_KEYS)")
    with tempfile.NamedTemporaryFile(suffix=".sig") as file:
        file.write(signature)
        file.flush()
        try:
            bundle = sign_sigstore_pb.Signature.read(pathlib.Path(file.name))
        except Exception as exc:  # noqa: BLE001 - any parse failure is an invalid signature
            raise SignatureError(f"{SIGNATURE_FILE} is not a model-signing bundle ({type(exc).__name__})") from None
    for key in trusted:
        verifier = sign_certificate.Verifier([key.path]) if key.is_certificate else sign_ec_key.Verifier(key.path)
        try:
            manifest = verifier.verify(bundle)
        except Exception:  # noqa: BLE001 - this key does not verify it; try the next
            continue
        _compare(manifest, hashes)
        return key.signer
    raise SignatureError(f"{SIGNATURE_FILE} does not verify against any trusted key")


def _compare(manifest, hashes: dict[str, str]) -> None:
    kind = manifest.serialization_type
    if kind.get("method") != "files" or kind.get("hash_type") != "sha256":
        raise SignatureError(
            f"signed with {kind.get('method')}/{kind.get('hash_type')} serialization; "
            "Depot verifies per-file sha256 manifests (the model-signing default)"
        )
    signed = {rd.identifier: rd.digest.digest_hex for rd in manifest.resource_descriptors()}
    ignored = tuple(kind.get("ignore_paths", ()))
    actual = {
        path: digest
        for path, digest in hashes.items()
        if path != SIGNATURE_FILE and not any(path == p or path.startswith(p + "/") for p in ignored)
    }
    if missing := sorted(signed.keys() - actual.keys()):
        raise SignatureError(f"signed files are missing: {', '.join(missing[:5])}")
    if unsigned := sorted(actual.keys() - signed.keys()):
        raise SignatureError(f"files not covered by the signature: {', '.join(unsigned[:5])}")
    if changed := sorted(p for p in signed if signed[p] != actual[p]):
        raise SignatureError(f"files changed since signing: {', '.join(changed[:5])}")
