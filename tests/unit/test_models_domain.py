"""Names, ids and requirement rules of model imports (pure code, no servers)."""

import pytest

from service.domain.models import (
    HF_REQUIREMENTS,
    Source,
    check_github,
    check_hf_repo,
    check_local_name,
    check_member_path,
    check_revision,
    missing_requirements,
    model_id,
    parse_model_id,
    parse_requirements,
)
from service.errors import DependencyDown, InvalidInput, NotFound
from service.upstreams.base import Transient, is_transient


@pytest.mark.parametrize("good", ["bert-base-uncased", "google/bert_uncased_L-2_H-128", "a/b.c", "x"])
def test_hub_names_accepted(good):
    assert check_hf_repo(good) == good


@pytest.mark.parametrize("bad", ["", "../x", "a/../b", "a/b/c", "-a", "a--b", "a b", "/a", "a/", "a..b"])
def test_hub_names_refused(bad):
    with pytest.raises(InvalidInput):
        check_hf_repo(bad)


@pytest.mark.parametrize("bad", ["", "..", "a..b", "/main", "main/", "a//b", "x y", "a~b", "v1.lock", "a:b"])
def test_revisions_refused(bad):
    with pytest.raises(InvalidInput):
        check_revision(bad)


def test_github_and_local_names():
    assert check_github("huggingface", "transformers") == "huggingface/transformers"
    for owner, repo in [("-x", "r"), ("o", ".."), ("o", "a/b"), ("o_o", "r")]:
        with pytest.raises(InvalidInput):
            check_github(owner, repo)
    with pytest.raises(InvalidInput):
        check_local_name("_hidden")


@pytest.mark.parametrize("source,name,revision", [
    (Source.HUGGINGFACE, "org/bert", "refs/pr/1"), (Source.GITHUB, "acme/gpt", "v1.0"),
    (Source.LOCAL, "my_model", "main"),
])
def test_model_ids_round_trip(source, name, revision):
    mid = model_id(source, name, revision)
    assert "~" in mid or "/" not in revision
    assert parse_model_id(mid) == (source, name, revision)
    assert parse_model_id("/" + mid) == (source, name, revision)


@pytest.mark.parametrize("bad", ["svn/x@main", "huggingface/x", "local/../x@main", "local/x@a..b"])
def test_bad_model_ids(bad):
    with pytest.raises(InvalidInput):
        parse_model_id(bad)


@pytest.mark.parametrize("bad", ["../x", "/abs", "a//b", "a\\b", "C:/x", "a/./b", "a\nb", ""])
def test_member_paths(bad):
    with pytest.raises(InvalidInput):
        check_member_path(bad)


def test_requirements():
    rules = parse_requirements("config.json; pytorch_model.bin, *.safetensors ;tokenizer.json")
    assert rules == [["config.json"], ["pytorch_model.bin", "*.safetensors"], ["tokenizer.json"]]
    assert missing_requirements(["config.json", "model-00001-of-00002.safetensors", "tokenizer.json"], rules) == []
    assert missing_requirements(["sub/config.json"], rules) == ["pytorch_model.bin or *.safetensors",
                                                               "tokenizer.json"]
    assert missing_requirements(["config.json", "pytorch_model-00001-of-00003.bin"], HF_REQUIREMENTS) == []
    assert missing_requirements(["README.md"], HF_REQUIREMENTS)[0] == "config.json"


def test_transient_faults_are_retried_permanent_are_not():
    assert is_transient(Transient("502")) and is_transient(DependencyDown("s3 down"))
    assert is_transient(TimeoutError())
    assert not is_transient(NotFound("gone")) and not is_transient(InvalidInput("bad"))
