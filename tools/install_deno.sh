#!/usr/bin/env bash
# Installs the project's Deno (2.9.6) into .tools/ from the npm registry, with the machine's npm,
# and links it as .tools/bin/deno. Then put it on PATH:
#
#   bash tools/install_deno.sh && export PATH="$PWD/.tools/bin:$PATH"
#
# Safe to run again: it does nothing when .tools/bin/deno already is that version.
set -euo pipefail

DENO_VERSION=2.9.6
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
link="$tools/bin/deno"

if [ -x "$link" ]; then
  installed="$("$link" --version 2>/dev/null || true)"
  case "$installed" in "deno $DENO_VERSION "*) exit 0 ;; esac
fi

case "$(uname -s)" in
  Linux) os=linux ;;
  Darwin) os=darwin ;;
  *) echo "install_deno.sh: unsupported OS $(uname -s) (Linux and macOS only)" >&2; exit 1 ;;
esac
case "$(uname -m)" in
  x86_64 | amd64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "install_deno.sh: unsupported CPU $(uname -m) (x86_64 and arm64 only)" >&2; exit 1 ;;
esac
platform="$os-$arch"
if [ "$os" = linux ]; then
  if ldd --version 2>&1 | grep -qi musl; then
    echo "install_deno.sh: musl libc is not supported by the deno npm package (glibc only)" >&2
    exit 1
  fi
  platform="$platform-glibc"
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "install_deno.sh: npm is required (install Node.js, e.g. the Debian package npm, or run bash tools/bootstrap.sh, which does)" >&2
  exit 1
fi

# The deno package's postinstall (which links the binary) is skipped on purpose: npm 11 may not run
# it anyway, and the binary of this platform arrives as the optional dependency @deno/$platform.
npm install --prefix "$tools" --no-audit --no-fund --ignore-scripts --save-exact \
  --loglevel=error --color=false "deno@$DENO_VERSION" >&2

binary="$tools/node_modules/@deno/$platform/deno"
if [ ! -f "$binary" ]; then
  echo "install_deno.sh: npm did not install $binary (optional dependency @deno/$platform)" >&2
  exit 1
fi
chmod +x "$binary"
mkdir -p "$tools/bin"
ln -sfn "../node_modules/@deno/$platform/deno" "$link"
"$link" --version >&2
