"""What a model scan found: one report per file, the policy that decides what is published.

Pure code. The report travels in the model manifest, ``GET /v1/models/{id}`` and the task
status, so a user sees why a model was refused (or, under ``warn``, why it is flagged)."""

from enum import StrEnum

from pydantic import BaseModel, Field

MAX_FINDINGS = 20  # per file: the first findings say enough, and the report stays small


class ScanPolicy(StrEnum):
    STRICT = "strict"  # an unsafe file fails the import; nothing is published
    WARN = "warn"  # published, but flagged unsafe
    OFF = "off"  # not scanned


class Verdict(StrEnum):
    SAFE = "safe"  # a format we understand, and nothing wrong in it
    UNSAFE = "unsafe"  # a finding: code execution, a lie about sizes, a malformed header
    NOT_SCANNED = "not_scanned"  # not a weights format (config, tokenizer, README): nothing to run


class FileScan(BaseModel):
    path: str
    format: str
    verdict: Verdict
    findings: list[str] = Field(default_factory=list)
    scanner: str
    version: str


class ScanReport(BaseModel):
    policy: ScanPolicy
    verdict: Verdict
    files: list[FileScan] = Field(default_factory=list)

    @classmethod
    def of(cls, policy: ScanPolicy, files: list[FileScan]) -> "ScanReport":
        unsafe = any(f.verdict is Verdict.UNSAFE for f in files)
        return cls(policy=policy, verdict=Verdict.UNSAFE if unsafe else Verdict.SAFE, files=files)

    def first_finding(self) -> str | None:
        """``path: finding`` of the first unsafe file, for a task's ``error_msg``."""
        for f in self.files:
            if f.verdict is Verdict.UNSAFE:
                return f"{f.path}: {f.findings[0] if f.findings else 'unsafe'}"
        return None
