#!/usr/bin/env bash
# Installs the system packages Kiln's build, tests, acceptance suite and demo need (Debian 12).
# Idempotent: only what is missing is installed. Needs root (or sudo).
set -euo pipefail

PACKAGES=(
  docker-registry   # CNCF distribution: the real registry for tests and the demo
  skopeo umoci      # interop checks and the demo's base image
  runc              # RUN steps (worker)
  busybox-static    # base images made locally
  libzstd-dev zlib1g-dev libsqlite3-dev  # codecs and the metadata DB
  apache2-utils     # htpasswd for the Basic-auth tests
  tmux              # a real terminal for the live progress display's test
  libstdc++-12-dev  # C++ headers for toml++ (the configuration file's parser, via TOMLKit)
  openssl curl zstd libarchive-tools time make
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

SUDO=""
[[ $(id -u) -eq 0 ]] || SUDO="sudo"
if [[ ${#missing[@]} -gt 0 || ${CI:-} == true ]]; then
  echo "== apt-get update"
  $SUDO apt-get update -qq
fi
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "== installing: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The acceptance suite drives registries with python3 + requests.
if ! python3 -c 'import requests' 2>/dev/null; then
  echo "== installing python requests"
  python3 -m pip install -q requests 2>/dev/null || DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-requests >/dev/null
fi

command -v swift >/dev/null || { echo "swift is not on PATH (Swift 6.2+ toolchain required)" >&2; exit 1; }
