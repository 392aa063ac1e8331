/* hcsim's VHDX writer and reader (see vhdx.h). The layout hcsim writes, in 1 MB units:
 *   0  the header section: file type identifier (0), headers 1 and 2 (64 KB, 128 KB),
 *      region tables 1 and 2 (192 KB, 256 KB)
 *   1  the log (1 MB, empty: LogGuid zero, nothing to replay)
 *   2  the metadata region (1 MB): the table, then the items from 64 KB on
 *   3  the BAT (rounded up to 1 MB), then a fixed disk's payload blocks.
 * Every structure is little-endian; GUIDs are stored in Windows' byte order. */
#include "vhdx.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define KB(n) ((uint64_t)(n) << 10)
#define MB(n) ((uint64_t)(n) << 20)

#define FTI_OFFSET     0
#define HEADER_OFFSET  KB(64) /* header 1; header 2 follows 64 KB later */
#define HEADER_BYTES   KB(4)
#define REGION_OFFSET  KB(192) /* region table 1; table 2 follows 64 KB later */
#define REGION_BYTES   KB(64)
#define LOG_OFFSET     MB(1)
#define LOG_BYTES      MB(1)
#define META_OFFSET    MB(2)
#define META_BYTES     MB(1)
#define META_TABLE     KB(64) /* the table's room; items start after it */
#define META_ENTRY     32u
#define META_MAX_ITEMS 2047u
#define BAT_OFFSET     MB(3)
#define USER_ITEM_BASE KB(128) /* where hcsim puts user items in the metadata region */

#define BAT_NOT_PRESENT   0u
#define BAT_FULLY_PRESENT 6u

/* Region and metadata item GUIDs of MS-VHDX. */
static const char *const BAT_GUID = "2dc27766-f623-4200-9d64-115e9bfd4a08";
static const char *const META_GUID = "8b7ca206-4790-4b9a-b8fe-575f050f886e";
enum { ITEM_FILE_PARAMS, ITEM_VIRTUAL_SIZE, ITEM_DISK_ID, ITEM_LOGICAL, ITEM_PHYSICAL, N_ITEMS };
static const char *const ITEM_GUIDS[N_ITEMS] = {
    "caa16737-fa36-4d43-b3b6-33f0aa44e76b", /* File Parameters */
    "2fa54224-cd1b-4876-b211-5dbed83bf4b8", /* Virtual Disk Size */
    "beca12ab-b2e6-4523-93ef-c309e000c746", /* Page 83 Data (Virtual Disk ID) */
    "8141bf1d-a96f-4709-ba47-f233a8faab5f", /* Logical Sector Size */
    "cda348c7-445d-4471-9cc9-e9885251c556", /* Physical Sector Size */
};
static const uint32_t ITEM_BYTES[N_ITEMS] = {8, 8, 16, 4, 4};
#define ITEM_PARENT_LOCATOR "a8d35f2d-b30b-454d-abf7-d3d84834ab0c"

/* Metadata table entry flags (the 32 bits after Offset and Length). */
#define META_IS_USER         1u
#define META_IS_VIRTUAL_DISK 2u
#define META_IS_REQUIRED     4u

#define ERROR_READ_FAULT 30u

static void put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t get32(const uint8_t *p) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}
static uint64_t get64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

uint32_t vhdx_crc32c(const void *data, size_t len) {
    const uint8_t *p = data;
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < len; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Text order of the 16 bytes: Data1 (4, little-endian), Data2 (2), Data3 (2), Data4 (8). */
static const int GUID_ORDER[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};

int vhdx_guid_parse(const char *text, uint8_t out[16]) {
    if (!text || strlen(text) != 36) return -1;
    int n = 0;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (text[i] != '-') return -1;
            continue;
        }
        int hi = hexval(text[i]), lo = hexval(text[i + 1]);
        if (hi < 0 || lo < 0) return -1;
        out[GUID_ORDER[n++]] = (uint8_t)(hi << 4 | lo);
        i++;
    }
    return 0;
}

void vhdx_guid_format(const uint8_t g[16], char out[37]) {
    static const char hex[] = "0123456789abcdef";
    int o = 0;
    for (int n = 0; n < 16; n++) {
        if (n == 4 || n == 6 || n == 8 || n == 10) out[o++] = '-';
        out[o++] = hex[g[GUID_ORDER[n]] >> 4];
        out[o++] = hex[g[GUID_ORDER[n]] & 15];
    }
    out[36] = 0;
}

static void guid_const(const char *text, uint8_t out[16]) {
    if (vhdx_guid_parse(text, out) != 0) memset(out, 0, 16);
}

static void new_guid(uint8_t out[16]) {
    char text[37];
    plat_new_guid(text);
    guid_const(text, out);
}

/* ---- geometry -------------------------------------------------------------------------- */
static uint64_t chunk_ratio(uint32_t block_size, uint32_t logical_sector) {
    return (MB(8) * logical_sector) / block_size; /* 2^23 sectors of bitmap per block */
}

static uint64_t data_blocks(uint64_t size, uint32_t block_size) {
    return (size + block_size - 1) / block_size;
}

/* Entries of a BAT without a parent: each run of chunk-ratio payload entries is followed
 * by one sector bitmap entry, the last run's only when it is complete. */
static uint64_t bat_entries(uint64_t size, uint32_t block_size, uint32_t logical_sector) {
    uint64_t n = data_blocks(size, block_size);
    return n + (n - 1) / chunk_ratio(block_size, logical_sector);
}

static uint64_t round_mb(uint64_t v) { return (v + MB(1) - 1) & ~(MB(1) - 1); }

uint32_t vhdx_check_params(uint64_t size, uint32_t *block_size, uint32_t *sector_size) {
    if (*block_size == 0) *block_size = VHDX_DEFAULT_BLOCK;
    if (*sector_size == 0) *sector_size = VHDX_DEFAULT_SECTOR;
    uint32_t b = *block_size;
    if (b < VHDX_MIN_BLOCK || b > VHDX_MAX_BLOCK || (b & (b - 1)) != 0)
        return VHDX_ERROR_INVALID_BLOCK_SIZE;
    if (*sector_size != 512 && *sector_size != 4096) return VHDX_ERROR_SECTOR_SIZE;
    if (size < VHDX_MIN_SIZE || size > VHDX_MAX_SIZE || size % *sector_size != 0)
        return VHDX_ERROR_INVALID_SIZE;
    return 0;
}

/* ---- writer ---------------------------------------------------------------------------- */
static void write_header(uint8_t *h, uint64_t seq, const uint8_t file_write[16],
                         const uint8_t data_write[16]) {
    memset(h, 0, HEADER_BYTES);
    memcpy(h, "head", 4);
    put64(h + 8, seq);
    memcpy(h + 16, file_write, 16);
    memcpy(h + 32, data_write, 16);
    /* LogGuid (48) zero: no log entries to replay; LogVersion (64) 0 */
    put16(h + 66, 1); /* Version */
    put32(h + 68, (uint32_t)LOG_BYTES);
    put64(h + 72, LOG_OFFSET);
    put32(h + 4, vhdx_crc32c(h, HEADER_BYTES));
}

static void write_region_table(uint8_t *r, uint64_t bat_length) {
    memset(r, 0, REGION_BYTES);
    memcpy(r, "regi", 4);
    put32(r + 8, 2); /* EntryCount */
    uint8_t *e = r + 16;
    guid_const(BAT_GUID, e);
    put64(e + 16, BAT_OFFSET);
    put32(e + 24, (uint32_t)bat_length);
    put32(e + 28, 1); /* Required */
    e += 32;
    guid_const(META_GUID, e);
    put64(e + 16, META_OFFSET);
    put32(e + 24, (uint32_t)META_BYTES);
    put32(e + 28, 1);
    put32(r + 4, vhdx_crc32c(r, REGION_BYTES));
}

static void write_metadata(uint8_t *m, uint64_t size, uint32_t block_size, uint32_t sector_size,
                           int fixed, const uint8_t disk_id[16]) {
    memset(m, 0, META_TABLE + KB(4));
    memcpy(m, "metadata", 8);
    put16(m + 10, N_ITEMS); /* EntryCount */
    uint32_t off = (uint32_t)META_TABLE;
    for (int i = 0; i < N_ITEMS; i++) {
        uint8_t *e = m + 32 + (size_t)i * META_ENTRY;
        guid_const(ITEM_GUIDS[i], e);
        put32(e + 16, off);
        put32(e + 20, ITEM_BYTES[i]);
        put32(e + 24, META_IS_REQUIRED | (i == ITEM_FILE_PARAMS ? 0 : META_IS_VIRTUAL_DISK));
        uint8_t *item = m + off;
        switch (i) {
        case ITEM_FILE_PARAMS:
            put32(item, block_size);
            put32(item + 4, fixed ? 1u : 0u); /* LeaveBlocksAllocated; HasParent clear */
            break;
        case ITEM_VIRTUAL_SIZE: put64(item, size); break;
        case ITEM_DISK_ID: memcpy(item, disk_id, 16); break;
        case ITEM_LOGICAL: put32(item, sector_size); break;
        default: put32(item, sector_size); break; /* physical = logical */
        }
        off += ITEM_BYTES[i];
    }
}

/* Writes the BAT in pieces of at most 1 MB; a fixed disk's payload blocks follow it. */
static int write_bat(plat_fd fd, uint64_t size, uint32_t block_size, uint32_t sector_size,
                     int fixed, uint64_t bat_length) {
    uint64_t entries = bat_entries(size, block_size, sector_size);
    uint64_t ratio = chunk_ratio(block_size, sector_size);
    uint64_t payload = BAT_OFFSET + bat_length, block = 0;
    const size_t piece = (size_t)MB(1);
    uint8_t *buf = calloc(1, piece);
    if (!buf) return ENOMEM;
    int e = 0;
    for (uint64_t at = 0; e == 0 && at < bat_length; at += piece) {
        memset(buf, 0, piece);
        for (size_t k = 0; fixed && k < piece / 8; k++) {
            uint64_t idx = at / 8 + k;
            if (idx >= entries) break;
            if (idx % (ratio + 1) == ratio) continue; /* a sector bitmap entry: not present */
            uint64_t offset = payload + block++ * block_size;
            put64(buf + k * 8, BAT_FULLY_PRESENT | ((offset >> 20) << 20));
        }
        e = plat_pwrite_all(fd, buf, piece, BAT_OFFSET + at);
    }
    free(buf);
    if (e == 0 && fixed) {
        /* the payload: the file extends to its end (zeros, sparse where the system can) */
        uint8_t zero = 0;
        e = plat_pwrite_all(fd, &zero, 1, payload + block * block_size - 1);
    }
    return e;
}

int vhdx_create(plat_fd fd, uint64_t size, uint32_t block_size, uint32_t sector_size, int fixed,
                const uint8_t disk_id[16]) {
    uint64_t bat_length = round_mb(bat_entries(size, block_size, sector_size) * 8);
    if (bat_length > UINT32_MAX) return EINVAL;
    uint8_t *buf = calloc(1, (size_t)(META_TABLE + KB(4)));
    if (!buf) return ENOMEM;
    uint8_t id[16], fw[16], dw[16];
    if (disk_id)
        memcpy(id, disk_id, 16);
    else
        new_guid(id);
    new_guid(fw);
    new_guid(dw);
    int e = write_bat(fd, size, block_size, sector_size, fixed, bat_length);
    /* the log region, zero (the file may already extend past it) */
    static const uint8_t zero4k[4096];
    for (uint64_t at = 0; e == 0 && at < LOG_BYTES; at += sizeof zero4k)
        e = plat_pwrite_all(fd, zero4k, sizeof zero4k, LOG_OFFSET + at);
    write_metadata(buf, size, block_size, sector_size, fixed, id);
    if (e == 0) e = plat_pwrite_all(fd, buf, (size_t)(META_TABLE + KB(4)), META_OFFSET);
    write_region_table(buf, bat_length);
    for (int i = 0; e == 0 && i < 2; i++)
        e = plat_pwrite_all(fd, buf, (size_t)REGION_BYTES, REGION_OFFSET + (uint64_t)i * KB(64));
    for (int i = 0; e == 0 && i < 2; i++) {
        write_header(buf, (uint64_t)i + 1, fw, dw); /* header 2 is the current one */
        e = plat_pwrite_all(fd, buf, (size_t)HEADER_BYTES, HEADER_OFFSET + (uint64_t)i * KB(64));
    }
    /* the file type identifier last: until it is there, the file is no VHDX */
    memset(buf, 0, 1024);
    memcpy(buf, "vhdxfile", 8);
    static const char creator[] = "hcsim";
    for (size_t i = 0; i < sizeof creator - 1; i++) put16(buf + 8 + 2 * i, (uint16_t)creator[i]);
    if (e == 0) e = plat_pwrite_all(fd, buf, 1024, FTI_OFFSET);
    free(buf);
    return e;
}

/* ---- reader ---------------------------------------------------------------------------- */
/* 0, VHDX_ERROR_FORMAT_UNKNOWN (short read), or ERROR_READ_FAULT. */
static uint32_t read_at(plat_fd fd, void *buf, size_t len, uint64_t off) {
    int got = plat_pread_all(fd, buf, len, off);
    if (got < 0) return ERROR_READ_FAULT;
    return (size_t)got == len ? 0 : VHDX_ERROR_FORMAT_UNKNOWN;
}

static int checksum_ok(uint8_t *s, size_t len) {
    uint32_t want = get32(s + 4);
    put32(s + 4, 0);
    int ok = vhdx_crc32c(s, len) == want;
    put32(s + 4, want);
    return ok;
}

/* The current header (the valid one with the greater sequence number). */
static uint32_t read_headers(plat_fd fd, uint8_t *buf) {
    uint64_t best_seq = 0;
    int best = -1;
    for (int i = 0; i < 2; i++) {
        uint32_t e = read_at(fd, buf, (size_t)HEADER_BYTES, HEADER_OFFSET + (uint64_t)i * KB(64));
        if (e == ERROR_READ_FAULT) return e;
        if (e || memcmp(buf, "head", 4) || !checksum_ok(buf, (size_t)HEADER_BYTES) ||
            get16(buf + 66) != 1)
            continue;
        if (best < 0 || get64(buf + 8) > best_seq) {
            best = i;
            best_seq = get64(buf + 8);
        }
    }
    if (best < 0) return VHDX_ERROR_FORMAT_UNKNOWN;
    uint32_t e = read_at(fd, buf, (size_t)HEADER_BYTES, HEADER_OFFSET + (uint64_t)best * KB(64));
    if (e) return e;
    static const uint8_t zero[16];
    /* a log to replay: hcsim does not replay logs */
    if (memcmp(buf + 48, zero, 16) != 0) return VHDX_ERROR_FORMAT_UNKNOWN;
    return 0;
}

static uint32_t read_regions(plat_fd fd, uint8_t *buf, vhdx_info *out) {
    uint32_t e = VHDX_ERROR_FORMAT_UNKNOWN;
    for (int i = 0; i < 2; i++) {
        e = read_at(fd, buf, (size_t)REGION_BYTES, REGION_OFFSET + (uint64_t)i * KB(64));
        if (e == ERROR_READ_FAULT) return e;
        if (e == 0 && !memcmp(buf, "regi", 4) && checksum_ok(buf, (size_t)REGION_BYTES)) break;
        e = VHDX_ERROR_FORMAT_UNKNOWN;
    }
    if (e) return e;
    uint32_t n = get32(buf + 8);
    if (n > 2047) return VHDX_ERROR_FORMAT_UNKNOWN;
    uint8_t bat[16], meta[16];
    guid_const(BAT_GUID, bat);
    guid_const(META_GUID, meta);
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *r = buf + 16 + (size_t)i * 32;
        uint64_t off = get64(r + 16);
        uint32_t len = get32(r + 24);
        if (off % MB(1) || len % MB(1) || off < MB(1)) return VHDX_ERROR_FORMAT_UNKNOWN;
        if (!memcmp(r, bat, 16)) {
            out->bat_offset = off;
            out->bat_length = len;
        } else if (!memcmp(r, meta, 16)) {
            out->meta_offset = off;
            out->meta_length = len;
        } else if (get32(r + 28) & 1u) {
            return VHDX_ERROR_FORMAT_UNKNOWN; /* a required region hcsim does not know */
        }
    }
    if (!out->bat_offset || !out->meta_offset || out->meta_length < META_TABLE)
        return VHDX_ERROR_FORMAT_UNKNOWN;
    return 0;
}

/* The metadata table (64 KB) into buf; 0 or an error. */
static uint32_t read_meta_table(plat_fd fd, const vhdx_info *info, uint8_t *buf) {
    uint32_t e = read_at(fd, buf, (size_t)META_TABLE, info->meta_offset);
    if (e) return e;
    if (memcmp(buf, "metadata", 8) || get16(buf + 10) > META_MAX_ITEMS)
        return VHDX_ERROR_FORMAT_UNKNOWN;
    return 0;
}

static uint32_t read_items(plat_fd fd, uint8_t *buf, vhdx_info *out) {
    uint32_t e = read_meta_table(fd, out, buf);
    if (e) return e;
    uint8_t want[N_ITEMS][16], parent[16];
    for (int i = 0; i < N_ITEMS; i++) guid_const(ITEM_GUIDS[i], want[i]);
    guid_const(ITEM_PARENT_LOCATOR, parent);
    uint8_t values[N_ITEMS][16];
    int found[N_ITEMS] = {0};
    unsigned n = get16(buf + 10);
    for (unsigned k = 0; k < n; k++) {
        const uint8_t *ent = buf + 32 + (size_t)k * META_ENTRY;
        uint32_t off = get32(ent + 16), len = get32(ent + 20), flags = get32(ent + 24);
        if (len && (off < META_TABLE || (uint64_t)off + len > out->meta_length))
            return VHDX_ERROR_FORMAT_UNKNOWN;
        if (flags & META_IS_USER) continue;
        int i = 0;
        while (i < N_ITEMS && memcmp(ent, want[i], 16)) i++;
        if (i == N_ITEMS) {
            /* a parent locator (a differencing disk) or a required item hcsim does not know */
            if ((flags & META_IS_REQUIRED) || !memcmp(ent, parent, 16))
                return VHDX_ERROR_FORMAT_UNKNOWN;
            continue;
        }
        if (len != ITEM_BYTES[i]) return VHDX_ERROR_FORMAT_UNKNOWN;
        if ((e = read_at(fd, values[i], len, out->meta_offset + off)) != 0) return e;
        found[i] = 1;
    }
    for (int i = 0; i < N_ITEMS; i++)
        if (!found[i]) return VHDX_ERROR_FORMAT_UNKNOWN;
    out->block_size = get32(values[ITEM_FILE_PARAMS]);
    uint32_t fp = get32(values[ITEM_FILE_PARAMS] + 4);
    if (fp & 2u) return VHDX_ERROR_FORMAT_UNKNOWN; /* HasParent */
    out->fixed = (int)(fp & 1u);
    out->virtual_size = get64(values[ITEM_VIRTUAL_SIZE]);
    memcpy(out->disk_id, values[ITEM_DISK_ID], 16);
    out->logical_sector = get32(values[ITEM_LOGICAL]);
    out->physical_sector = get32(values[ITEM_PHYSICAL]);
    uint32_t b = out->block_size, s = out->logical_sector;
    if (vhdx_check_params(out->virtual_size, &b, &s) != 0 || b != out->block_size ||
        (out->physical_sector != 512 && out->physical_sector != 4096))
        return VHDX_ERROR_FORMAT_UNKNOWN;
    return 0;
}

uint32_t vhdx_read(plat_fd fd, vhdx_info *out) {
    memset(out, 0, sizeof *out);
    char sig[8];
    uint32_t e = read_at(fd, sig, sizeof sig, FTI_OFFSET);
    if (e == ERROR_READ_FAULT) return e;
    if (e || memcmp(sig, "vhdxfile", 8)) return VHDX_ERROR_NOT_VIRTUAL_DISK;
    uint8_t *buf = malloc((size_t)REGION_BYTES);
    if (!buf) return 8; /* ERROR_NOT_ENOUGH_MEMORY */
    e = read_headers(fd, buf);
    if (!e) e = read_regions(fd, buf, out);
    if (!e) e = read_items(fd, buf, out);
    if (!e) {
        out->bat_entries = bat_entries(out->virtual_size, out->block_size, out->logical_sector);
        if (out->bat_entries * 8 > out->bat_length) e = VHDX_ERROR_FORMAT_UNKNOWN;
    }
    free(buf);
    return e;
}

/* ---- user metadata items --------------------------------------------------------------- */
/* The table's entry for (guid, IsUser) in buf: its index, or -1. */
static int find_user_item(const uint8_t *table, const uint8_t guid[16]) {
    unsigned n = get16(table + 10);
    for (unsigned k = 0; k < n; k++) {
        const uint8_t *ent = table + 32 + (size_t)k * META_ENTRY;
        if (!memcmp(ent, guid, 16) && (get32(ent + 24) & META_IS_USER)) return (int)k;
    }
    return -1;
}

int vhdx_get_item(plat_fd fd, const vhdx_info *info, const uint8_t guid[16], void *buf,
                  uint32_t cap, uint32_t *len) {
    *len = 0;
    uint8_t *table = malloc((size_t)META_TABLE);
    if (!table) return -1;
    int rc = read_meta_table(fd, info, table) ? -1 : 0;
    int k = rc == 0 ? find_user_item(table, guid) : -1;
    if (k >= 0) {
        const uint8_t *ent = table + 32 + (size_t)k * META_ENTRY;
        uint32_t off = get32(ent + 16), n = get32(ent + 20);
        *len = n;
        if (n > cap) n = cap;
        rc = (uint64_t)off + n <= info->meta_length &&
                     read_at(fd, buf, n, info->meta_offset + off) == 0
                 ? 1
                 : -1;
    }
    free(table);
    return rc;
}

int vhdx_set_item(plat_fd fd, const vhdx_info *info, const uint8_t guid[16], const void *data,
                  uint32_t len) {
    if (len > VHDX_USER_ITEM_BYTES) return -1;
    uint8_t *table = malloc((size_t)META_TABLE);
    if (!table) return -1;
    int rc = read_meta_table(fd, info, table) ? -1 : 0;
    int k = rc == 0 ? find_user_item(table, guid) : -1;
    unsigned n = get16(table + 10);
    if (rc == 0 && k < 0) {
        /* a new entry: each user item hcsim adds gets its own slot after USER_ITEM_BASE */
        uint64_t off = USER_ITEM_BASE + (uint64_t)n * VHDX_USER_ITEM_BYTES;
        if (n >= META_MAX_ITEMS || off + VHDX_USER_ITEM_BYTES > info->meta_length) {
            rc = -1;
        } else {
            k = (int)n;
            uint8_t *ent = table + 32 + (size_t)k * META_ENTRY;
            memset(ent, 0, META_ENTRY);
            memcpy(ent, guid, 16);
            put32(ent + 16, (uint32_t)off);
            put32(ent + 24, META_IS_USER);
            put16(table + 10, (uint16_t)(n + 1));
        }
    }
    if (rc == 0) {
        uint8_t *ent = table + 32 + (size_t)k * META_ENTRY;
        uint32_t off = get32(ent + 16);
        if (k < (int)n && len > get32(ent + 20)) rc = -1; /* an existing item never grows */
        /* (an existing item's offset comes from the file: it must lie in the region) */
        if (k < (int)n && (off < META_TABLE || (uint64_t)off + len > info->meta_length)) rc = -1;
        put32(ent + 20, len);
        rc = rc == 0 && plat_pwrite_all(fd, data, len, info->meta_offset + off) == 0 &&
                     plat_pwrite_all(fd, table, (size_t)META_TABLE, info->meta_offset) == 0
                 ? 0
                 : -1;
    }
    free(table);
    return rc;
}
