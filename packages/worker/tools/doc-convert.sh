#!/bin/sh
# doc/pdf, doc/html: pandoc, and for PDF WeasyPrint through html-pdf.py, which
# reads no file outside the job's own (a document's images may name any
# file: URL). The input's reader comes from its extension, which bsubio sets
# from the input's real format.
set -eu
input=$1
to=$2
case $to in
  pdf)
    pandoc "$input" --standalone --to html5 -o /work/out.html
    python3 "$(dirname "$0")/html-pdf.py" /work/out.html
    ;;
  html)
    pandoc "$input" --standalone --to html5
    ;;
  *)
    echo "doc-convert: unknown target $to" >&2
    exit 2
    ;;
esac
