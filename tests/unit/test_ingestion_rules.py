"""Pure ingestion rules: content sniffing, thresholds, event schemas, webhook signatures."""

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from service.domain.events import FileProcessed, event_schemas, from_cloudevent, parse_event, to_cloudevent
from service.domain.sniff import SNIFF_BYTES, Sniffer, check_content
from service.domain.training import Threshold, parse_thresholds
from service.domain.webhooks import new_secret, parse_secrets
from service.errors import InvalidInput
from service.settings import Settings
from tests.samples import GOOD

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "events.schema.json"


@pytest.mark.parametrize("name", sorted(GOOD))
def test_real_samples_pass_the_sniff(name):
    data = GOOD[name][0]
    check_content(name, data[:SNIFF_BYTES], complete=len(data) <= SNIFF_BYTES)


@pytest.mark.parametrize("name, head, error", [
    ("a.txt", b"MZ\x90\x00", "NUL"),
    ("a.md", b"\xff\xfe", "UTF-8"),
    ("a.wav", b"ID3", "not WAV"),
    ("a.mp3", b"RIFF", "not MP3"),
    ("a.zip", b"\x1f\x8b", "not a zip"),
    ("a.tar", b"\x00" * 512, "not a tar"),
    ("a.json", b"hello", "like JSON"),
    ("a.xml", b"hello", "like XML"),
])
def test_mismatches_are_invalid_input(name, head, error):
    with pytest.raises(InvalidInput, match=error):
        check_content(name, head, complete=True)


def test_a_character_cut_by_the_window_is_fine_but_not_at_the_end():
    text = "é".encode() * SNIFF_BYTES  # 2 bytes each: the window ends inside one when odd
    check_content("a.txt", text[:SNIFF_BYTES - 1], complete=False)
    with pytest.raises(InvalidInput):
        check_content("a.txt", text[:3], complete=True)


def test_sniffer_checks_once_after_the_window_fills():
    sniffer = Sniffer("a.json")
    sniffer.feed(b"[" + b" " * (SNIFF_BYTES - 2))
    assert not sniffer.done
    sniffer.feed(b"  \x00 binary after the window is the parser's business")
    assert sniffer.done and sniffer.head == bytearray()
    bad = Sniffer("b.json")
    with pytest.raises(InvalidInput):
        bad.feed(b"x" * SNIFF_BYTES)


def test_thresholds_parse_and_bad_ones_fail_settings():
    assert parse_thresholds("audio:count=50,bytes=1000; text:count=2") == {
        "audio": Threshold(files=50, bytes=1000), "text": Threshold(files=2, bytes=0)}
    assert parse_thresholds("") == {}
    for bad in ("video:count=1", "audio:count=x", "audio:", "audio:size=3"):
        with pytest.raises(InvalidInput):
            parse_thresholds(bad)
    with pytest.raises(ValidationError, match="unknown category"):
        Settings(training_thresholds="video:count=1")


def test_event_schemas_are_stable():
    """A change here changes a public contract: regenerate docs/events.schema.json on purpose."""
    assert json.loads(SCHEMA_FILE.read_text()) == json.loads(json.dumps(event_schemas()))


def test_events_round_trip_and_unknown_types_fail():
    event = FileProcessed(path="ingestion/data/a.json", purpose="ingestion", category="data", filename="a.json",
                          size=2, hash="0" * 64, summary={"records": 1})
    again = parse_event(event.model_dump_json())
    assert again == event and type(again) is FileProcessed
    envelope = to_cloudevent(event.model_copy(update={"id": "1-0"}), "https://depot.example")
    assert envelope["type"] == "io.depot.file.processed" and envelope["subject"] == event.path
    assert envelope["data"]["summary"] == {"records": 1} and "time" not in envelope["data"]
    assert from_cloudevent(json.dumps(envelope)) == event.model_copy(update={"id": "1-0"})
    with pytest.raises(ValidationError):
        parse_event({"type": "file.exploded"})


def test_webhook_secrets_must_be_whsec_base64_of_24_to_64_bytes():
    one, two = new_secret(), new_secret()
    assert len(parse_secrets(f"{one} {two}")) == 2 and len(parse_secrets(f"{one},{two}")) == 2
    for bad in ("s3cret", "whsec_!!!", "whsec_" + "QUFB" * 4):  # not whsec_, not base64, 12 bytes
        with pytest.raises(ValueError):
            parse_secrets(bad)
    with pytest.raises(ValidationError, match="whsec_"):
        Settings(webhook_secret="s3cret")
