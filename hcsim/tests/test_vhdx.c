/* hcsim's VHDX writer and reader (src/vhdx.c): the structures MS-VHDX fixes, read back. */
#include "harness.h"
#include "test_port.h"
#include "vhdx.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef O_BINARY
#define O_BINARY 0
#endif

typedef struct vfile {
    char dir[64], path[128];
    int fd;
    plat_fd h;
} vfile;

static int vfile_open(vfile *v) {
    snprintf(v->dir, sizeof v->dir, "/tmp/hcsim-vhdx-XXXXXX");
    if (!tp_mkdtemp(v->dir)) return -1;
    snprintf(v->path, sizeof v->path, "%s/disk.vhdx", v->dir);
    v->fd = open(v->path, O_RDWR | O_CREAT | O_TRUNC | O_BINARY, 0644);
    v->h = (plat_fd)(intptr_t)tp_vhd_handle(v->fd);
    return v->fd >= 0 ? 0 : -1;
}

static void vfile_close(vfile *v) {
    close(v->fd);
    tp_rmtree(v->dir);
}

static uint64_t rd64(plat_fd h, uint64_t off) {
    uint8_t b[8] = {0};
    if (plat_pread_all(h, b, 8, off) != 8) return ~0ull;
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | b[i];
    return v;
}

static void flip_byte(plat_fd h, uint64_t off) {
    uint8_t b = 0;
    if (plat_pread_all(h, &b, 1, off) == 1) {
        b ^= 0x5a;
        plat_pwrite_all(h, &b, 1, off);
    }
}

TEST(vhdx_crc32c_and_guids) {
    CHECK(vhdx_crc32c("123456789", 9) == 0xE3069283u); /* the CRC-32C check value */
    uint8_t g[16];
    char text[37];
    REQUIRE(vhdx_guid_parse("2DC27766-F623-4200-9D64-115E9BFD4A08", g) == 0);
    CHECK(g[0] == 0x66 && g[3] == 0x2D && g[4] == 0x23 && g[6] == 0x00 && g[8] == 0x9D);
    vhdx_guid_format(g, text);
    CHECK(strcmp(text, "2dc27766-f623-4200-9d64-115e9bfd4a08") == 0);
    CHECK(vhdx_guid_parse("2DC27766-F623-4200-9D64-115E9BFD4A0", g) == -1);
    CHECK(vhdx_guid_parse("2DC27766+F623-4200-9D64-115E9BFD4A08", g) == -1);
    CHECK(vhdx_guid_parse("2DC27766-F623-4200-9D64-115E9BFD4AXX", g) == -1);
}

TEST(vhdx_parameters) {
    uint32_t b = 0, s = 0;
    CHECK(vhdx_check_params(3u << 20, &b, &s) == 0);
    CHECK(b == 32u << 20 && s == 512);
    b = 3u << 20, s = 512;
    CHECK(vhdx_check_params(1u << 30, &b, &s) == VHDX_ERROR_INVALID_BLOCK_SIZE);
    b = 512u << 10;
    CHECK(vhdx_check_params(1u << 30, &b, &s) == VHDX_ERROR_INVALID_BLOCK_SIZE);
    b = 512u << 20;
    CHECK(vhdx_check_params(1u << 30, &b, &s) == VHDX_ERROR_INVALID_BLOCK_SIZE);
    b = 256u << 20, s = 1024;
    CHECK(vhdx_check_params(1u << 30, &b, &s) == VHDX_ERROR_SECTOR_SIZE);
    s = 4096;
    CHECK(vhdx_check_params(1u << 30, &b, &s) == 0);
    CHECK(vhdx_check_params((1u << 30) + 512, &b, &s) == VHDX_ERROR_INVALID_SIZE);
    CHECK(vhdx_check_params(0, &b, &s) == VHDX_ERROR_INVALID_SIZE);
    CHECK(vhdx_check_params((3u << 20) - 4096, &b, &s) == VHDX_ERROR_INVALID_SIZE);
    CHECK(vhdx_check_params(VHDX_MAX_SIZE, &b, &s) == 0);
    CHECK(vhdx_check_params(VHDX_MAX_SIZE + 4096, &b, &s) == VHDX_ERROR_INVALID_SIZE);
}

/* Creates a disk and reads it back: the values, and the BAT of a dynamic or fixed disk. */
static void roundtrip(uint64_t size, uint32_t block, uint32_t sector, int fixed) {
    vfile v;
    REQUIRE(vfile_open(&v) == 0);
    uint8_t id[16];
    REQUIRE(vhdx_guid_parse("01234567-89ab-cdef-0123-456789abcdef", id) == 0);
    REQUIRE(vhdx_check_params(size, &block, &sector) == 0);
    CHECK(vhdx_create(v.h, size, block, sector, fixed, id) == 0);
    vhdx_info info;
    CHECK(vhdx_read(v.h, &info) == 0);
    CHECK(info.virtual_size == size);
    CHECK(info.block_size == block);
    CHECK(info.logical_sector == sector && info.physical_sector == sector);
    CHECK(info.fixed == fixed);
    CHECK(memcmp(info.disk_id, id, 16) == 0);
    CHECK(info.meta_offset == 2u << 20 && info.bat_offset == 3u << 20);
    uint64_t blocks = (size + block - 1) / block;
    uint64_t ratio = ((uint64_t)sector << 23) / block;
    CHECK(info.bat_entries == blocks + (blocks - 1) / ratio);
    CHECK(info.bat_length % (1u << 20) == 0 && info.bat_length >= info.bat_entries * 8);
    uint64_t payload = info.bat_offset + info.bat_length;
    uint64_t first = rd64(v.h, info.bat_offset), last_idx = info.bat_entries - 1;
    uint64_t last = rd64(v.h, info.bat_offset + last_idx * 8);
    if (fixed) {
        CHECK((first & 7) == 6 && (first >> 20) << 20 == payload);
        CHECK((last & 7) == 6);
        CHECK((last >> 20) << 20 == payload + (blocks - 1) * block);
        CHECK(lseek(v.fd, 0, SEEK_END) == (off_t)(payload + blocks * block));
    } else {
        CHECK(first == 0 && last == 0);
        CHECK(lseek(v.fd, 0, SEEK_END) == (off_t)payload);
    }
    vfile_close(&v);
}

TEST(vhdx_dynamic_and_fixed_roundtrip) {
    roundtrip(3u << 20, 1u << 20, 512, 0);
    roundtrip(3u << 20, 1u << 20, 512, 1);
    roundtrip(10ull << 30, 0, 0, 0);
    roundtrip((64ull << 20) + 512, 2u << 20, 512, 1); /* a partial last block */
    roundtrip(1ull << 40, 1u << 20, 512, 0);          /* sector bitmap entries in the BAT */
    roundtrip(VHDX_MAX_SIZE, 256u << 20, 4096, 0);
    roundtrip(8u << 20, 1u << 20, 4096, 1);
}

TEST(vhdx_reader_validates) {
    vfile v;
    REQUIRE(vfile_open(&v) == 0);
    vhdx_info info;
    CHECK(vhdx_read(v.h, &info) == VHDX_ERROR_NOT_VIRTUAL_DISK); /* empty */
    CHECK(plat_pwrite_all(v.h, "not a disk at all", 17, 0) == 0);
    CHECK(vhdx_read(v.h, &info) == VHDX_ERROR_NOT_VIRTUAL_DISK);
    REQUIRE(vhdx_create(v.h, 16u << 20, 1u << 20, 512, 0, NULL) == 0);
    CHECK(vhdx_read(v.h, &info) == 0);
    /* header 2 (the current one) damaged: header 1 is used; both: no disk */
    flip_byte(v.h, (128u << 10) + 100);
    CHECK(vhdx_read(v.h, &info) == 0 && info.virtual_size == 16u << 20);
    flip_byte(v.h, (64u << 10) + 8);
    CHECK(vhdx_read(v.h, &info) == VHDX_ERROR_FORMAT_UNKNOWN);
    REQUIRE(vhdx_create(v.h, 16u << 20, 1u << 20, 512, 0, NULL) == 0);
    /* region table 1 damaged: its copy is used; both: no disk */
    flip_byte(v.h, (192u << 10) + 20);
    CHECK(vhdx_read(v.h, &info) == 0);
    flip_byte(v.h, (256u << 10) + 20);
    CHECK(vhdx_read(v.h, &info) == VHDX_ERROR_FORMAT_UNKNOWN);
    REQUIRE(vhdx_create(v.h, 16u << 20, 1u << 20, 512, 0, NULL) == 0);
    /* the metadata table's signature */
    flip_byte(v.h, 2u << 20);
    CHECK(vhdx_read(v.h, &info) == VHDX_ERROR_FORMAT_UNKNOWN);
    vfile_close(&v);
}

TEST(vhdx_user_items) {
    vfile v;
    REQUIRE(vfile_open(&v) == 0);
    REQUIRE(vhdx_create(v.h, 64u << 20, VHDX_DEFAULT_BLOCK, 512, 0, NULL) == 0);
    vhdx_info info;
    REQUIRE(vhdx_read(v.h, &info) == 0);
    uint8_t g[16], g2[16], buf[32];
    uint32_t len = 99;
    REQUIRE(vhdx_guid_parse("11111111-2222-3333-4444-555555555555", g) == 0);
    REQUIRE(vhdx_guid_parse("11111111-2222-3333-4444-666666666666", g2) == 0);
    CHECK(vhdx_get_item(v.h, &info, g, buf, sizeof buf, &len) == 0 && len == 0);
    CHECK(vhdx_set_item(v.h, &info, g, "0123456789abcdef", 16) == 0);
    CHECK(vhdx_set_item(v.h, &info, g2, "second", 6) == 0);
    CHECK(vhdx_get_item(v.h, &info, g, buf, sizeof buf, &len) == 1 && len == 16);
    CHECK(memcmp(buf, "0123456789abcdef", 16) == 0);
    CHECK(vhdx_set_item(v.h, &info, g, "fedcba9876543210", 16) == 0); /* replaced */
    CHECK(vhdx_get_item(v.h, &info, g, buf, sizeof buf, &len) == 1 && len == 16);
    CHECK(memcmp(buf, "fedcba9876543210", 16) == 0);
    CHECK(vhdx_set_item(v.h, &info, g2, "longer than before", 18) == -1);
    CHECK(vhdx_get_item(v.h, &info, g2, buf, 4, &len) == 1 && len == 6); /* truncated copy */
    CHECK(memcmp(buf, "seco", 4) == 0);
    /* the disk is still a valid VHDX with the same values */
    vhdx_info again;
    CHECK(vhdx_read(v.h, &again) == 0 && again.virtual_size == 64u << 20);
    vfile_close(&v);
}
