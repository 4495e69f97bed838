# Chromium for the browser tests (tests/e2e/test_ui.py): Debian's package, driven by Playwright's
# Python API with executable_path. Playwright's own browser download is never used.
ifeq ($(shell command -v chromium 2>/dev/null),)
TEST_TOOLS += browser
endif

.PHONY: browser
browser:
	@if ! command -v chromium >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ]; then APT=apt-get; else APT="sudo apt-get"; fi; \
		$$APT update && DEBIAN_FRONTEND=noninteractive $$APT install -y chromium; \
	fi
	chromium --version
