"""Regenerate the UI screenshots in docs/: ``python -m tests.e2e.screenshots docs``.

Starts a throwaway stack (SeaweedFS, Redis, the API, a worker, the fake hub), fills it with
plausible data through the public API, and photographs every page in headless Chromium at
desktop and phone widths."""

import io
import json
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import httpx

from service.devstack import stack_env, start_redis, start_seaweedfs
from tests.e2e.browser import launch
from tests.fakes.hf_hub import FakeHub, demo_files
from tests.support import start_api


def tone(seconds: float) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(bytes(int(seconds * 16000) * 2))
    return buffer.getvalue()


SAMPLES = [
    ("voice_sample_01.wav", tone(2.0), "training", "Echo voice sample, session 1"),
    ("voice_sample_02.wav", tone(3.5), "training", "Echo voice sample, session 1"),
    ("bot_knowledge.json", json.dumps({"faq": [{"q": f"q{i}", "a": f"a{i}"} for i in range(400)]}).encode(),
     "training", "Bot knowledge base"),
    ("qa_pairs.csv", b"question,answer\n" + b"what,that\n" * 3000, "training", "Question and answer pairs"),
    ("metrics.json", json.dumps({"cpu": list(range(2000))}).encode(), "ingestion", "Prometheus export"),
    ("application.log", b"INFO started\nWARN slow request\n" * 900, "ingestion", "Application logs"),
    ("release_notes.md", b"# Release notes\n\n- faster uploads\n" * 40, "ingestion", ""),
    ("archive_2026_01.zip", b"PK\x05\x06" + bytes(18), "ingestion", "January archive"),
]


def main(target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch, FakeHub() as hub:
        work = Path(scratch)
        hub.add_model("depot/tiny-bert", demo_files(6 * 1024 * 1024))
        s3, redis = start_seaweedfs(work / "s3"), start_redis(work / "redis")
        env = {**stack_env(s3, redis), "DEPOT_HF_ENDPOINT": hub.url, "DEPOT_LOG_JSON": "true"}
        api = start_api(env, work, ready_path="/health/ready")
        worker = subprocess.Popen([sys.executable, "-m", "service", "worker"], env=api.env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            with httpx.Client(base_url=api.url, timeout=60) as http:
                for name, data, purpose, description in SAMPLES:
                    http.post("/api/v1/data/upload", data={"purpose": purpose, "description": description},
                              files={"file": (name, data)}).raise_for_status()
            shoot(api.url, target, work)
        finally:
            worker.terminate()
            worker.wait(30)
            api.stop()
            redis.stop()
            s3.stop()


def shoot(url: str, target: Path, work: Path) -> None:
    with launch() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 860}, base_url=url)
        page.goto("/ui#upload")
        files = []
        for name, size in (("voice_sample_03.wav", 900_000), ("voice_sample_04.wav", 1_400_000),
                           ("notes.exe", 2000)):
            path = work / name
            path.write_bytes(tone(size / 32000) if name.endswith(".wav") else b"MZ")
            files.append(path)
        view = page.locator("#view-upload")
        view.get_by_label("Purpose").select_option("training")
        view.get_by_label("Description").fill("Echo voice sample, session 2")
        page.locator("#upload-files").set_input_files(files)
        page.get_by_role("button", name="Upload", exact=True).click()
        page.wait_for_selector("#upload-queue li.failed")
        page.locator("#upload-queue li.done").nth(1).wait_for()  # (the page's CSP forbids eval: no wait_for_function)
        extra = work / "dataset_v2.csv"
        extra.write_bytes(b"a,b\n1,2\n")
        page.locator("#upload-files").set_input_files([extra])
        page.screenshot(path=str(target / "ui-upload.png"), full_page=True)

        page.goto("/ui#browse")
        page.wait_for_selector("#files-body tr")
        page.screenshot(path=str(target / "ui-browse.png"), full_page=True)
        page.locator("#files-body tr").nth(2).get_by_role("button", name="Metadata", exact=False).click()
        page.wait_for_selector("#meta-dialog[open]")
        page.screenshot(path=str(target / "ui-metadata.png"))
        page.keyboard.press("Escape")

        page.goto("/ui#stats")
        page.wait_for_selector("#stats-chart svg")
        page.screenshot(path=str(target / "ui-stats.png"), full_page=True)

        page.goto("/ui#models")
        page.get_by_label("Model id").fill("depot/tiny-bert")
        page.get_by_role("button", name="Start import").click()
        page.wait_for_selector("#tasks-body .badge.DONE", timeout=120000)
        page.wait_for_selector("#models-list details")
        page.locator("#models-list summary").first.click()
        page.wait_for_selector("#models-list details tbody tr")
        time.sleep(0.3)
        page.screenshot(path=str(target / "ui-models.png"), full_page=True)

        page.set_viewport_size({"width": 390, "height": 844})
        page.goto("/ui#browse")
        page.wait_for_selector("#files-body tr")
        page.screenshot(path=str(target / "ui-browse-narrow.png"), full_page=True)
        page.goto("/ui#upload")
        page.screenshot(path=str(target / "ui-upload-narrow.png"), full_page=True)
    print(f"screenshots written to {target}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs"))
