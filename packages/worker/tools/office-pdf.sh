#!/bin/sh
# office/pdf: an office document to PDF with LibreOffice, headless, with a
# fresh profile per job (macros and link updates off: libreoffice/). The
# export filter follows the document's kind, which the worker put in the
# input's extension from its bytes.
# Arguments: input, pages ("all" or ranges such as 1-3,5), pdfa (none, 1b,
# 2b, 3b), landscape (no, yes: converted to OpenDocument first, its page
# styles turned by odf-landscape.py, then exported).
set -eu
input="$1"
pages="$2"
pdfa="$3"
landscape="$4"
tools="$(dirname "$0")"

infilter=""
case "$input" in
  *.doc | *.docx | *.odt | *.rtf) filter=writer_pdf_Export odf=odt ;;
  *.xls | *.xlsx | *.ods) filter=calc_pdf_Export odf=ods ;;
  # CSV: comma-separated, double quotes, UTF-8 (76), from line 1.
  *.csv) filter=calc_pdf_Export odf=ods infilter="CSV:44,34,76,1" ;;
  *.ppt | *.pptx | *.odp) filter=impress_pdf_Export odf=odp ;;
  *)
    echo "bsubio: not an office document LibreOffice converts here: $input" >&2
    exit 2
    ;;
esac

# Export options as LibreOffice (7.4+) takes them: JSON after the filter name.
options=""
if [ "$pages" != "all" ]; then
  options="\"PageRange\":{\"type\":\"string\",\"value\":\"$pages\"}"
fi
case "$pdfa" in
  1b) version=1 ;;
  2b) version=2 ;;
  3b) version=3 ;;
  *) version="" ;;
esac
if [ -n "$version" ]; then
  options="${options:+$options,}\"SelectPdfVersion\":{\"type\":\"long\",\"value\":\"$version\"}"
fi

mkdir -p /tmp/profile/user /tmp/out
cp "$tools/libreoffice/registrymodifications.xcu" /tmp/profile/user/
office() {
  soffice --headless --norestore --nologo --nodefault --nolockcheck \
    "-env:UserInstallation=file:///tmp/profile" "$@" >&2
}
if [ "$landscape" = "yes" ]; then
  mkdir -p /tmp/odf
  office ${infilter:+"--infilter=$infilter"} --convert-to "$odf" --outdir /tmp/odf "$input"
  python3 "$tools/odf-landscape.py" /tmp/odf/*."$odf" "/tmp/landscape.$odf"
  input="/tmp/landscape.$odf"
  infilter=""
fi
# Writing the PDF into /work fails silently (LibreOffice's save goes through
# a rename it cannot do there), so it goes to /tmp and is copied out.
office ${infilter:+"--infilter=$infilter"} --convert-to "pdf:$filter:{$options}" --outdir /tmp/out "$input"
for pdf in /tmp/out/*.pdf; do
  if [ -s "$pdf" ]; then
    cat "$pdf"
    exit 0
  fi
done
echo "bsubio: LibreOffice wrote no PDF: the document may be damaged, password-protected or empty." >&2
exit 1
