#!/usr/bin/env bash
# Installs what bsubio needs on Debian 12, then the npm dependencies (which
# also builds the TypeScript). Safe to run again. Needs root (or sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

# LibreOffice is only its three -nogui parts and TeX Live a small set (no
# xetex, no extra fonts), yet they took 10 minutes to install on a busy 2-core
# VM: keep them lean.
# The tools behind the processing types, the sandbox, and what the tests use
# (postgresql: the cluster-mode tests and `npm run bench` start a throwaway
# server from its binaries; its own service is not used. redis-server: only
# `npm run bench`, for BullMQ, the peer of the queue core; also started by the
# suite itself). tcc and libc6-dev: a small C compiler for the C sandbox
# launcher (packages/worker/launcher), milliseconds less per sandbox than the
# Perl one that stands in without a compiler (a cc already installed is used
# instead).
PACKAGES=(
  bubblewrap util-linux coreutils file bash python3 fonts-dejavu-core
  poppler-utils tesseract-ocr tesseract-ocr-eng ghostscript
  pandoc weasyprint
  ffmpeg imagemagick
  pocketsphinx pocketsphinx-en-us espeak-ng
  libreoffice-writer-nogui libreoffice-calc-nogui libreoffice-impress-nogui
  ocrmypdf qpdf img2pdf librsvg2-bin
  latexmk texlive-latex-base texlive-latex-recommended texlive-fonts-recommended
  chromium tmux
  postgresql python3-pip redis-server
  tcc libc6-dev
)

# Node.js 24 from the npm registry into .node/ (Debian 12's own is 20); every
# command below, and scripts/run, use it. See scripts/node.sh.
source scripts/node.sh
node --version

# npm ci installs the dependencies (better-sqlite3 13 ships its compiled addon
# inside the package: nothing is built from source) and compiles the
# TypeScript. It needs nothing apt installs, so it runs while apt works.
npm ci --no-audit --no-fund &
npm_pid=$!
trap 'kill "$npm_pid" 2>/dev/null || true' EXIT

source scripts/apt-missing.sh
apt_install_missing --update "${PACKAGES[@]}"

# The cluster-mode tests use moto's S3 server as the object store.
if ! python3 -c 'import moto.server' 2>/dev/null; then
  python3 -m pip install --quiet 'moto[server]' 2>/dev/null ||
    python3 -m pip install --quiet --break-system-packages 'moto[server]'
fi

# npm ci runs the "prepare" script, which compiles every package to dist/.
wait "$npm_pid"
trap - EXIT

# npm ci's build ran while apt worked, perhaps before the compiler was there.
node packages/worker/launcher/build.mjs
