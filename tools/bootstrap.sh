#!/usr/bin/env bash
# From a fresh clone to a running project in one command: installs only what is missing, then
# runs what was asked.
#
#   bash tools/bootstrap.sh dev    # a working lab: a local Kafka broker and one engine (deno task dev)
#   bash tools/bootstrap.sh test   # every test, ending with `N passed, N failed` (deno task test)
#   bash tools/bootstrap.sh        # install only
#
# Arguments after the mode go to the task: `bash tools/bootstrap.sh dev --cp-id CP_007`.
#
# What it may install: Deno (the pinned version, from npm, into .tools/, by tools/install_deno.sh;
# npm itself from Debian's packages when missing), Java 17+ and Maven (for the local Kafka broker,
# only when a broker must be started), tmux and Chromium (for the console and web panel tests).
# Debian's packages are installed with apt-get, as root; anyone else is told what to install.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

mode="${1:-install}"
[ "$#" -gt 0 ] && shift

say() { echo "bootstrap: $*" >&2; }

case "$mode" in
  dev | test | install) ;;
  -h | --help)
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
    exit 0
    ;;
  *)
    say "unknown mode '$mode': expected dev, test or nothing (install only)"
    exit 2
    ;;
esac

apt_updated=0
# apt_install PACKAGE...: Debian's packages, as root; otherwise says what is missing and stops.
apt_install() {
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    say "missing: $* (install it, then run this again)"
    exit 1
  fi
  if [ "$apt_updated" -eq 0 ]; then
    say "apt-get update"
    apt-get update -qq
    apt_updated=1
  fi
  say "installing $* with apt-get"
  # Quiet: apt's progress goes, its errors stay (but not debconf's note about apt-utils).
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" \
    2> >(grep -v "apt-utils is not installed" >&2) >/dev/null
}

# The major version of `java` on PATH, 0 when there is none.
java_major() {
  local out major
  out="$(java -version 2>&1 || true)"
  major="$(printf '%s\n' "$out" | sed -n 's/.*version "\([0-9]*\)\.\{0,1\}\([0-9]*\).*/\1 \2/p' |
    awk 'NR == 1 { print ($1 == 1) ? $2 : $1 }')"
  case "$major" in '' | *[!0-9]*) echo 0 ;; *) echo "$major" ;; esac
}

need_java_and_maven() {
  if [ "$(java_major)" -lt 17 ]; then
    # Debian 12 has openjdk-17; later releases only newer ones, as their default JRE.
    apt_install openjdk-17-jre-headless || apt_install default-jre-headless
    if [ "$(java_major)" -lt 17 ]; then
      # An older java is first on PATH: put Java 17's in front.
      for dir in /usr/lib/jvm/java-17-openjdk-*/bin; do
        [ -x "$dir/java" ] && export PATH="$dir:$PATH" && break
      done
    fi
  fi
  command -v mvn >/dev/null 2>&1 || apt_install maven
}

# --- Deno: the project's pinned version, on PATH already or installed into .tools/bin from npm.
pinned="$(sed -n 's/^DENO_VERSION=//p' tools/install_deno.sh)"
case "$(deno --version 2>/dev/null | head -n1)" in
  "deno $pinned "*) ;;
  *)
    if ! command -v npm >/dev/null 2>&1 && ! [ -x .tools/bin/deno ]; then
      apt_install npm ca-certificates
    fi
    bash tools/install_deno.sh
    export PATH="$PWD/.tools/bin:$PATH"
    ;;
esac

# --- What the mode needs besides Deno.
case "$mode" in
  dev)
    # The lab starts a local broker unless one is configured (KAFKA_BROKER or --kafka-broker).
    configured=0
    [ -n "${KAFKA_BROKER:-}" ] && configured=1
    for arg in "$@"; do
      case "$arg" in --kafka-broker | --kafka-broker=*) configured=1 ;; esac
    done
    [ "$configured" -eq 0 ] && need_java_and_maven
    ;;
  test | install)
    need_java_and_maven
    command -v tmux >/dev/null 2>&1 || apt_install tmux
    # Debian's Chromium, for the web panel's browser tests (playwright-core drives it).
    [ -x /usr/bin/chromium ] || apt_install chromium fonts-dejavu-core
    ;;
esac

deno install --quiet

case "$mode" in
  dev) exec deno task --quiet dev "$@" ;;
  test) exec deno task --quiet test "$@" ;;
  install) say "ready: deno $(deno --version | head -n1 | cut -d' ' -f2) at $(command -v deno)" ;;
esac
