#!/usr/bin/env bash
# Builds the official bsub.io Go CLI (github.com/bsubio/cli, the `bsubio`
# command) offline, with Debian 12's Go 1.19, for
# `packages/cli/test/go-cli.test.ts`, which runs its commands against a local
# bsubio.
#
# The CLI's go.mod asks for Go 1.25 and modules from proxy.golang.org; here
# it is built in GOPATH mode (GO111MODULE=off) instead, its sources
# unchanged and no shim needed: the official Go SDK from the GOPATH that
# `scripts/go-sdk-setup.sh` prepares (run first when missing), google/uuid,
# golang.org/x/term and x/sys from Debian's golang-*-dev packages.
#
# Usage: scripts/go-cli-setup.sh [DEST]   (default /tmp/bsubio-go-cli)
# Prints the binary's path: DEST/bin/bsubio.
# BSUBIO_GO_CLI_SRC: a local git directory of the CLI (else cloned from GitHub).
# BSUBIO_GO_SDK_GOPATH: the SDK's GOPATH (default /tmp/bsubio-go-sdk/gopath).
set -euo pipefail
dest="${1:-/tmp/bsubio-go-cli}"
sdk_gopath="${BSUBIO_GO_SDK_GOPATH:-/tmp/bsubio-go-sdk/gopath}"
here="$(cd "$(dirname "$0")" && pwd)"

apt_packages=(golang-1.19-go golang-github-google-uuid-dev golang-golang-x-term-dev golang-golang-x-sys-dev)
source "$(dirname "$0")/apt-missing.sh"
apt_install_missing "${apt_packages[@]}"

sdk_file="$sdk_gopath/src/github.com/bsubio/bsubio-go/client.go"
if [ ! -f "$sdk_file" ]; then
  # go-sdk-setup.sh DEST prepares DEST/gopath.
  "$here/go-sdk-setup.sh" "$(dirname "$sdk_gopath")" >/dev/null
  [ -f "$sdk_file" ] || { echo "no Go SDK at $sdk_gopath (a GOPATH made by go-sdk-setup.sh ends in /gopath)" >&2; exit 1; }
fi

git_dir="${BSUBIO_GO_CLI_SRC:-}"
if [ -z "$git_dir" ]; then
  git_dir="$dest/clones/cli"
  [ -d "$git_dir" ] || git clone --quiet --bare https://github.com/bsubio/cli "$git_dir"
fi
src="$dest/gopath/src/github.com/bsubio/cli"
rm -rf "$src"
mkdir -p "$src" "$dest/bin"
# Only the command's sources: the repository's test PDFs are not needed (and
# a partial mirror may not hold them).
git --git-dir="$git_dir" archive --prefix=cmd/ HEAD:cmd | tar -x -C "$src"
# What `bsubio version` prints as the CLI's own version: the commit built.
commit="$(git --git-dir="$git_dir" rev-parse --short HEAD)"

cd "$src"
GO111MODULE=off GOFLAGS='' GOPATH="$dest/gopath:$sdk_gopath:/usr/share/gocode" GOCACHE="$dest/cache" \
  /usr/lib/go-1.19/bin/go build -ldflags "-X main.version=$commit" -o "$dest/bin/bsubio" ./cmd/bsubio
echo "$dest/bin/bsubio"
