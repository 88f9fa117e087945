#!/usr/bin/env bash
# Makes the two HLS test episodes committed here (the tests only read them):
# 20 s each, 160x90 H.264 constrained baseline at 15 fps, mono AAC, fMP4
# segments of 2 s, a master playlist with CODECS. Needs ffmpeg
# (`sudo apt-get install ffmpeg`).
set -euo pipefail
cd "$(dirname "$0")"
episode() {
  local n=$1 picture=$2 tone=$3
  rm -rf "episode-$n" && mkdir "episode-$n"
  ffmpeg -loglevel error -f lavfi -i "$picture=size=160x90:rate=15" -f lavfi -i "sine=frequency=$tone:sample_rate=22050" \
    -t 20 -c:v libx264 -profile:v baseline -level 3.0 -pix_fmt yuv420p -b:v 30k -maxrate 40k -bufsize 80k \
    -g 30 -keyint_min 30 -sc_threshold 0 -c:a aac -b:a 16k -ac 1 \
    -f hls -hls_time 2 -hls_playlist_type vod -hls_segment_type fmp4 -hls_fmp4_init_filename init.mp4 \
    -master_pl_name master.m3u8 -hls_segment_filename "episode-$n/seg%02d.m4s" "episode-$n/index.m3u8"
}
episode 1 testsrc2 440
episode 2 smptebars 660
