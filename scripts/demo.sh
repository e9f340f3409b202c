#!/usr/bin/env bash
# Sets up, builds, and runs octet's main job on the built-in default.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/scripts/setup.sh"
"$here/scripts/build.sh" >/dev/null
octet="$here/build/bin/octet"
"$octet" doctor
echo
"$octet" calibrators
