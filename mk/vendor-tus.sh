#!/usr/bin/env bash
# Refresh service/ui/vendor/tus-js-client from npm: pack the version pinned in its VERSION file,
# refuse a tarball whose sha512 differs from the pinned integrity, then copy the browser bundle
# and the licence unchanged and record the bundle's sha256. To upgrade, change `version` and
# `integrity` (npm view tus-js-client@X dist.integrity) in VERSION first, then run this.
set -euo pipefail
dir=service/ui/vendor/tus-js-client
pinned() { sed -n "s/^$1 //p" "$dir/VERSION"; }
package=$(pinned package) version=$(pinned version) integrity=$(pinned integrity) file=$(pinned file)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tarball=$(cd "$work" && npm pack --silent "$package@$version")
actual="sha512-$(openssl dgst -sha512 -binary "$work/$tarball" | base64 -w0)"
if [ "$actual" != "$integrity" ]; then
	echo "vendor-tus: $package@$version is $actual, pinned $integrity: refusing it" >&2
	exit 1
fi
tar -xzf "$work/$tarball" -C "$work" "package/$file" package/LICENSE
cp "$work/package/$file" "$dir/$(basename "$file")"
cp "$work/package/LICENSE" "$dir/LICENSE"
sha=$(sha256sum "$dir/$(basename "$file")" | cut -d' ' -f1)
sed -i "s/^sha256 .*/sha256 $sha/" "$dir/VERSION"
echo "vendor-tus: $package@$version ($integrity), $(basename "$file") sha256 $sha"
