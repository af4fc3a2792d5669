#!/bin/sh
# pdf/split: one PDF per page, or per range ("1-3,4,5-z"), as a ZIP of
# part-01.pdf, part-02.pdf, ... (qpdf), in the order given.
# Arguments: input, ranges ("each" for one file per page).
set -eu
input="$1"
ranges="$2"
tools="$(dirname "$0")"
mkdir -p /tmp/parts
if [ "$ranges" = "each" ]; then
  qpdf --warning-exit-0 --split-pages "$input" /tmp/parts/page-%d.pdf >&2
else
  n=0
  for range in $(echo "$ranges" | tr ',' ' '); do
    n=$((n + 1))
    qpdf --warning-exit-0 --empty --pages "$input" "$range" -- "/tmp/parts/part-$(printf '%02d' "$n").pdf" >&2
  done
fi
exec "$NODE" "$tools/zip-dir.mjs" /tmp/parts
