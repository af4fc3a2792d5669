#!/bin/sh
# video/webm: a video to WebM (VP9 video, Opus audio) with ffmpeg, one-pass
# constant quality, at a speed setting that keeps a 10-minute 1080p clip
# within the type's time limit.
# Arguments: input, crf (VP9 quality, lower is better).
set -eu
ffmpeg -nostdin -hide_banner -loglevel error -i "$1" -map 0:v:0 -map '0:a:0?' \
  -c:v libvpx-vp9 -crf "$2" -b:v 0 -deadline good -cpu-used 5 -row-mt 1 \
  -pix_fmt yuv420p -c:a libopus -b:a 96k -f webm /tmp/out.webm
cat /tmp/out.webm
