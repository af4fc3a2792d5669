#!/bin/sh
# pdf/extract/ocr: OCR every page of a PDF, in page order. Renders one page
# at a time (pdftoppm) and reads it with tesseract, so the scratch space holds
# a single page image however long the document is. Pages are separated by a
# form feed, like pdftotext does.
set -eu
input=$1
dpi=${2:-300}
lang=${3:-eng}
pages=$(pdfinfo "$input" | sed -n 's/^Pages:[[:space:]]*//p')
case $pages in '' | *[!0-9]*) echo "pdf-ocr: cannot read the page count of the PDF" >&2; exit 1 ;; esac
page=1
while [ "$page" -le "$pages" ]; do
  pdftoppm -r "$dpi" -gray -png -f "$page" -l "$page" -singlefile "$input" /work/page
  tesseract /work/page.png stdout -l "$lang" --psm 3 2>/work/tesseract.log || {
    cat /work/tesseract.log >&2
    exit 1
  }
  rm -f /work/page.png
  [ "$page" -lt "$pages" ] && printf '\f'
  page=$((page + 1))
done
