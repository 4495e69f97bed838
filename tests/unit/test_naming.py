from datetime import UTC, datetime

import pytest

from service.domain.categories import Category, Purpose, category_for, content_type_for, parse_purpose
from service.domain.naming import check_original_filename, parse_file_path, sanitise_stem, saved_name
from service.errors import Forbidden, InvalidInput

NOW = datetime(2026, 1, 12, 23, 45, tzinfo=UTC)


@pytest.mark.parametrize(
    "filename, category",
    [("a.json", "data"), ("A.YML", "data"), ("x.csv", "data"), ("n.md", "text"), ("l.log", "text"),
     ("v.wav", "audio"), ("s.flac", "audio"), ("b.tar.gz", "archive"), ("b.tgz", "archive"), ("z.zip", "archive")],
)
def test_category_follows_extension(filename, category):
    assert category_for(filename) == Category(category)


@pytest.mark.parametrize("filename", ["a.exe", "a.jpg.php", "noext", "a.php%00.gif", ".json"])
def test_disallowed_extensions_are_400(filename):
    with pytest.raises(InvalidInput):
        category_for(filename)


def test_explicit_category_must_agree():
    assert category_for("v.wav", "audio") is Category.audio
    with pytest.raises(InvalidInput, match="not 'audio'"):
        category_for("notes.txt", "audio")
    with pytest.raises(InvalidInput, match="unknown category"):
        category_for("notes.txt", "text/../x")


def test_purpose_defaults_to_ingestion_and_rejects_unknown():
    assert parse_purpose(None) is Purpose.ingestion
    assert parse_purpose("training") is Purpose.training
    with pytest.raises(InvalidInput):
        parse_purpose("training/../x")


@pytest.mark.parametrize(
    "raw",
    ["", "   ", None, "../etc/passwd.txt", "..\\win.txt", "C:evil.txt", "/abs.txt", "a\x00b.txt",
     "a\x07.txt", "rtl\u202egnp.txt", "x" * 300 + ".txt", "..", "a..b.txt"],
)
def test_hostile_original_filenames_are_400(raw):
    with pytest.raises(InvalidInput):
        check_original_filename(raw)


def test_nfd_names_are_normalised_to_nfc():
    assert check_original_filename("cafe\u0301.txt") == "caf\u00e9.txt"


def test_saved_name_is_safe_and_unique():
    a, b = saved_name("My Report (final).json", NOW), saved_name("My Report (final).json", NOW)
    assert a != b
    assert a.startswith("My_Report_final_20260112_234500_") and a.endswith(".json")
    assert sanitise_stem("über.txt") == "uber"
    assert sanitise_stem("日本.txt") == "file"
    assert sanitise_stem("x.meta.json") == "x_meta"


def test_parse_file_path_accepts_stored_paths():
    assert parse_file_path("training/audio/voice_20260112_234500_ab12cd34.wav") == (
        Purpose.training, Category.audio, "voice_20260112_234500_ab12cd34.wav")
    assert parse_file_path("/ingestion/data/x.json")[0] is Purpose.ingestion


@pytest.mark.parametrize(
    "path",
    ["../etc/passwd", "training/../../etc/passwd", "training/audio/../x.wav", "training/audio/..",
     "training/audio/a/b.wav", "training/audio", "other/audio/x.wav", "training/video/x.wav",
     "training/audio/%2e%2e", "training/audio/x.wav.meta.json", "training/audio/.hidden",
     "training/audio/a\\b.wav", "training/audio/a\x00.wav", "training//x.wav"],
)
def test_parse_file_path_rejects_everything_else_with_403(path):
    with pytest.raises(Forbidden):
        parse_file_path(path)


def test_content_types():
    assert content_type_for("a.json") == "application/json"
    assert content_type_for("a.yaml") == "application/yaml"
    assert content_type_for("a.wav").startswith("audio/")
