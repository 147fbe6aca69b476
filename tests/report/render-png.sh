#!/usr/bin/env bash
# Render a report page to a PNG with headless Chromium, to look at it.
#
#   tests/report/render-png.sh REPORT_HTML_OR_JSON OUT.png [WIDTH] [HEIGHT]
#
# A report.json is first rendered to report.html (next to OUT.png) with the
# `render_report` example. Needs `chromium` (Debian: apt-get install chromium).
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 REPORT_HTML_OR_JSON OUT.png [WIDTH] [HEIGHT]" >&2
  exit 2
fi
input=$1
out=$2
width=${3:-1400}
height=${4:-3000}

browser=""
for b in chromium chromium-browser google-chrome; do
  if command -v "$b" >/dev/null 2>&1; then browser=$b; break; fi
done
if [ -z "$browser" ]; then
  echo "no chromium found (apt-get install -y chromium)" >&2
  exit 1
fi

out_dir=$(cd "$(dirname "$out")" && pwd)
out_abs="$out_dir/$(basename "$out")"
case "$input" in
  *.json)
    root=$(cd "$(dirname "$0")/../.." && pwd)
    html_dir=$(mktemp -d)
    trap 'rm -rf "$html_dir"' EXIT
    (cd "$root" && cargo run --quiet --example render_report -- "$input" "$html_dir" >/dev/null)
    page="$html_dir/report.html"
    ;;
  *)
    page=$input
    ;;
esac
page_abs="$(cd "$(dirname "$page")" && pwd)/$(basename "$page")"

"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --window-size="$width,$height" --screenshot="$out_abs" "file://$page_abs" 2>/dev/null
echo "$out_abs"
