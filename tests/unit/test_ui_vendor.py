"""The web UI's vendored tus-js-client is exactly the pinned npm file, carries its licence and ships
in the package (the container image installs the wheel, so a file missing from package data is a 404)."""

import hashlib
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UI = ROOT / "service" / "ui"
VENDOR = UI / "vendor" / "tus-js-client"


def pinned() -> dict[str, str]:
    lines = (VENDOR / "VERSION").read_text().splitlines()
    return dict(line.split(" ", 1) for line in lines if line and not line.startswith("#"))


def test_the_bundle_matches_the_pinned_sha256():
    pin = pinned()
    assert pin["package"] == "tus-js-client" and pin["file"] == "dist/tus.min.js"
    assert pin["version"].count(".") == 2 and pin["integrity"].startswith("sha512-")
    bundle = (VENDOR / "tus.min.js").read_bytes()
    assert hashlib.sha256(bundle).hexdigest() == pin["sha256"]
    assert b".tus=" in bundle[:1000]  # the UMD bundle the page loads as window.tus


def test_the_licence_is_next_to_it():
    licence = (VENDOR / "LICENSE").read_text()
    assert licence.startswith("The MIT License") and "tus - Resumable File Uploads" in licence


def test_package_data_ships_every_vendored_file():
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["service.ui"]
    shipped = {path for pattern in patterns for path in UI.glob(pattern)}
    assert {path for path in VENDOR.iterdir()} <= shipped
    assert (UI / "index.html") in shipped and (UI / "js" / "upload.js") in shipped
