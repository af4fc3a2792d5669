#!/bin/sh
# audio/convert: the first audio track of a file to MP3, Ogg Vorbis, Opus,
# WAV or FLAC with ffmpeg; the bitrate applies to the lossy ones.
# Arguments: input, format, bitrate (kbit/s).
set -eu
input="$1"
format="$2"
bitrate="$3"
case "$format" in
  mp3) set -- -c:a libmp3lame -b:a "${bitrate}k" -f mp3 ;;
  ogg) set -- -c:a libvorbis -b:a "${bitrate}k" -f ogg ;;
  opus) set -- -c:a libopus -b:a "${bitrate}k" -f opus ;;
  wav) set -- -c:a pcm_s16le -f wav ;;
  flac) set -- -c:a flac -f flac ;;
  *)
    echo "bsubio: unknown format $format" >&2
    exit 2
    ;;
esac
# To a file, not a pipe: WAV and FLAC headers carry the length, written at the end.
ffmpeg -nostdin -hide_banner -loglevel error -i "$input" -map 0:a:0 -vn "$@" /tmp/out
cat /tmp/out
