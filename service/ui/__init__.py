"""Static files of the web UI (HTML, CSS, ES modules): no build step, no CDN, shipped as package data."""
