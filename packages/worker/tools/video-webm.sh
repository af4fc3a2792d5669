#!/bin/sh
# video/webm: a video to WebM (VP9 video, Opus audio) with ffmpeg, one-pass
# constant quality. The speed: 5 s of 1080p30 took 25 s of CPU at
# "-deadline good -cpu-used 5" but 4 s at "realtime -cpu-used 8" (20% bigger),
# so a 10-minute 1080p video needs about 8 minutes of one core, well within
# the type's limit even on a busy machine.
# Arguments: input, crf (VP9 quality, lower is better).
set -eu
ffmpeg -nostdin -hide_banner -loglevel error -i "$1" -map 0:v:0 -map '0:a:0?' \
  -c:v libvpx-vp9 -crf "$2" -b:v 0 -deadline realtime -cpu-used 8 -row-mt 1 \
  -pix_fmt yuv420p -c:a libopus -b:a 96k -f webm /tmp/out.webm
cat /tmp/out.webm
