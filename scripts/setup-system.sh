#!/usr/bin/env bash
# Installs the Debian packages the tests and the demo need, when they are missing.
set -euo pipefail
# chromium: the browser tests of deployment/ on kubesim (make test-browser).
packages=(bubblewrap chromium)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi
command -v java >/dev/null || { echo "Java 17 is required for the spark-submit parity tests" >&2; exit 1; }
command -v cargo-nextest >/dev/null || cargo install --locked cargo-nextest
