#!/bin/sh
# typst/pdf: a Typst document or project to PDF with the typst CLI. The
# project root is the copy in /tmp/project, so read() and include cannot
# reach past it, and the sandbox has no network for packages.
# Arguments: files dir, main file ("auto" or a path).
set -eu
cp -R "$1" /tmp/project
cd /tmp/project
main="$2"
if [ "$main" = "auto" ]; then
  if [ -f main.typ ]; then
    main=main.typ
  else
    set -- *.typ
    if [ "$#" -ne 1 ] || [ ! -f "$1" ]; then
      echo "bsubio: name the main file main.typ, or give the main parameter." >&2
      exit 2
    fi
    main="$1"
  fi
fi
typst compile --root /tmp/project "$main" /tmp/out.pdf >&2
cat /tmp/out.pdf
