#!/usr/bin/env bash
# Screenshots of the real app window on common screens, from an X server (Xvfb):
#   main-1366x768.png       the most common laptop screen
#   main-1920x1080.png      a full-HD monitor
#   main-1366x768-dpr2.png  HiDPI: the 1366x768 layout at device pixel ratio 2 (2732x1536)
#
#   bash docs/screenshots/screen_sizes.sh [PYTHON]
#
# Needs xvfb (xvfb-run), imagemagick (import) and x11-utils (xwininfo); Debian:
# apt-get install xvfb xauth imagemagick x11-utils. The sample photos are indexed
# headless into a temporary library first, then `annotator app --library` opens it
# with no window manager (the window places and sizes itself). Nothing of the user's
# (settings, library, caches) is touched.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
python="${1:-python3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export PYTHONPATH="$repo" ANNOTATOR_DATA_DIR="$work/data" ANNOTATOR_CACHE_DIR="$work/cache"
export XDG_CONFIG_HOME="$work/config"

mkdir -p "$work/Holiday"
cp "$repo"/resources/samples/*.jpg "$work/Holiday/"
"$python" -m annotator --index "$work/Holiday" --library "$work/library.sqlite3" \
  --metadata none --quiet

shot() {  # shot NAME WIDTH HEIGHT SCALE
  local name="$1" width="$2" height="$3" scale="$4"
  QT_SCALE_FACTOR="$scale" QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 ${width}x${height}x24" \
    bash -c '
      "$0" -m annotator app --library "$1/library.sqlite3" & app=$!
      for _ in $(seq 600); do  # wait for the window, then for thumbnails and captions
        xwininfo -root -tree | grep -q "\"annotator\"" && break; sleep 0.1
      done
      sleep 6
      import -window root "$1/$2"
      kill -TERM "$app"; wait "$app" || true
    ' "$python" "$work" "$name.png"
  cp "$work/$name.png" "$repo/docs/screenshots/$name.png"
  echo "docs/screenshots/$name.png: $(identify -format '%wx%h' "$work/$name.png")"
}
shot main-1366x768 1366 768 1
shot main-1920x1080 1920 1080 1
shot main-1366x768-dpr2 2732 1536 2
