#!/bin/sh
# audio/transcribe: speech to text, offline. ffmpeg resamples the first audio
# track to what the acoustic model expects (16 kHz, mono, 16-bit), then
# pocketsphinx decodes it with its US English model; one line per utterance.
set -eu
model=/usr/share/pocketsphinx/model/en-us
ffmpeg -nostdin -hide_banner -loglevel error -i "$1" -map '0:a:0' -ar 16000 -ac 1 -c:a pcm_s16le -f wav /work/speech.wav
pocketsphinx_continuous -infile /work/speech.wav \
  -hmm "$model/en-us" -lm "$model/en-us.lm.bin" -dict "$model/cmudict-en-us.dict" \
  -logfn /work/pocketsphinx.log || {
  tail -n 5 /work/pocketsphinx.log >&2
  exit 1
}
