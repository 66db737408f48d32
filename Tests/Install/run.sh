#!/usr/bin/env bash
# run.sh - the install test: installs a CMake build of libshmemaphore into a
# temporary prefix, builds Tests/Install/consumer.c (and, with --cxx, its C++
# twin consumer.cpp) out of tree against it in two ways, and runs each
# consumer against the Swift test peer.
#
# Usage: Tests/Install/run.sh [OPTIONS] BUILD_DIR
#
#   --cmake CMD        cmake to use (default: cmake)
#   --cc CC            C compiler (default: $CC, else cc)
#   --cxx CXX          also build and run the C++ consumer with this compiler
#                      (-std=c++17 -Wall -Wextra -Werror -pedantic)
#   --pkg-config CMD   pkg-config to use (default: pkg-config)
#   --libdir DIR       the expected library folder relative to the prefix
#                      (CMAKE_INSTALL_LIBDIR; default: found from the .pc file)
#   --peer PROGRAM     the Swift test peer (default: BUILD_DIR/bin/shmemaphore-testpeer)
#   --without-tool     the build has no tool (-DSHMEMAPHORE_BUILD_TOOL=OFF): bin/shmemaphore
#                      and bin/shmemaphore-conformance must not be installed
#   --keep             keep the temporary folder (its path is printed)
#
# ctest runs it as the test `install-consumer`.  Checks, in order:
#   1. `cmake --install BUILD_DIR --prefix TMP/prefix` succeeds and installs
#      the header, libshmemaphore.so.<VERSION> with its two symlinks, the
#      pkg-config file, the CMake package, the tool and the conformance
#      runner (unless --without-tool); any installed
#      example finds the installed library through its RUNPATH;
#   2. a consumer builds with pkg-config (cc ... $(pkg-config --cflags --libs shmemaphore));
#      with --cxx, consumer.cpp too (c++ -std=c++17 ... $(pkg-config ...));
#   3. a consumer builds with CMake (find_package(shmemaphore CONFIG REQUIRED),
#      Tests/Install/CMakeLists.txt; with --cxx, also its C++ consumer);
#   4. for each consumer: NEEDED holds libshmemaphore.so.1 (the soname), the
#      loader resolves it inside the prefix, and a run against
#      `shmemaphore-testpeer client CH` in an empty environment (no Swift
#      toolchain on any path) succeeds, leaving /dev/shm clean.
# Prints "ok: ..." or "FAIL: ..." per check and "N passed, N failed";
# exits 1 if a check failed, 2 on bad usage.  Removes its temporary folder.
set -uo pipefail

usage() { sed -n '7,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

cmake=cmake
cc=${CC:-cc}
cxx=
pkg_config=pkg-config
libdir=
peer=
tool=1
keep=0
build=
while [ $# -gt 0 ]; do
    case "$1" in
        --cmake) cmake=$2; shift 2 ;;
        --cc) cc=$2; shift 2 ;;
        --cxx) cxx=$2; shift 2 ;;
        --pkg-config) pkg_config=$2; shift 2 ;;
        --libdir) libdir=$2; shift 2 ;;
        --peer) peer=$2; shift 2 ;;
        --without-tool) tool=0; shift ;;
        --keep) keep=1; shift ;;
        -h|--help) usage; exit 0 ;;
        -*) echo "run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
        *) [ -z "$build" ] || { usage >&2; exit 2; }; build=$1; shift ;;
    esac
done
[ -n "$build" ] && [ -d "$build" ] || { usage >&2; exit 2; }
build=$(cd "$build" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ -n "$peer" ] || peer=$build/bin/shmemaphore-testpeer

tmp=$(mktemp -d "${TMPDIR:-/tmp}/shmemaphore-install.XXXXXX")
prefix=$tmp/prefix
peer_pid=
cleanup() {
    [ -n "$peer_pid" ] && kill "$peer_pid" 2>/dev/null
    if [ "$keep" -eq 1 ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

passed=0
failed=0
ok()     { passed=$((passed + 1)); echo "ok: $*"; }
fail()   { failed=$((failed + 1)); echo "FAIL: $*"; }
detail() { sed 's/^/    /'; }
finish() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit $?; }

# ---------------------------------------------------------------------------
# 1. Install
# ---------------------------------------------------------------------------

if "$cmake" --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1; then
    ok "cmake --install $build --prefix $prefix ($(grep -c 'Installing:' "$tmp/install.log") files)"
else
    fail "cmake --install $build --prefix $prefix:"
    tail -n 20 "$tmp/install.log" | detail
    finish
fi

if [ -z "$libdir" ]; then
    pc=$(find "$prefix" -name shmemaphore.pc -path '*/pkgconfig/*' | head -n 1)
    libdir=${pc#"$prefix"/}
    libdir=${libdir%/pkgconfig/shmemaphore.pc}
fi
lib=$prefix/$libdir
pc_dir=$lib/pkgconfig
version=$(PKG_CONFIG_PATH=$pc_dir "$pkg_config" --modversion shmemaphore 2>/dev/null)

missing=()
expected=(include/shmemaphore.h include/shmemaphore.hpp "$libdir/libshmemaphore.so.$version" "$libdir/pkgconfig/shmemaphore.pc"
    "$libdir/cmake/shmemaphore/shmemaphoreConfig.cmake" "$libdir/cmake/shmemaphore/shmemaphoreConfigVersion.cmake")
tool_programs=(shmemaphore shmemaphore-conformance)
if [ "$tool" -eq 1 ]; then
    for program in "${tool_programs[@]}"; do expected+=("bin/$program"); done
    tool_layout="bin/shmemaphore, bin/shmemaphore-conformance"
else
    for program in "${tool_programs[@]}"; do
        [ ! -e "$prefix/bin/$program" ] || missing+=("no bin/$program (--without-tool)")
    done
    tool_layout="no bin/shmemaphore, no bin/shmemaphore-conformance"
fi
for path in "${expected[@]}"; do
    [ -f "$prefix/$path" ] || missing+=("$path")
done
[ "$(readlink "$lib/libshmemaphore.so.1")" = "libshmemaphore.so.$version" ] || missing+=("$libdir/libshmemaphore.so.1 -> libshmemaphore.so.$version")
[ "$(readlink "$lib/libshmemaphore.so")" = "libshmemaphore.so.1" ] || missing+=("$libdir/libshmemaphore.so -> libshmemaphore.so.1")
if [ -n "$version" ] && [ ${#missing[@]} -eq 0 ]; then
    ok "layout: include/shmemaphore.h{,pp}, $libdir/libshmemaphore.so{.$version,.1,}, pkg-config file (version $version), CMake package, $tool_layout"
else
    fail "layout under $prefix: missing or wrong: ${missing[*]:-the version (pkg-config --modversion)}"
    (cd "$prefix" && find . | sort) | detail
fi

soname=$(readelf -d "$lib/libshmemaphore.so.$version" 2>/dev/null | sed -nE 's/.*\(SONAME\).*\[(.*)\].*/\1/p')
[ "$soname" = libshmemaphore.so.1 ] && ok "installed library's SONAME is $soname" ||
    fail "installed library's SONAME is '${soname:-<none>}', expected libshmemaphore.so.1"

# ldd-checks PROGRAM: every dependency found, libshmemaphore.so.1 from the prefix.
resolves_in_prefix() {
    local out found
    out=$(env -i PATH=/usr/bin:/bin ldd "$1" 2>&1)
    if grep -q 'not found' <<<"$out"; then
        echo "unresolved: $(grep 'not found' <<<"$out" | paste -sd' ')"; return 1
    fi
    found=$(sed -nE 's/^[[:space:]]*libshmemaphore\.so\.1 => (.*) \(0x[0-9a-f]+\)$/\1/p' <<<"$out")
    if [ -z "$found" ] || [ "$(readlink -f "$found")" != "$(readlink -f "$lib/libshmemaphore.so.1")" ]; then
        echo "libshmemaphore.so.1 resolves to: ${found:-nothing}"; return 1
    fi
}
for example in shmemaphore-example-server shmemaphore-example-client; do
    [ -f "$prefix/bin/$example" ] || continue
    if why=$(resolves_in_prefix "$prefix/bin/$example"); then
        ok "installed $example loads $libdir/libshmemaphore.so.1 (RUNPATH $(readelf -d "$prefix/bin/$example" | sed -nE 's/.*\((RUNPATH|RPATH)\).*\[(.*)\].*/\2/p'))"
    else
        fail "installed $example: $why"
    fi
done
for program in "${tool_programs[@]}"; do
    if [ "$tool" -eq 0 ]; then
        :
    elif out=$(env -i PATH=/usr/bin:/bin ldd "$prefix/bin/$program" 2>&1) && ! grep -q 'not found' <<<"$out"; then
        ok "installed bin/$program: every shared library found$(grep -q libswift <<<"$out" && echo ' (NOTE: needs the Swift runtime: '"$(grep -o 'libswiftCore[^ ]*' <<<"$out" | head -n 1)"')')"
    else
        fail "installed bin/$program: $(grep 'not found' <<<"$out" | paste -sd' ')"
    fi
done

# ---------------------------------------------------------------------------
# 2. and 3. Build the consumer
# ---------------------------------------------------------------------------

consumers=()
warnings=(-std=c11 -Wall -Wextra -Werror -pedantic)
if flags=$(PKG_CONFIG_PATH=$pc_dir "$pkg_config" --cflags --libs shmemaphore 2>"$tmp/pc.log") &&
    # shellcheck disable=SC2086 # pkg-config output is a list of words
    "$cc" "${warnings[@]}" "$here/consumer.c" $flags -Wl,-rpath,"$lib" -o "$tmp/consumer-pkg-config" \
        >"$tmp/cc.log" 2>&1; then
    ok "pkg-config build: $cc consumer.c $flags -Wl,-rpath,$lib"
    consumers+=("$tmp/consumer-pkg-config")
else
    fail "pkg-config build ($cc consumer.c ${flags:-<pkg-config failed>}):"
    cat "$tmp/pc.log" "$tmp/cc.log" 2>/dev/null | detail
fi

if [ -n "$cxx" ]; then
    cxx_warnings=(-std=c++17 -Wall -Wextra -Werror -pedantic -Wconversion -Wshadow)
    # shellcheck disable=SC2086 # pkg-config output is a list of words
    if [ -n "$flags" ] && "$cxx" "${cxx_warnings[@]}" "$here/consumer.cpp" $flags -Wl,-rpath,"$lib" \
            -o "$tmp/consumer-cpp-pkg-config" >"$tmp/cxx.log" 2>&1; then
        ok "pkg-config build of the C++ consumer: $cxx ${cxx_warnings[*]} consumer.cpp $flags"
        consumers+=("$tmp/consumer-cpp-pkg-config")
    else
        fail "pkg-config build of the C++ consumer ($cxx consumer.cpp ${flags:-<pkg-config failed>}):"
        cat "$tmp/cxx.log" 2>/dev/null | detail
    fi
fi

cmake_cxx=()
[ -z "$cxx" ] || cmake_cxx=(-DCMAKE_CXX_COMPILER="$cxx" -DCONSUMER_CXX=ON)
if "$cmake" -S "$here" -B "$tmp/consumer-build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" \
        "${cmake_cxx[@]}" -DCONSUMER_REQUIRES_VERSION="$version" >"$tmp/cmake.log" 2>&1 &&
    "$cmake" --build "$tmp/consumer-build" >>"$tmp/cmake.log" 2>&1; then
    ok "CMake build: find_package(shmemaphore $version CONFIG REQUIRED) -> $(sed -nE 's/^-- shmemaphore [^:]*: //p' "$tmp/cmake.log")${cxx:+ (C and C++ consumers)}"
    consumers+=("$tmp/consumer-build/consumer")
    [ -z "$cxx" ] || consumers+=("$tmp/consumer-build/consumer-cpp")
else
    fail "CMake build (find_package(shmemaphore CONFIG REQUIRED), CMAKE_PREFIX_PATH=$prefix):"
    tail -n 25 "$tmp/cmake.log" | detail
fi

# ---------------------------------------------------------------------------
# 4. Check and run each consumer
# ---------------------------------------------------------------------------

if [ ! -x "$peer" ]; then
    fail "no Swift test peer at $peer: cannot run the consumers"
    finish
fi

for consumer in "${consumers[@]}"; do
    label=${consumer#"$tmp"/}
    needed=$(readelf -d "$consumer" | sed -nE 's/.*\(NEEDED\).*\[(.*)\].*/\1/p' | paste -sd' ')
    if grep -qw 'libshmemaphore\.so\.1' <<<"$needed"; then
        ok "$label: NEEDED has libshmemaphore.so.1 ($needed)"
    else
        fail "$label: NEEDED is '$needed', without libshmemaphore.so.1"
    fi
    if why=$(resolves_in_prefix "$consumer"); then
        ok "$label: the loader finds libshmemaphore.so.1 in $libdir"
    else
        fail "$label: $why"
    fi

    channel="install-$$-${label//\//-}"
    objects=("sem.SEM_${channel}_REQ" "sem.SEM_${channel}_RES" "SEG_${channel}_HEAD" "SEG_${channel}_DATA")
    timeout 60 "$peer" client "$channel" >"$tmp/peer.log" 2>&1 &
    peer_pid=$!
    timeout 60 env -i PATH=/usr/bin:/bin "$consumer" "$channel" >"$tmp/run.log" 2>&1
    consumer_status=$?
    wait "$peer_pid"
    peer_status=$?
    peer_pid=
    left=()
    for object in "${objects[@]}"; do
        [ -e "/dev/shm/$object" ] && { left+=("$object"); rm -f "/dev/shm/$object"; }
    done
    if [ "$consumer_status" -eq 0 ] && [ "$peer_status" -eq 0 ] && [ ${#left[@]} -eq 0 ]; then
        ok "$label ran against $(basename "$peer") in an empty environment; /dev/shm clean: $(head -n 1 "$tmp/run.log")"
    else
        fail "$label against $(basename "$peer"): consumer exit $consumer_status, peer exit $peer_status${left:+, left in /dev/shm (removed): ${left[*]}}"
        { sed 's/^/consumer: /' "$tmp/run.log"; sed 's/^/peer: /' "$tmp/peer.log"; } | detail
    fi
done

finish
