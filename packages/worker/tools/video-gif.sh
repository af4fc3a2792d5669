#!/bin/sh
# video/gif: a video to an animated GIF with ffmpeg, through a palette made
# for the clip (palettegen/paletteuse) so colours hold up.
# Arguments: input, width, fps, seconds (the first N seconds).
set -eu
filters="fps=$3,scale=$2:-2:flags=lanczos"
ffmpeg -nostdin -hide_banner -loglevel error -t "$4" -i "$1" \
  -vf "$filters,split[a][b];[a]palettegen=stats_mode=diff[p];[b][p]paletteuse=dither=bayer" \
  -loop 0 -f gif /tmp/out.gif
cat /tmp/out.gif
