#!/usr/bin/env bash
# One command: set up the core package, get real pedestrian images, and make their occluded twin.
# Real people on a fresh machine: OpenCV's sample video vtest.avi from Debian's opencv-doc package,
# cut into crops with OpenCV's built-in HOG people detector. Set OCCREID_VIDEO to use another video.
# Installs nothing outside .venv: the package is downloaded with `apt-get download` and one file is
# taken out of it; no system package is installed or changed.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '==> %s\n' "$*"; }
start=$SECONDS

bash scripts/setup.sh
mkdir -p demo
VIDEO=${OCCREID_VIDEO:-demo/vtest.avi}
if [ -f "$VIDEO" ]; then
  say "using the video $VIDEO"
else
  member=./usr/share/doc/opencv-doc/examples/data/vtest.avi
  if [ -f /usr/share/doc/opencv-doc/examples/data/vtest.avi ]; then
    say "copying OpenCV's sample video from the installed opencv-doc package"
    cp /usr/share/doc/opencv-doc/examples/data/vtest.avi "$VIDEO"
  else
    say "getting OpenCV's sample video vtest.avi: downloading Debian's opencv-doc package (apt-get download, into a"
    say "temporary folder; nothing is installed) and taking that one file out of it"
    tmp=$(mktemp -d)
    # as root apt warns that it downloads "unsandboxed" into a folder its _apt user cannot write: harmless here
    download() { (cd "$tmp" && apt-get download -q opencv-doc 2>&1) | { grep -v 'unsandboxed' || true; }; }
    if ! download; then
      say "apt's package lists are empty or stale: refreshing them (apt-get update), then downloading again"
      if [ "$(id -u)" = 0 ]; then apt-get update -qq; else sudo apt-get update -qq; fi
      download
    fi
    dpkg-deb --fsys-tarfile "$tmp"/opencv-doc_*.deb | tar -x -O "$member" > "$VIDEO"
    rm -rf "$tmp"
  fi
fi
rm -rf demo/crops
say "occreid crops: cutting pedestrians out of $VIDEO with OpenCV's HOG people detector"
.venv/bin/occreid crops "$VIDEO" --out demo/crops
say "occreid generate: occluding them (embedded parser; part maps and masks saved)"
.venv/bin/occreid generate demo/crops --layout folder --out demo/crops_occ --seed 0 --save-parts --save-masks \
  --overwrite
say "occreid report: writing the page"
.venv/bin/occreid report demo/crops_occ --html demo/report/index.html
echo
echo "Done in $((SECONDS - start)) s."
echo "  real pedestrian crops   demo/crops"
echo "  their occluded twin     demo/crops_occ   (manifest: demo/crops_occ/_occreid/manifest.csv)"
echo "  report                  demo/report/index.html   (open it in a browser)"
echo
echo "occreid is installed in .venv: run 'source .venv/bin/activate' to call it as occreid, or call"
echo ".venv/bin/occreid. Next, try:"
echo "  .venv/bin/occreid stats demo/crops_occ"
echo "  .venv/bin/occreid generate demo/crops --layout folder --out demo/crops_person --preset person \\"
echo "      --parts-from demo/crops_occ"
