"""Schemathesis against the live OpenAPI document: a bounded, seeded run (examples, coverage,
fuzzing and stateful phases) that must find no server error and no response breaking the schema
(status code, content type or body). Upstreams are the fake Hub and GitHub, so imports answer
as they would in production instead of 503 for an unreachable internet."""

import subprocess
import sys
from pathlib import Path

MAX_EXAMPLES = 25
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def test_schemathesis_finds_no_server_error_and_no_schema_violation(model_api, clean, tmp_path: Path):
    result = subprocess.run(
        [str(Path(sys.executable).parent / "schemathesis"), "--no-color", "run",
         f"{model_api.url}/schema/openapi.json", "--checks", CHECKS, "--max-examples", str(MAX_EXAMPLES),
         "--seed", "20260112", "--request-timeout", "30", "--report", "junit", "--report-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=900, check=False, cwd=tmp_path,  # its cache stays out of the repo
    )
    summary = result.stdout[-6000:]
    print(summary[-1500:])  # the counts, for the README's Reliability section
    assert result.returncode == 0, summary
    assert "generated" in summary and "failures" not in summary.split("SUMMARY")[-1].split("Test cases")[-1], summary
