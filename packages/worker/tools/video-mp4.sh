#!/bin/sh
# video/mp4: H.264 video and AAC audio in an MP4 whose index sits at the
# front (+faststart), so it plays while downloading. MP4 needs a seekable
# file, so ffmpeg writes /work/out.mp4, which is then copied to stdout.
set -eu
ffmpeg -nostdin -hide_banner -loglevel error -i "$1" \
  -map 0:v:0 -map '0:a:0?' \
  -c:v libx264 -preset "${2:-veryfast}" -crf "${3:-23}" -pix_fmt yuv420p \
  -vf 'scale=trunc(iw/2)*2:trunc(ih/2)*2' \
  -c:a aac -b:a 128k -movflags +faststart -threads 2 \
  -f mp4 /work/out.mp4
cat /work/out.mp4
