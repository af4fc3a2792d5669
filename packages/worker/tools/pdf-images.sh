#!/bin/sh
# pdf/images: the images embedded in a PDF, as a ZIP (pdfimages). In their
# own format where it is a common one (JPEG, JPEG 2000, ...), else PNG.
# Arguments: input.
set -eu
tools="$(dirname "$0")"
mkdir -p /tmp/images
pdfimages -all "$1" /tmp/images/image >&2
if [ -z "$(ls /tmp/images)" ]; then
  echo "bsubio: the PDF has no embedded images." >&2
  exit 1
fi
exec "$NODE" "$tools/zip-dir.mjs" /tmp/images
