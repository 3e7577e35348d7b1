#!/usr/bin/env bash
# Generate the small audio test fixtures in tests/fixtures/.
#
# What it produces:
#   speech_01.ogg .. speech_04.ogg  English sentences (~3 s, ~6 s, ~10 s, ~15 s)
#                                   spoken by espeak-ng (voice en-us, 150 wpm),
#                                   encoded like a Telegram voice note:
#                                   OGG/Opus, mono, 48 kHz, ~24 kbit/s, voip.
#   references.json                 reference transcript of each speech file.
#   speech_01.mp3                   speech_01 as an MP3 audio file (mono, 16 kHz, 32 kbit/s),
#                                   as sent with "send as file".
#   speech_01.wav                   speech_01 as a WAV file (mono, 8 kHz, 16-bit PCM) and
#   speech_01.m4a                   as an M4A (AAC in MP4, mono, 16 kHz, 24 kbit/s): recordings
#                                   sent as a document, as recorder apps and desktops do.
#   speech_02.mp4                   speech_02 as a round video note: 240x240 H.264 (a black
#                                   picture, 10 fps) with AAC audio, like Telegram's video notes.
#   vocabulary_01.ogg               "We deployed the new cluster on Kubernetes yesterday." (en-us):
#                                   tiny.en writes "Kubernetes" right only when told the word.
#   german_01.ogg                   a German sentence (voice de), for a multilingual model.
#   silence.ogg                     3 s of digital silence, same encoding
#                                   (VAD must yield no invented text).
#   corrupt.ogg                     bytes that are not decodable audio
#                                   (fixed pattern, no randomness).
#
# The fixtures are committed to the repository; the tests only read them and
# never need espeak-ng or ffmpeg. Run this script only to regenerate them
# (requires: apt-get install espeak-ng ffmpeg). It is idempotent: every run
# overwrites the same files with the same content (apart from encoder details).
#
# Usage: scripts/make_fixtures.sh   (from anywhere)
set -euo pipefail

for tool in espeak-ng ffmpeg; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "error: $tool not found (apt-get install espeak-ng ffmpeg)" >&2
        exit 1
    fi
done

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out_dir="$repo_root/tests/fixtures"
mkdir -p "$out_dir"

tmp_dir="$(mktemp -d)"
trap 'rm -rf "$tmp_dir"' EXIT

# Plain everyday sentences with common words; no numbers or names, so the
# word error rate of a transcription is meaningful.
names=(speech_01.ogg speech_02.ogg speech_03.ogg speech_04.ogg)
texts=(
    "Please remember to buy fresh bread and milk."
    "The weather was very cold this morning, so I wore my warm coat, a hat and a scarf."
    "We should move the team meeting to the afternoon because most people are busy before lunch and the small room is already booked. Please send everyone a short note about the change."
    "I went to the market after work and picked up some apples, a bag of rice, and a few vegetables for dinner. It started to rain on the way home, so I walked quickly and got back just in time to cook a hot meal for the family."
)

# Encode like a Telegram voice note: encode_opus OUTPUT INPUT-OPTIONS...
# -map_metadata -1 and the bitexact flags keep encoder/version tags out of the
# output; -serial_offset fixes the (otherwise random) OGG stream serial number.
encode_opus() {
    local output="$1"
    shift
    ffmpeg -nostdin -hide_banner -loglevel error -y \
        "$@" \
        -map_metadata -1 -fflags +bitexact -flags:a +bitexact \
        -ac 1 -ar 48000 -c:a libopus -b:a 24k -vbr on -application voip \
        -serial_offset 1 \
        "$output"
}

for i in "${!names[@]}"; do
    wav="$tmp_dir/speech_$i.wav"
    espeak-ng -v en-us -s 150 -w "$wav" "${texts[$i]}"
    encode_opus "$out_dir/${names[$i]}" -i "$wav"
done

# Other containers, made from the voice notes above (the same speech): an MP3 audio file and
# an MP4 round video. Their references are those of the notes they come from.
ffmpeg -nostdin -hide_banner -loglevel error -y -i "$out_dir/speech_01.ogg" \
    -map_metadata -1 -fflags +bitexact -flags:a +bitexact \
    -ac 1 -ar 16000 -c:a libmp3lame -b:a 32k "$out_dir/speech_01.mp3"
# The picture is cut to the audio's length (-shortest alone overshoots with a lavfi source).
ffmpeg -nostdin -hide_banner -loglevel error -y -i "$out_dir/speech_01.ogg" \
    -map_metadata -1 -fflags +bitexact -flags:a +bitexact \
    -ac 1 -ar 8000 -c:a pcm_s16le "$out_dir/speech_01.wav"
ffmpeg -nostdin -hide_banner -loglevel error -y -i "$out_dir/speech_01.ogg" \
    -map_metadata -1 -fflags +bitexact -flags:a +bitexact \
    -ac 1 -ar 16000 -c:a aac -b:a 24k -movflags +faststart "$out_dir/speech_01.m4a"
seconds="$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$out_dir/speech_02.ogg")"
ffmpeg -nostdin -hide_banner -loglevel error -y \
    -f lavfi -i "color=c=black:s=240x240:r=10:d=$seconds" -i "$out_dir/speech_02.ogg" \
    -map 0:v -map 1:a -shortest -map_metadata -1 -fflags +bitexact \
    -flags:v +bitexact -flags:a +bitexact \
    -c:v libx264 -preset veryslow -crf 40 -pix_fmt yuv420p \
    -c:a aac -b:a 32k -ac 1 -ar 48000 -movflags +faststart "$out_dir/speech_02.mp4"

# For the chat settings (/vocab, /lang), not in references.json (their words are not
# everyday ones): a name tiny.en gets wrong unless it is told it, and German speech.
espeak-ng -v en-us -s 150 -w "$tmp_dir/vocabulary.wav" \
    "We deployed the new cluster on Kubernetes yesterday."
encode_opus "$out_dir/vocabulary_01.ogg" -i "$tmp_dir/vocabulary.wav"
espeak-ng -v de -s 150 -w "$tmp_dir/german.wav" \
    "Guten Morgen. Das Wetter ist heute sehr kalt, deshalb trage ich meinen warmen Mantel."
encode_opus "$out_dir/german_01.ogg" -i "$tmp_dir/german.wav"

# Reference transcripts as JSON (texts contain no quotes or backslashes).
{
    echo "{"
    for i in "${!names[@]}"; do
        sep=","
        if [[ $i -eq $((${#names[@]} - 1)) ]]; then sep=""; fi
        printf '  "%s": "%s"%s\n' "${names[$i]}" "${texts[$i]}" "$sep"
    done
    echo "}"
} > "$out_dir/references.json"

# 3 s of silence.
encode_opus "$out_dir/silence.ogg" \
    -f lavfi -i "anullsrc=channel_layout=mono:sample_rate=48000" -t 3

# Not decodable audio: an OGG capture pattern followed by a fixed, repeated
# text pattern (deterministic, no randomness).
{
    printf 'OggS'
    for _ in $(seq 1 32); do
        printf 'this is not audio data, just a fixed garbage pattern. '
    done
} > "$out_dir/corrupt.ogg"

echo "fixtures written to $out_dir:"
ls -l "$out_dir"
