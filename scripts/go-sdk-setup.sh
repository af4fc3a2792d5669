#!/usr/bin/env bash
# Prepares the official bsub.io Go SDK (github.com/bsubio/bsubio-go) for its
# live tests against a local bsubio, offline, with Debian 12's Go 1.19:
# `packages/worker/test/go-sdk.test.ts` runs them (BSUB_TEST_MODE=production).
#
# The SDK's go.mod asks for Go 1.25 and modules from proxy.golang.org; here
# the SDK is built in GOPATH mode (GO111MODULE=off) instead, its sources
# unchanged, with testify, uuid, go-spew, go-difflib and yaml.v3 from Debian's
# golang-*-dev packages and the two modules Debian lacks (oapi-codegen/runtime
# at the SDK's v1.1.2, apapsch/go-jsonmerge) from their Git repositories.
#
# Usage: scripts/go-sdk-setup.sh [DEST]   (default /tmp/bsubio-go-sdk)
# Each repository is cloned from GitHub unless given as a local checkout:
#   BSUBIO_GO_SDK_SRC, OAPI_RUNTIME_SRC, JSONMERGE_SRC (git directories).
set -euo pipefail
dest="${1:-/tmp/bsubio-go-sdk}"
src="$dest/gopath/src/github.com"

apt_packages=(golang-1.19-go golang-github-stretchr-testify-dev golang-github-google-uuid-dev
  golang-github-davecgh-go-spew-dev golang-github-pmezard-go-difflib-dev golang-gopkg-yaml.v3-dev)
source "$(dirname "$0")/apt-missing.sh"
apt_install_missing "${apt_packages[@]}"

# export REPO_GIT_DIR REF INTO: the tree at REF, without history.
export_tree() {
  local git_dir="$1" ref="$2" into="$3" url="$4"
  rm -rf "$into"
  mkdir -p "$into"
  if [ -z "$git_dir" ]; then
    git_dir="$dest/clones/$(basename "$url")"
    [ -d "$git_dir" ] || git clone --quiet --bare "$url" "$git_dir"
  fi
  git --git-dir="$git_dir" archive "$ref" | tar -x -C "$into"
}

export_tree "${BSUBIO_GO_SDK_SRC:-}" HEAD "$src/bsubio/bsubio-go" https://github.com/bsubio/bsubio-go
export_tree "${OAPI_RUNTIME_SRC:-}" v1.1.2 "$src/oapi-codegen/runtime" https://github.com/oapi-codegen/runtime
export_tree "${JSONMERGE_SRC:-}" HEAD "$src/apapsch/go-jsonmerge/v2" https://github.com/apapsch/go-jsonmerge
# Only the packages the SDK imports: the runtime's framework middlewares
# (gin, echo, iris) and every dependency's own tests would need more modules.
rm -rf "$src/oapi-codegen/runtime/strictmiddleware"
find "$src/oapi-codegen" "$src/apapsch" -name '*_test.go' -delete
echo "$dest/gopath"
