#!/usr/bin/env bash
# Vendor the dashboard's charting library: `npm ci` in central/dashboard/ (exact versions
# from its package-lock.json, integrity-checked), then copy Chart.js's minified UMD build
# and its licence into central/dashboard/static/vendor/ (gitignored). No CDN at run time:
# store networks are often offline. Without this step the dashboard still works, with
# tables only and a note saying how to get the charts.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dash="$here/central/dashboard"
vendor="$dash/static/vendor"

command -v npm >/dev/null || { echo "build-dashboard: npm is missing (install Node.js 20)" >&2; exit 1; }
(cd "$dash" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
mkdir -p "$vendor"
install -m 0644 "$dash/node_modules/chart.js/dist/chart.umd.min.js" "$vendor/chart.umd.min.js"
install -m 0644 "$dash/node_modules/chart.js/LICENSE.md" "$vendor/chart.js-LICENSE.md"
version="$(node -p "require('$dash/node_modules/chart.js/package.json').version")"
echo "build-dashboard: vendored Chart.js $version into ${vendor#"$here"/}"
