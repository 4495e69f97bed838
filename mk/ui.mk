# The web UI's vendored tus-js-client (service/ui/vendor/tus-js-client): re-packed from npm at the
# version and integrity pinned in its VERSION file. Not part of `make test`; the files are committed.
.PHONY: vendor-tus
vendor-tus:
	mk/vendor-tus.sh
