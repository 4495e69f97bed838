"""The web UI in headless Chromium against a real API: upload, browse, download, delete, stats, import."""

import json
import re
import subprocess
import sys
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.fakes.hf_hub import FakeHub, safetensors_weights


def seed(http, name: str, data: bytes, purpose: str, description: str = "") -> dict:
    response = http.post("/api/v1/data/upload", data={"purpose": purpose, "description": description},
                         files={"file": (name, data)})
    assert response.status_code == 201, response.text
    return response.json()["file"]


def rows(ui: Page):
    return ui.locator("#files-body tr")


def test_upload_two_files_and_see_them_listed(ui: Page, http, tmp_path: Path):
    first = tmp_path / "voice_notes.txt"
    first.write_bytes(b"hello from the browser\n" * 200)
    second = tmp_path / "dataset.json"
    second.write_bytes(json.dumps({"rows": list(range(500))}).encode())
    bad = tmp_path / "setup.exe"
    bad.write_bytes(b"MZ not allowed")
    ui.goto("/ui#upload")
    form = ui.locator("#view-upload")
    form.get_by_label("Purpose").select_option("training")
    form.get_by_label("Description").fill("from the browser")
    form.get_by_label("Metadata").fill('{"source": "ui-test"}')
    ui.locator("#upload-files").set_input_files([first, second, bad])
    expect(ui.locator("#upload-queue li")).to_have_count(3)
    ui.get_by_role("button", name="Upload", exact=True).click()

    expect(ui.locator("#upload-queue li.done")).to_have_count(2)
    failed = ui.locator("#upload-queue li.failed")
    expect(failed).to_have_count(1)
    expect(failed).to_contain_text("setup.exe")
    expect(failed.locator(".state")).to_contain_text("not allowed")
    expect(ui.locator('#upload-queue li[data-name="voice_notes.txt"] .state')).to_contain_text("training/text/")
    assert ui.locator('#upload-queue li[data-name="dataset.json"] progress').evaluate("p => p.value") == 1

    ui.get_by_role("link", name="Browse").click()
    expect(rows(ui)).to_have_count(2)
    expect(ui.locator("#files-body")).to_contain_text("voice_notes.txt")
    expect(ui.locator("#files-body")).to_contain_text("dataset.json")
    listed = http.get("/api/v1/data/files").json()["files"]
    assert sorted(f["original_filename"] for f in listed) == ["dataset.json", "voice_notes.txt"]
    assert {f["description"] for f in listed} == {"from the browser"}
    meta = http.get(f"/api/v1/data/files/{listed[0]['path']}", params={"metadata": "true"}).json()["metadata"]
    assert meta["metadata"] == {"source": "ui-test"}


def test_filter_download_metadata_and_delete(ui: Page, http, tmp_path: Path):
    seed(http, "notes.txt", b"just text\n", "training")
    seed(http, "events.json", b'{"kind": "ingest"}', "ingestion")
    table = b"a,b\n" + b"".join(f"{i},{i * i}\n".encode() for i in range(2000))
    target = seed(http, "squares.csv", table, "training", "squares")
    ui.goto("/ui#browse")
    expect(rows(ui)).to_have_count(3)
    expect(rows(ui).first).to_contain_text("squares.csv")  # newest first

    browse = ui.locator("#view-browse")
    browse.get_by_label("Purpose").select_option("training")
    expect(rows(ui)).to_have_count(2)
    browse.get_by_label("Category").select_option("data")
    expect(rows(ui)).to_have_count(1)
    row = rows(ui).first
    expect(row).to_contain_text("squares.csv")
    expect(row).to_contain_text(target["hash"][:12])

    with ui.expect_download() as caught:
        row.get_by_role("button", name="Download squares.csv").click()
    assert Path(caught.value.path()).read_bytes() == table

    row.get_by_role("button", name="Metadata of squares.csv").click()
    dialog = ui.locator("#meta-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(target["hash"])
    expect(dialog).to_contain_text("squares")
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()

    row.get_by_role("button", name="Delete squares.csv").click()
    confirm = ui.locator("#confirm-dialog")
    confirm.get_by_role("button", name="Cancel").click()
    expect(rows(ui)).to_have_count(1)
    assert http.get(f"/api/v1/data/files/{target['path']}", params={"metadata": "true"}).status_code == 200
    row.get_by_role("button", name="Delete squares.csv").click()
    confirm.get_by_role("button", name="Delete").click()
    expect(ui.locator("#files-empty")).to_be_visible()
    assert http.get(f"/api/v1/data/files/{target['path']}", params={"metadata": "true"}).status_code == 404
    browse.get_by_label("Category").select_option("")
    expect(rows(ui)).to_have_count(1)
    expect(rows(ui).first).to_contain_text("notes.txt")


def test_pagination_is_newest_first(ui: Page, http):
    for i in range(12):
        seed(http, f"log{i:02d}.log", f"line {i}\n".encode(), "ingestion")
    ui.goto("/ui#browse")
    ui.get_by_label("Per page").select_option("10")
    expect(rows(ui)).to_have_count(10)
    expect(ui.locator("#page-info")).to_have_text("1–10 of 12")
    expect(rows(ui).first).to_contain_text("log11.log")
    ui.get_by_role("button", name="Older →").click()
    expect(rows(ui)).to_have_count(2)
    expect(rows(ui).last).to_contain_text("log00.log")
    expect(ui.get_by_role("button", name="Older →")).to_be_disabled()
    ui.locator("#view-browse").get_by_label("Status").select_option("failed")  # valid logs never fail
    expect(ui.locator("#files-empty")).to_be_visible()
    expect(rows(ui)).to_have_count(0)


def test_stats_numbers_match_the_api(ui: Page, http):
    seed(http, "a.txt", b"a" * 1000, "training")
    seed(http, "b.txt", b"b" * 3000, "training")
    seed(http, "c.json", b'{"c": 1}', "ingestion")
    seed(http, "d.md", b"# d\n" * 10, "ingestion")
    stats = http.get("/api/v1/data/stats").json()["stats"]
    ui.goto("/ui#stats")
    expect(ui.locator("#stat-files")).to_have_text(str(stats["total_files"]))
    expect(ui.locator("#stats-total-count")).to_have_text(str(stats["total_files"]))
    for purpose, group in stats["by_purpose"].items():
        expect(ui.locator(f"#stat-{purpose}")).to_contain_text(f"{group['count']} files")
        for category, cell in group["by_category"].items():
            count = ui.locator(f'#stats-body tr[data-purpose="{purpose}"][data-category="{category}"] td.num').first
            expect(count).to_have_text(str(cell["count"]))
    assert ui.locator("#stats-chart svg rect.bar").count() == sum(
        len(g["by_category"]) for g in stats["by_purpose"].values())
    ui.get_by_role("button", name="Bytes").click()
    expect(ui.get_by_role("button", name="Bytes")).to_have_attribute("aria-pressed", "true")
    expect(ui.locator("#stats-chart desc")).to_contain_text("text: 3.9 KiB")


def test_api_key_is_kept_for_the_session_and_sent(ui: Page, http):
    seed(http, "k.txt", b"key test", "training")
    ui.goto("/ui#browse")
    expect(rows(ui)).to_have_count(1)
    ui.get_by_label("API key").fill("dpk_test_secret")
    with ui.expect_request(re.compile(r"/api/v1/data/files\?")) as sent:
        ui.get_by_role("button", name="Save").click()
    assert sent.value.headers.get("authorization") == "Bearer dpk_test_secret"
    assert ui.evaluate("sessionStorage.getItem('depot.apiKey')") == "dpk_test_secret"
    ui.reload()
    expect(ui.get_by_label("API key")).to_have_value("dpk_test_secret")
    with ui.expect_download() as caught:  # with a key, downloads go through fetch with the header
        rows(ui).first.get_by_role("button", name="Download k.txt").click()
    assert Path(caught.value.path()).read_bytes() == b"key test"
    ui.get_by_role("button", name="Clear").click()
    assert ui.evaluate("sessionStorage.getItem('depot.apiKey')") is None


def test_every_control_has_a_label_and_narrow_screens_do_not_scroll_sideways(ui: Page):
    ui.set_viewport_size({"width": 380, "height": 800})
    for view in ("upload", "browse", "stats", "models"):
        ui.goto(f"/ui#{view}")
        expect(ui.locator(f"#view-{view}")).to_be_visible()
        unlabelled = ui.evaluate("""() => [...document.querySelectorAll('input, select, textarea, button')]
            .filter(e => e.offsetParent !== null && e.type !== 'radio')
            .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim())
            .map(e => e.id || e.outerHTML)""")
        assert unlabelled == [], view
        overflow = ui.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{view} scrolls sideways by {overflow}px"
    ui.goto("/ui#upload")
    ui.reload()  # a fresh document: focus starts at the top
    ui.keyboard.press("Tab")
    assert ui.evaluate("document.activeElement.textContent") == "Skip to content"
    ui.keyboard.press("Tab")
    assert ui.evaluate("document.activeElement.textContent") == "Upload"
    ui.keyboard.press("Tab")
    ui.keyboard.press("Enter")
    expect(ui.locator("#view-browse")).to_be_visible()


def test_ui_assets_are_local_and_guarded(http):
    page = http.get("/ui")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert not re.search(r"(src|href)=\"https?://", page.text)
    for asset in re.findall(r"(?:src|href)=\"(/ui/static/[^\"]+)\"", page.text):
        assert http.get(asset).status_code == 200, asset
    assert http.get("/ui/static/js/app.js").headers["content-type"].startswith("text/javascript")
    assert http.get("/ui/static/../../settings.py").status_code == 404
    assert http.get("/ui/static/__init__.py").status_code == 404


def run_worker_until_done(task, env: dict[str, str]) -> None:
    """A real worker beside the UI until the task row's badge says DONE."""
    worker = subprocess.Popen([sys.executable, "-m", "service", "worker"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        expect(task.locator(".badge")).to_have_text("DONE", timeout=90000)
    finally:
        worker.terminate()
        worker.wait(30)


def test_import_a_model_from_the_fake_hub_reaches_done(ui: Page, http, fake_hub: FakeHub, ui_api):
    files = {"config.json": b'{"model_type": "bert"}', "tokenizer.json": b'{"version": "1.0"}',
             "model.safetensors": safetensors_weights(3 * 1024 * 1024, seed=5)}
    fake_hub.add_model("acme/ui-bert", files)
    ui.goto("/ui#models")
    expect(ui.locator("#tasks-empty")).to_be_visible()
    ui.get_by_label("Model id").fill("acme/ui-bert")
    ui.get_by_role("button", name="Start import").click()
    task = ui.locator("#tasks-body tr").first
    expect(task).to_contain_text("acme/ui-bert@main")
    expect(task.locator(".badge")).to_have_text(re.compile("PENDING|RUNNING"))
    run_worker_until_done(task, ui_api.env)
    model = ui.locator('#models-list details[data-model="huggingface/acme/ui-bert@main"]')
    expect(model).to_contain_text("3 files")
    expect(model.locator(".badge.scan-safe")).to_have_text("scanned")  # the scan verdict's badge
    model.locator("summary").click()
    expect(model.locator("tbody tr")).to_have_count(3)
    expect(model).to_contain_text("model.safetensors")
    listed = http.get("/v1/models").json()["models"]
    assert [m["id"] for m in listed] == ["huggingface/acme/ui-bert@main"]


def test_import_a_dataset_from_the_fake_hub_shows_its_report(ui: Page, http, fake_hub: FakeHub, ui_api):
    from tests.fakes.hf_hub import demo_datasets

    fake_hub.add_dataset("depot/tiny-parquet", demo_datasets()["depot/tiny-parquet"])
    ui.goto("/ui#models")
    ui.get_by_label("Hugging Face dataset").check()
    ui.get_by_label("Dataset id").fill("depot/tiny-parquet")
    ui.locator("#ds-purpose").select_option("training")
    ui.get_by_role("button", name="Start import").click()
    task = ui.locator("#tasks-body tr").first
    expect(task).to_contain_text("datasets/depot/tiny-parquet@main")
    run_worker_until_done(task, ui_api.env)
    expect(task).to_contain_text("stored 3, skipped 1, failed 0")
    stats = http.get("/api/v1/data/stats").json()["stats"]
    assert stats["by_purpose"]["training"]["count"] == 3


def status_badge(ui: Page, path: str):
    return ui.locator(f'#files-body tr[data-path="{path}"] td[data-label="Status"] .badge')


def test_browse_shows_status_changes_live_from_the_event_stream(ui: Page, http, ui_api):
    ui.goto("/ui#browse")
    expect(ui.locator("body")).to_have_attribute("data-live", "live")  # the stream is open
    ui.evaluate("window.sameDocument = true")
    file = seed(http, "live.csv", b"a,b\n1,2\n", "ingestion")
    expect(status_badge(ui, file["path"])).to_have_text("pending")  # a new file appears by itself
    listings: list[str] = []
    ui.on("request", lambda request: "/api/v1/data/files" in request.url and listings.append(request.url))
    worker = subprocess.run([sys.executable, "-m", "service", "worker", "--burst"], env=ui_api.env,
                            capture_output=True, text=True, timeout=120)
    assert worker.returncode == 0, worker.stderr[-2000:]
    expect(status_badge(ui, file["path"])).to_have_text("done")
    assert listings == []  # the change came from the stream, not from polling the list
    assert ui.evaluate("window.sameDocument") is True  # and without a reload


def test_browse_falls_back_to_polling_when_the_stream_is_down(ui: Page, http, ui_api):
    ui.route("**/api/v1/events/stream*", lambda route: route.abort())
    file = seed(http, "polled.csv", b"a,b\n1,2\n", "ingestion")
    ui.goto("/ui#browse")
    expect(status_badge(ui, file["path"])).to_have_text("pending")
    expect(ui.locator("body")).to_have_attribute("data-live", "down")
    worker = subprocess.run([sys.executable, "-m", "service", "worker", "--burst"], env=ui_api.env,
                            capture_output=True, text=True, timeout=120)
    assert worker.returncode == 0, worker.stderr[-2000:]
    expect(status_badge(ui, file["path"])).to_have_text("done")  # found by the poll
