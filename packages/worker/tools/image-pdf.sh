#!/bin/sh
# image/pdf: images (one, or an archive of them) to one PDF, a page per image
# at its own size, in natural name order. ImageMagick first flattens each
# onto white as a PNG (img2pdf embeds without re-encoding but refuses alpha).
# Arguments: files dir.
set -eu
files="$1"
mkdir -p /tmp/pages
n=0
# Natural order: sort -V puts page-2 before page-10.
find "$files" -type f | sort -V > /tmp/list
while IFS= read -r f; do
  case "$(printf '%s' "$f" | tr 'A-Z' 'a-z')" in
    *.png | *.jpg | *.jpeg | *.gif | *.tif | *.tiff | *.bmp | *.webp | *.heic | *.heif | *.avif) ;;
    *) continue ;;
  esac
  n=$((n + 1))
  /usr/bin/convert "$f[0]" -auto-orient -background white -alpha remove -alpha off "png24:/tmp/pages/$(printf '%05d' "$n").png" >&2
done < /tmp/list
if [ "$n" -eq 0 ]; then
  echo "bsubio: no images found (PNG, JPEG, GIF, TIFF, BMP, WebP, HEIC or AVIF)." >&2
  exit 2
fi
echo "$n images" >&2
img2pdf /tmp/pages/*.png
