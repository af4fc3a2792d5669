#!/bin/sh
# doc/pdf, doc/html, html/pdf: pandoc with WeasyPrint as the PDF engine. The
# input's reader comes from its extension, which bsubio sets from the input's
# real format. PDF needs a real output file, so it is written to /work and
# then copied to stdout.
set -eu
input=$1
to=$2
case $to in
  pdf)
    pandoc "$input" --standalone --pdf-engine=weasyprint -o /work/out.pdf
    cat /work/out.pdf
    ;;
  html)
    pandoc "$input" --standalone --to html5
    ;;
  *)
    echo "doc-convert: unknown target $to" >&2
    exit 2
    ;;
esac
