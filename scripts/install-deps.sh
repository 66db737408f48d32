#!/usr/bin/env bash
# Installs what building and testing libshmemaphore needs beyond the Swift
# toolchain, on Debian: stb (image decode/encode), pkg-config, C and C++ compilers
# (gcc, g++: the C++ interface's checks; the toolchain brings clang++),
# CMake (C examples, install, ctest), valgrind and unshare (reliability stage),
# python3 (scripts/check-syscalls.py) with headers, venv, pip, numpy and pytest
# (the Python binding, bindings/python, which ctest pip-installs and tests).
# Only missing packages are installed; as non-root it just reports them.
set -euo pipefail

packages=(libstb-dev pkg-config gcc g++ libc6-dev binutils cmake valgrind util-linux python3
    python3-dev python3-venv python3-pip python3-numpy python3-pytest)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "install-deps: missing Debian packages: ${missing[*]} (run as root, or install them yourself)" >&2
    exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
