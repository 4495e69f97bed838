"""The README stays true: every setting the service reads is documented there."""

from pathlib import Path

from service.settings import Settings

README = (Path(__file__).parents[2] / "README.md").read_text()


def test_every_setting_is_in_the_configuration_table():
    missing = [name for name in Settings.model_fields if f"DEPOT_{name.upper()}" not in README]
    assert missing == []


def test_the_two_commands_are_there():
    assert "make run" in README and "make test" in README
