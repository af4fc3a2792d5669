#!/bin/sh
# video/thumbnail: one frame of a video as a PNG, at a time given in seconds
# or as hh:mm:ss, scaled to a width (ffmpeg; the seek is before the input,
# so it is quick even deep into a long video).
# Arguments: input, at, width.
set -eu
ffmpeg -nostdin -hide_banner -loglevel error -ss "$2" -i "$1" -frames:v 1 \
  -vf "scale=$3:-2" -f image2 -c:v png /tmp/frame.png
if [ ! -s /tmp/frame.png ]; then
  echo "bsubio: no frame at $2: the video is shorter than that." >&2
  exit 2
fi
cat /tmp/frame.png
