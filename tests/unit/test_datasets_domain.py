"""Dataset imports' pure rules: the claim id, patterns, skip reasons and the resumable report."""

import pytest

from service.domain.categories import Category
from service.domain.datasets import add_to_report, check_patterns, dataset_claim, new_report, seen_paths, skip_reason
from service.errors import InvalidInput


def test_claim_is_per_repo_and_revision_and_never_a_model_key():
    assert dataset_claim("org/set", "refs/pr/1") == "_datasets/huggingface/org/set@refs~pr~1"
    assert dataset_claim("org/set", "main") != dataset_claim("org/set", "v1")


def test_patterns_are_bounded():
    assert check_patterns(None, "allow_patterns") is None
    assert check_patterns(["data/*.parquet"], "allow_patterns") == ["data/*.parquet"]
    for bad in (["a\tb"], [""], ["x" * 201], ["*"] * 51):
        with pytest.raises(InvalidInput):
            check_patterns(bad, "allow_patterns")


def test_skip_reasons_follow_the_upload_rules():
    assert skip_reason("data/train.parquet", 10, None, 100) is None
    assert "not allowed" in skip_reason(".gitattributes", 10, None, 100)
    assert "not allowed" in skip_reason("scripts/load.py", 10, None, 100)
    assert "'text', not 'data'" in skip_reason("README.md", 10, Category.data, 100)
    assert "upload limit of 100" in skip_reason("big.jsonl", 101, None, 100)


def test_report_counts_and_a_rerun_skips_what_was_decided():
    report = new_report()
    add_to_report(report, "stored", {"hub_path": "a.jsonl", "path": "training/data/a.jsonl"})
    add_to_report(report, "skipped", {"hub_path": "x.py", "reason": "not allowed"})
    add_to_report(report, "failed", {"hub_path": "b.parquet", "error": "not parquet"})
    assert (report["files_stored"], report["files_skipped"], report["files_failed"]) == (1, 1, 1)
    assert seen_paths(report) == {"a.jsonl", "x.py", "b.parquet"}
