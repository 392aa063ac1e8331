/* vhdx_make PATH SIZE [fixed|dynamic] [BLOCK_SIZE] [SECTOR_SIZE]: writes a VHDX file with
 * hcsim's writer (src/vhdx.c), for tests/qemu/check.sh to hand to qemu-img. */
#include "vhdx.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s PATH SIZE [fixed|dynamic] [BLOCK_SIZE] [SECTOR_SIZE]\n",
                argv[0]);
        return 2;
    }
    uint64_t size = strtoull(argv[2], NULL, 0);
    int fixed = argc > 3 && strcmp(argv[3], "fixed") == 0;
    uint32_t block = argc > 4 ? (uint32_t)strtoul(argv[4], NULL, 0) : 0;
    uint32_t sector = argc > 5 ? (uint32_t)strtoul(argv[5], NULL, 0) : 0;
    uint32_t e = vhdx_check_params(size, &block, &sector);
    if (e) {
        fprintf(stderr, "vhdx_make: invalid parameters (0x%08X)\n", e);
        return 1;
    }
    int fd = open(argv[1], O_RDWR | O_CREAT | O_EXCL, 0644);
    if (fd < 0) {
        perror(argv[1]);
        return 1;
    }
    int rc = vhdx_create(fd, size, block, sector, fixed, NULL);
    vhdx_info info;
    e = rc ? 0 : vhdx_read(fd, &info);
    close(fd);
    if (rc || e || info.virtual_size != size) {
        fprintf(stderr, "vhdx_make: failed (errno %d, read 0x%08X)\n", rc, e);
        return 1;
    }
    return 0;
}
