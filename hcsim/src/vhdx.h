/* hcsim's VHDX files: a writer and a reader of the VHDX format (MS-VHDX) for dynamic and
 * fixed disks, without a log to replay and without parents. hcsim never stores payload:
 * an attached disk is a bookkeeping state (virtdisk.c), so the payload blocks of a dynamic
 * disk stay PAYLOAD_BLOCK_NOT_PRESENT and those of a fixed disk stay zero. */
#ifndef HCSIM_VHDX_H
#define HCSIM_VHDX_H

#include "plat.h"

#include <stdint.h>

/* Limits of MS-VHDX (and of CreateVirtualDisk for VHDX). */
#define VHDX_MAX_SIZE        (64ull << 40) /* 64 TB */
#define VHDX_MIN_SIZE        (3ull << 20)  /* 3 MB: the smallest disk Windows creates */
#define VHDX_MIN_BLOCK       (1u << 20)    /* 1 MB */
#define VHDX_MAX_BLOCK       (256u << 20)  /* 256 MB */
#define VHDX_DEFAULT_BLOCK   (32u << 20)   /* what Windows picks for BlockSizeInBytes 0 */
#define VHDX_DEFAULT_SECTOR  512u
#define VHDX_USER_ITEM_BYTES 256u /* the largest user metadata item hcsim writes */

/* Win32 error codes of virtdisk's formats (winerror.h), which mingw-w64 does not name. */
#define VHDX_ERROR_INVALID_BLOCK_SIZE 0xC03A000Bu /* ERROR_VHD_INVALID_BLOCK_SIZE */
#define VHDX_ERROR_INVALID_SIZE       0xC03A0012u /* ERROR_VHD_INVALID_SIZE */
#define VHDX_ERROR_FORMAT_UNKNOWN     0xC03A0004u /* ERROR_VHD_FORMAT_UNKNOWN */
#define VHDX_ERROR_NOT_VIRTUAL_DISK   0xC03A0015u /* ERROR_VIRTDISK_NOT_VIRTUAL_DISK */
#define VHDX_ERROR_SECTOR_SIZE        0xC03A001Du /* ERROR_VIRTDISK_UNSUPPORTED_DISK_SECTOR_SIZE */

typedef struct vhdx_info {
    uint64_t virtual_size;
    uint32_t block_size, logical_sector, physical_sector;
    int fixed;           /* LeaveBlocksAllocated */
    uint8_t disk_id[16]; /* Page 83 Data, as stored (a GUID in Windows' byte order) */
    uint64_t meta_offset, bat_offset;
    uint32_t meta_length, bat_length;
    uint64_t bat_entries;
} vhdx_info;

/* Checks the parameters of a new disk: 0, or the Win32 error CreateVirtualDisk gives.
 * block_size 0 means the default (32 MB), sector_size 0 means 512. */
uint32_t vhdx_check_params(uint64_t size, uint32_t *block_size, uint32_t *sector_size);

/* Writes a new disk into fd (an empty file opened for writing): 0, or an errno value.
 * disk_id may be NULL (a new GUID). The parameters must have passed vhdx_check_params. */
int vhdx_create(plat_fd fd, uint64_t size, uint32_t block_size, uint32_t sector_size, int fixed,
                const uint8_t disk_id[16]);

/* Reads and validates a disk: 0, a VHDX_ERROR_* code, or ERROR_READ_FAULT (30) when the
 * file cannot be read. */
uint32_t vhdx_read(plat_fd fd, vhdx_info *out);

/* A user metadata item of the disk (IsUser set), identified by its GUID: vhdx_get_item
 * copies up to cap bytes into buf and gives its length in *len (1 found, 0 absent, -1 on an
 * error); vhdx_set_item adds or replaces it (0, or -1). */
int vhdx_get_item(plat_fd fd, const vhdx_info *info, const uint8_t guid[16], void *buf,
                  uint32_t cap, uint32_t *len);
int vhdx_set_item(plat_fd fd, const vhdx_info *info, const uint8_t guid[16], const void *data,
                  uint32_t len);

/* CRC-32C (Castagnoli), as the headers and the region table carry it. */
uint32_t vhdx_crc32c(const void *data, size_t len);

/* A GUID's text (xxxxxxxx-xxxx-...) to its 16 bytes in Windows' order, and back. */
int vhdx_guid_parse(const char *text, uint8_t out[16]);
void vhdx_guid_format(const uint8_t g[16], char out[37]);

#endif
