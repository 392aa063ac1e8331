#!/usr/bin/env bash
# hcsim's VHDX files against an independent reader: for dynamic and fixed disks of a few
# sizes and block sizes, `qemu-img info --output=json` must report format vhdx and the
# exact virtual size, and `qemu-img check` must find no errors. Usage: check.sh VHDX_MAKE
# (the program `make -C hcsim qemu-check` builds). qemu reads 512-byte logical sectors
# only, so 4096-byte sectors are checked by hcsim's own reader (tests/test_vhdx.c).
set -euo pipefail
make_vhdx=$1
command -v qemu-img >/dev/null || { echo "qemu-check: qemu-img not found (apt-get install qemu-utils)" >&2; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
n=0
#     size          block (0: default 32 MB)
for case in "3145728 1048576" "67109376 2097152" "1073741824 0" "10737418240 0" \
    "5368709120 268435456" "1099511627776 1048576" "70368744177664 0"; do
    read -r size block <<<"$case"
    for kind in dynamic fixed; do
        # a fixed disk's payload is allocated (sparse where the file system can): keep
        # the fixed ones small
        if [ "$kind" = fixed ] && [ "$size" -gt 10737418240 ]; then continue; fi
        f="$dir/$kind-$size-$block.vhdx"
        "$make_vhdx" "$f" "$size" "$kind" "$block"
        info=$(qemu-img info --output=json "$f")
        python3 - "$size" "$f" "$info" <<'PY'
import json, sys
size, path, info = int(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
assert info["format"] == "vhdx", (path, info["format"])
assert info["virtual-size"] == size, (path, info["virtual-size"], size)
PY
        qemu-img check -q "$f"
        echo "qemu-check: $kind size=$size block=${block/#0/default}: format vhdx, virtual-size $size, check ok"
        n=$((n + 1))
    done
done
echo "qemu-check: $n files ok ($(qemu-img --version | head -1))"
