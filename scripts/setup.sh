#!/usr/bin/env bash
# Set up OmniClas on a fresh Debian/Ubuntu machine: system packages, the Python venv, the Fiji plugin build.
# Safe to run again: each step skips what is already done.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"

# openjdk-17-jdk, not -headless: the GUI test (and ImageJ itself) needs AWT's X11 library, libawt_xawt.so
APT_PACKAGES="python3-venv openjdk-17-jdk maven libij-java libgoogle-gson-java junit4 maven-debian-helper xvfb xdotool x11-apps redis-server"
missing=$(for p in $APT_PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
if [ -n "$missing" ]; then
  echo "== installing Debian packages: $missing"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  "$PYTHON" -m venv .venv
fi
# An editable install follows the source; it needs redoing only when pyproject.toml changes (a stamp says when).
STAMP=.venv/.omniclas-installed
WANT=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ -x .venv/bin/omniclas ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$WANT" ]; then
  echo "== omniclas is installed in .venv"
else
  echo "== installing omniclas and its dependencies into .venv"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e ".[test]"
  echo "$WANT" > "$STAMP"
fi

JAR=$(ls fiji_plugin/target/omniclas_fiji-*.jar 2>/dev/null | head -1 || true)
if [ -n "$JAR" ] && [ -z "$(find fiji_plugin/src fiji_plugin/pom.xml -newer "$JAR" -print -quit)" ]; then
  echo "== the Fiji plugin is built: $JAR"
else
  echo "== building the Fiji plugin"
  # (Maven's plugins print colour codes even in batch mode: stripped)
  (cd fiji_plugin && mvn -o -B -q -Dstyle.color=never -Dmaven.repo.local=/usr/share/maven-repo package -DskipTests) \
    2>&1 | sed 's/\x1b\[[0-9;]*m//g'
  ls fiji_plugin/target/omniclas_fiji-*.jar
fi
