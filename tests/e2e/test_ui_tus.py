"""The web UI's uploads over tus (the vendored tus-js-client) in Chromium: a page reload mid-upload,
the same file chosen again, and the upload continues from the server's offset instead of starting over."""

import hashlib
import time
from pathlib import Path

import httpx
from playwright.sync_api import Page, Route, expect

TUS = "/api/v1/data/tus"
CHUNK = 256 * 1024
ALLOWED_BEFORE_RELOAD = 3  # PATCHes let through before the page is reloaded


def server_offset(http: httpx.Client, location: str) -> int:
    head = http.head(location, headers={"Tus-Resumable": "1.0.0"})
    assert head.status_code == 200, head.text
    return int(head.headers["upload-offset"])


def wait_for_offset(ui: Page, http: httpx.Client, location: str, wanted: int) -> int:
    """Poll the server (HEAD) until the upload holds ``wanted`` bytes; the held PATCH keeps it there.
    Waiting through the page, not ``time.sleep``: the sync API runs route handlers only inside its calls."""
    deadline = time.monotonic() + 15
    while (offset := server_offset(http, location)) != wanted and time.monotonic() < deadline:
        ui.wait_for_timeout(50)
    return offset


def test_a_reload_mid_upload_resumes_from_the_servers_offset(ui: Page, http: httpx.Client, tmp_path: Path):
    source = tmp_path / "squares.csv"
    source.write_bytes(b"n,square,label\n" + b"".join(f"{i},{i * i},row-{i:08d}\n".encode() for i in range(110_000)))
    data = source.read_bytes()
    assert len(data) > 10 * CHUNK
    console_errors: list[str] = []
    ui.on("console", lambda message: message.type == "error" and console_errors.append(message.text))

    # Every tus request the page makes passes through here; PATCHes past the allowance are held
    # unanswered, so the reload below always lands mid-upload with a known offset on the server.
    sent: list[tuple[str, int | None]] = []
    held: list[Route] = []
    keys: set[str | None] = set()
    allowance = {"patches": ALLOWED_BEFORE_RELOAD}

    def gate(route: Route) -> None:
        request = route.request
        offset = request.headers.get("upload-offset")
        sent.append((request.method, int(offset) if offset is not None else None))
        keys.add(request.headers.get("authorization"))
        if request.method == "PATCH":
            if allowance["patches"] <= 0:
                held.append(route)
                return
            allowance["patches"] -= 1
        route.continue_()

    ui.route(f"**{TUS}**", gate)
    ui.goto(f"/ui?chunk={CHUNK}#upload")
    ui.get_by_label("API key").fill("dpk_ui_tus")  # kept in session storage: it survives the reload
    ui.get_by_role("button", name="Save").click()
    ui.locator("#view-upload").get_by_label("Purpose").select_option("training")
    ui.locator("#upload-files").set_input_files(source)
    with ui.expect_response(lambda r: r.request.method == "POST" and r.url.endswith(TUS)) as created:
        ui.get_by_role("button", name="Upload", exact=True).click()
    assert created.value.status == 201
    location = created.value.headers["location"]
    assert wait_for_offset(ui, http, location, ALLOWED_BEFORE_RELOAD * CHUNK) == ALLOWED_BEFORE_RELOAD * CHUNK
    expect(ui.locator("#upload-queue li .state")).to_contain_text("768 KiB of")
    assert len(held) == 1

    ui.reload()  # the held PATCH dies with the page; its URL stays in localStorage
    allowance["patches"] = 1_000
    before_reload = len(sent)
    at_reload = server_offset(http, location)
    assert 0 < at_reload < len(data)

    ui.locator("#upload-files").set_input_files(source)
    item = ui.locator("#upload-queue li")
    expect(item.locator(".state")).to_have_text("ready · resumes an earlier upload")
    ui.get_by_role("button", name="Upload", exact=True).click()
    expect(ui.locator("#upload-queue li.done")).to_have_count(1, timeout=20000)

    digest = hashlib.sha256(data).hexdigest()
    assert item.get_attribute("data-resumed-at") == str(at_reload)
    assert item.get_attribute("data-sha256") == digest
    expect(item.locator(".state")).to_contain_text(f"SHA-256 {digest[:12]}")
    after = sent[before_reload:]
    assert after[0] == ("HEAD", None)  # asks the server where it stands, creates nothing new
    assert [offset for method, offset in after if method == "PATCH"][0] == at_reload
    assert not [method for method, _ in after if method == "POST"]
    assert keys == {"Bearer dpk_ui_tus"}
    assert ui.evaluate("Object.keys(localStorage).filter(k => k.startsWith('tus::'))") == []

    listed = http.get("/api/v1/data/files").json()["files"]
    assert [(f["original_filename"], f["hash"], f["size"]) for f in listed] == [("squares.csv", digest, len(data))]
    stored = http.get(f"/api/v1/data/files/{listed[0]['path']}")
    assert hashlib.sha256(stored.content).hexdigest() == digest
    ui.get_by_role("link", name="Browse").click()
    expect(ui.locator("#files-body tr")).to_have_count(1)
    expect(ui.locator("#files-body")).to_contain_text(digest[:12])
    assert console_errors == [], f"console errors (a CSP violation shows here): {console_errors}"


def test_a_refused_file_shows_the_servers_error(ui: Page, http: httpx.Client, tmp_path: Path):
    """A refusal after bytes were sent (the content sniff) reaches the row from tus-js-client's
    ``originalResponse``: the server's JSON error, not a generic failure, and no retry loop."""
    fake = tmp_path / "song.wav"
    fake.write_bytes(b"just some text, not RIFF audio\n" * 12000)  # two PATCHes
    fine = tmp_path / "notes.md"
    fine.write_bytes(b"# notes\n" * 100)
    ui.goto(f"/ui?chunk={CHUNK}#upload")
    ui.locator("#upload-files").set_input_files([fake, fine])
    with ui.expect_response(lambda r: r.request.method == "PATCH" and r.status == 400) as refused:
        ui.get_by_role("button", name="Upload", exact=True).click()
    assert refused.value.request.headers["upload-offset"] == "0"  # the first chunk: its bytes are sniffed
    failed = ui.locator('#upload-queue li[data-name="song.wav"]')
    expect(failed).to_have_class("failed")
    expect(failed.locator(".state")).to_have_text("'song.wav' is not WAV audio (its first bytes do not match)")
    expect(ui.locator('#upload-queue li[data-name="notes.md"]')).to_have_class("done")
    expect(ui.locator("#upload-summary")).to_contain_text("1 uploaded, 1 failed")
    assert [f["original_filename"] for f in http.get("/api/v1/data/files").json()["files"]] == ["notes.md"]
    assert ui.evaluate("Object.keys(localStorage).filter(k => k.startsWith('tus::'))") == []


def test_the_console_check_would_see_a_csp_violation(ui: Page):
    """The resume test's proof of no CSP violation is an empty console: an inline script, which the
    CSP forbids, does reach it as an error."""
    errors: list[str] = []
    ui.on("console", lambda message: message.type == "error" and errors.append(message.text))
    ui.goto("/ui#upload")
    with ui.expect_console_message(lambda message: message.type == "error"):
        ui.evaluate("document.head.append(Object.assign(document.createElement('script'), {text: 'window.x = 1'}))")
    assert "Content Security Policy" in errors[0]
    assert ui.evaluate("window.x") is None


def test_the_vendored_client_is_served_from_this_origin(http: httpx.Client):
    page = http.get("/ui")
    assert '<script defer src="/ui/static/vendor/tus-js-client/tus.min.js"></script>' in page.text
    served = http.get("/ui/static/vendor/tus-js-client/tus.min.js")
    assert served.status_code == 200 and served.headers["content-type"].startswith("text/javascript")
    assert served.headers["content-security-policy"] == page.headers["content-security-policy"]
    assert b"tus" in served.content and len(served.content) > 50_000
