#!/usr/bin/env bash
# One command: set up, get real pedestrian images, and make their occluded twin.
# Real people on a fresh machine: OpenCV's sample video vtest.avi from Debian's opencv-doc package,
# cut into crops with OpenCV's built-in HOG people detector. Set OCCREID_VIDEO to use another video.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p demo
VIDEO=${OCCREID_VIDEO:-demo/vtest.avi}
if [ ! -f "$VIDEO" ]; then
  member=./usr/share/doc/opencv-doc/examples/data/vtest.avi
  if [ -f /usr/share/doc/opencv-doc/examples/data/vtest.avi ]; then
    cp /usr/share/doc/opencv-doc/examples/data/vtest.avi "$VIDEO"
  else
    echo "fetching OpenCV's sample video from Debian's opencv-doc package ..."
    tmp=$(mktemp -d)
    if ! (cd "$tmp" && apt-get download opencv-doc >/dev/null 2>&1); then
      # the package lists may be empty on a fresh machine
      if [ "$(id -u)" = 0 ]; then apt-get update -qq >/dev/null; else sudo apt-get update -qq >/dev/null; fi
      (cd "$tmp" && apt-get download opencv-doc >/dev/null 2>&1)
    fi
    dpkg-deb --fsys-tarfile "$tmp"/opencv-doc_*.deb | tar -x -O "$member" > "$VIDEO"
    rm -rf "$tmp"
  fi
fi
rm -rf demo/crops
.venv/bin/occreid crops "$VIDEO" --out demo/crops
.venv/bin/occreid generate demo/crops --layout folder --out demo/crops_occ --seed 0 --save-parts --save-masks --overwrite
.venv/bin/occreid report demo/crops_occ --html demo/report/index.html
echo
echo "real pedestrian crops: demo/crops   occluded twin: demo/crops_occ   manifest: demo/crops_occ/_occreid/manifest.csv"
echo "report: demo/report/index.html"
