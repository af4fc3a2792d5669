#!/bin/sh
# latex/pdf: a LaTeX document or project to PDF with latexmk (pdflatex,
# bibtex as needed), shell escape off, TeX's file access limited to the
# project (openin_any/openout_any = p: no absolute paths, no "..").
# The project is copied to a writable /tmp/project first.
# Arguments: files dir, main file ("auto" or a path).
set -eu
files="$1"
main="$2"
cp -R "$files" /tmp/project
cd /tmp/project
if [ "$main" = "auto" ]; then
  # The rule: main.tex if there is one, else the only .tex file with
  # \documentclass at the top level.
  if [ -f main.tex ]; then
    main=main.tex
  else
    main=""
    for f in *.tex; do
      [ -f "$f" ] || continue
      if grep -q '\\documentclass' "$f"; then
        if [ -n "$main" ]; then
          echo "bsubio: several .tex files have \\documentclass ($main, $f); name the main one with the main parameter." >&2
          exit 2
        fi
        main="$f"
      fi
    done
    if [ -z "$main" ]; then
      echo "bsubio: no main .tex file: name one main.tex, or give the main parameter." >&2
      exit 2
    fi
  fi
elif [ ! -f "$main" ]; then
  echo "bsubio: the main file $main is not in the project." >&2
  exit 2
fi
# TeX writes its output beside where it runs: run it in the main file's folder.
cd "$(dirname "$main")"
main="$(basename "$main")"
export openin_any=p openout_any=p shell_escape=f
latexmk -pdf -interaction=nonstopmode -halt-on-error -no-shell-escape -file-line-error "$main" >&2 || {
  log="${main%.tex}.log"
  [ -f "$log" ] && grep -m 5 -A 2 '^[^ ]*:[0-9]*: ' "$log" >&2
  echo "bsubio: LaTeX stopped with an error; see the lines above." >&2
  exit 1
}
cat "${main%.tex}.pdf"
