"""Scenario 5: a model import from the fake Hugging Face hub against huggingface_hub + boto3."""

from bench.measure import Outcome
from bench.stack import Stack


def run(stack: Stack, size: int, shards: int, rounds: int, out: Outcome) -> None:
    out.add(f"model import {size // 2**20} MiB in {shards} shards", "not measured: model import not available",
            ">= 0.8", None)
