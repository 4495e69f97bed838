"""Clients of the world outside: Hugging Face, GitHub, and the ZIP/tar readers.

Each importer resolves a source to a commit and yields its files as (path, byte chunks).
No Litestar here: the API (upstream checks) and the workers (imports) both use it."""

from dataclasses import dataclass

from service.upstreams.github import GitHub
from service.upstreams.hf_datasets import HubDatasets
from service.upstreams.huggingface import HuggingFace


@dataclass
class Upstreams:
    """The upstream clients of a process, sharing one pooled httpx client."""

    hf: HuggingFace
    github: GitHub
    hf_datasets: HubDatasets  # Hub datasets (API: existence check; worker: dataset imports)
