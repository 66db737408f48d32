#!/bin/sh
# compile-check.sh - builds the C++ interface's programs with every given
# compiler in C++17 and C++20 with warnings as errors, and runs the API check
# of each build.
#
#   compile-check.sh SOURCE_DIR LIB_DIR WORK_DIR COMPILER...
#
# SOURCE_DIR is the source tree (include/, Tests/CPP/, Tests/Install/),
# LIB_DIR the folder of libshmemaphore.so.1 (<build>/lib), WORK_DIR a folder
# for the objects and programs (emptied first).  For each COMPILER and each of
# -std=c++17 and -std=c++20:
#   - include/shmemaphore.hpp alone (a translation unit that only includes it),
#     Tests/CPP/cpp_peer.cpp and Tests/Install/consumer.cpp compile to objects;
#   - Tests/CPP/cpp_api_check.cpp compiles, links against LIB_DIR and runs
#     (Tests/CPP/run-check.sh: unique channel names, /dev/shm cleaned up);
# all with -Wall -Wextra -Werror -pedantic -Wconversion -Wshadow.
# Prints "ok: ..." or "FAIL: ..." per step and "N passed, N failed".
# Exit status: 0 all passed, 1 a step failed, 2 usage.
set -u
if [ $# -lt 4 ]; then
    sed -n '6p' "$0" | sed 's/^# *//' >&2
    exit 2
fi
source_dir=$1
lib_dir=$2
work=$3
shift 3
flags="-Wall -Wextra -Werror -pedantic -Wconversion -Wshadow"
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }

rm -rf "$work" && mkdir -p "$work" || exit 1
printf '#include <shmemaphore.hpp>\n' >"$work/header-only.cpp"

n=0
for compiler in "$@"; do
    n=$((n + 1))
    version=$("$compiler" --version 2>/dev/null | head -n 1)
    for std in c++17 c++20; do
        tag="$n-$std"
        for unit in "$work/header-only.cpp" "$source_dir/Tests/CPP/cpp_peer.cpp" "$source_dir/Tests/Install/consumer.cpp"; do
            name=$(basename "$unit" .cpp)
            # shellcheck disable=SC2086 # $flags is a list of words
            if "$compiler" -std=$std $flags -I"$source_dir/include" -c "$unit" -o "$work/$name-$tag.o" \
                    >"$work/$name-$tag.log" 2>&1; then
                ok "$compiler -std=$std $flags: $name.cpp ($version)"
            else
                fail "$compiler -std=$std $flags: $name.cpp ($version):"
                sed 's/^/    /' "$work/$name-$tag.log" | head -n 40
            fi
        done
        program="$work/cpp-api-check-$tag"
        # shellcheck disable=SC2086
        if "$compiler" -std=$std $flags -O1 -I"$source_dir/include" "$source_dir/Tests/CPP/cpp_api_check.cpp" \
                -L"$lib_dir" -lshmemaphore -Wl,-rpath,"$lib_dir" -pthread -o "$program" >"$program.log" 2>&1; then
            ok "$compiler -std=$std $flags: cpp_api_check.cpp builds"
            if "$source_dir/Tests/CPP/run-check.sh" "$program" "cppcc$n${std#c++}-" >"$program.out" 2>&1; then
                ok "cpp_api_check ($compiler, -std=$std): $(tail -n 1 "$program.out")"
            else
                fail "cpp_api_check ($compiler, -std=$std):"
                grep -v '^ok' "$program.out" | sed 's/^/    /' | head -n 40
            fi
        else
            fail "$compiler -std=$std $flags: cpp_api_check.cpp:"
            sed 's/^/    /' "$program.log" | head -n 40
        fi
    done
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
