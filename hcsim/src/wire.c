/* hcsim's service protocol: the frame codec and the call tables of wire.h. POSIX only (the
 * Windows build compiles nothing of it). */
#ifndef _WIN32
#include "wire.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "hcsim_internal.h" /* the fn_id numbering of HCSIM_FUNCTIONS */
#include "utf16.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0 /* macOS: no such flag (its sockets take SO_NOSIGPIPE instead) */
#endif

/* ---- little-endian integers ---------------------------------------------------------- */
static void put_le(unsigned char *p, uint64_t v, unsigned n) {
    for (unsigned i = 0; i < n; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, unsigned n) {
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* ---- encoding ------------------------------------------------------------------------ */
static int reserve(hcw_buf *b, size_t more) {
    if (b->failed) return 0;
    if (more > HCW_MAX_FRAME + 4u || b->len + more > HCW_MAX_FRAME + 4u) {
        b->failed = 1;
        return 0;
    }
    if (b->len + more <= b->cap) return 1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more) cap *= 2;
    unsigned char *p = realloc(b->p, cap);
    if (!p) {
        b->failed = 1;
        return 0;
    }
    b->p = p;
    b->cap = cap;
    return 1;
}

static void put_raw(hcw_buf *b, const void *p, size_t n) {
    if (!reserve(b, n)) return;
    if (n) memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void put_int(hcw_buf *b, uint64_t v, unsigned n) {
    unsigned char tmp[8];
    put_le(tmp, v, n);
    put_raw(b, tmp, n);
}

static void put_tag(hcw_buf *b, char tag) { put_raw(b, &tag, 1); }

void hcw_begin(hcw_buf *b, hcw_type type, uint64_t seq) {
    b->len = 0;
    b->nfds = 0;
    b->failed = 0;
    put_int(b, 0, 4); /* the length, filled in by hcw_send */
    put_int(b, (uint64_t)type, 2);
    put_int(b, 0, 2); /* nfds, filled in by hcw_send */
    put_int(b, seq, 8);
}

void hcw_put_u64(hcw_buf *b, uint64_t v) {
    put_tag(b, 'I');
    put_int(b, v, 8);
}

void hcw_put_guid(hcw_buf *b, const void *guid) {
    unsigned char bytes[16] = {0};
    if (guid) memcpy(bytes, guid, sizeof bytes);
    hcw_put_u64(b, get_le(bytes, 8));
    hcw_put_u64(b, get_le(bytes + 8, 8));
}

void hcw_put_str(hcw_buf *b, const char16_t *s) {
    if (!s) {
        put_tag(b, 'N');
        return;
    }
    size_t n = aiohcs_utf16_len(s);
    if (n > HCW_MAX_FRAME / 2) {
        b->failed = 1;
        return;
    }
    put_tag(b, 'S');
    put_int(b, (uint64_t)n, 4);
    if (!reserve(b, n * 2)) return;
    for (size_t i = 0; i < n; i++) put_le(b->p + b->len + 2 * i, s[i], 2);
    b->len += n * 2;
}

void hcw_put_bytes(hcw_buf *b, const void *p, size_t n) {
    if (n > HCW_MAX_FRAME) {
        b->failed = 1;
        return;
    }
    put_tag(b, 'B');
    put_int(b, (uint64_t)n, 4);
    put_raw(b, p, n);
}

void hcw_put_fd(hcw_buf *b, int fd) {
    if (fd < 0) {
        put_tag(b, 'X');
        return;
    }
    if (b->nfds >= HCW_MAX_FDS) {
        b->failed = 1;
        return;
    }
    put_tag(b, 'F');
    put_int(b, b->nfds, 4);
    b->fds[b->nfds++] = fd;
}

int hcw_send(int sock, hcw_buf *b) {
    if (b->failed || !b->p || b->len < HCW_HEADER) {
        errno = b->failed ? EMSGSIZE : EINVAL;
        return -1;
    }
    put_le(b->p, (uint64_t)(b->len - 4), 4);
    put_le(b->p + 6, b->nfds, 2);
    size_t done = 0;
    if (b->nfds) {
        union {
            struct cmsghdr h;
            char space[CMSG_SPACE(sizeof(int) * HCW_MAX_FDS)];
        } ctl;
        memset(&ctl, 0, sizeof ctl);
        struct iovec iov = {b->p, b->len};
        struct msghdr mh = {0};
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = ctl.space;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * b->nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * b->nfds);
        memcpy(CMSG_DATA(c), b->fds, sizeof(int) * b->nfds);
        ssize_t n;
        do n = sendmsg(sock, &mh, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        if (n <= 0) {
            if (n == 0) errno = EPIPE;
            return -1;
        }
        done = (size_t)n;
    }
    while (done < b->len) {
        ssize_t n = send(sock, b->p + done, b->len - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            if (n == 0) errno = EPIPE;
            return -1;
        }
        done += (size_t)n;
    }
    return 0;
}

void hcw_free(hcw_buf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* ---- decoding ------------------------------------------------------------------------ */
static void msg_init(hcw_msg *m) {
    memset(m, 0, sizeof *m);
    for (unsigned i = 0; i < HCW_MAX_FDS; i++) m->fds[i] = -1;
}

/* The header's checks: 0 or -1 (errno EPROTO). */
static int check_header(const unsigned char *h, uint32_t *length, hcw_msg *m) {
    *length = (uint32_t)get_le(h, 4);
    uint64_t type = get_le(h + 4, 2), nfds = get_le(h + 6, 2);
    if (*length < HCW_HEADER - 4 || *length > HCW_MAX_FRAME || type < HCW_HELLO ||
        type > HCW_NOTIFY || nfds > HCW_MAX_FDS) {
        errno = EPROTO;
        return -1;
    }
    m->type = (hcw_type)type;
    m->nfds = (unsigned)nfds;
    m->seq = get_le(h + 8, 8);
    m->len = *length - (HCW_HEADER - 4);
    return 0;
}

/* Takes the descriptors of a control message into got[]; -1 when there are more than fit. */
static int take_fds(struct msghdr *mh, int *got, unsigned *ngot) {
    int ok = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
#ifndef MSG_CMSG_CLOEXEC
            (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
#endif
            if (*ngot < HCW_MAX_FDS)
                got[(*ngot)++] = fd;
            else {
                close(fd);
                ok = -1;
            }
        }
    }
    return ok;
}

int hcw_recv(int sock, hcw_msg *m) {
    msg_init(m);
    unsigned char h[HCW_HEADER];
    size_t have = 0;
    int got[HCW_MAX_FDS];
    unsigned ngot = 0;
    int bad = 0;
#ifdef MSG_CMSG_CLOEXEC
    const int flags = MSG_CMSG_CLOEXEC;
#else
    const int flags = 0;
#endif
    while (have < HCW_HEADER) {
        union {
            struct cmsghdr h;
            char space[CMSG_SPACE(sizeof(int) * HCW_MAX_FDS)];
        } ctl;
        struct iovec iov = {h + have, HCW_HEADER - have};
        struct msghdr mh = {0};
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = ctl.space;
        mh.msg_controllen = sizeof ctl.space;
        ssize_t n = recvmsg(sock, &mh, flags);
        if (n < 0 && errno == EINTR) continue;
        if (n >= 0) {
            if (take_fds(&mh, got, &ngot) < 0 || (mh.msg_flags & MSG_CTRUNC)) bad = 1;
        }
        if (n < 0) goto fail;
        if (n == 0) {
            if (have == 0 && !ngot) return 0;
            errno = ECONNRESET;
            goto fail;
        }
        have += (size_t)n;
    }
    uint32_t length;
    if (bad || check_header(h, &length, m) < 0) {
        errno = EPROTO;
        goto fail;
    }
    if (m->len) {
        m->body = malloc(m->len);
        if (!m->body) {
            errno = ENOMEM;
            goto fail;
        }
        size_t done = 0;
        while (done < m->len) {
            ssize_t n = recv(sock, m->body + done, m->len - done, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                if (n == 0) errno = ECONNRESET;
                goto fail;
            }
            done += (size_t)n;
        }
    }
    if (ngot != m->nfds) {
        errno = EPROTO;
        goto fail;
    }
    for (unsigned i = 0; i < ngot; i++) m->fds[i] = got[i];
    return 1;
fail:
    for (unsigned i = 0; i < ngot; i++) close(got[i]);
    m->nfds = 0;
    return -1;
}

int hcw_parse(const unsigned char *data, size_t len, hcw_msg *m) {
    msg_init(m);
    uint32_t length;
    if (len < HCW_HEADER || check_header(data, &length, m) < 0 || (size_t)length != len - 4 ||
        m->nfds) {
        m->nfds = 0;
        m->len = 0;
        errno = EPROTO;
        return -1;
    }
    if (m->len) {
        m->body = malloc(m->len);
        if (!m->body) {
            m->len = 0;
            errno = ENOMEM;
            return -1;
        }
        memcpy(m->body, data + HCW_HEADER, m->len);
    }
    return 1;
}

static int fail_get(hcw_msg *m) {
    m->bad = 1;
    return 0;
}

/* Consumes the tag (tag, or alt when not 0) and, for tag, n fixed bytes after it; returns
 * the tag read or 0. */
static char take(hcw_msg *m, char tag, char alt, size_t n, const unsigned char **p) {
    if (m->bad || m->pos >= m->len) return (char)fail_get(m);
    char t = (char)m->body[m->pos];
    if (t != tag && (!alt || t != alt)) return (char)fail_get(m);
    if (alt && t == alt) {
        m->pos++;
        return t;
    }
    if (m->len - m->pos - 1 < n) return (char)fail_get(m);
    *p = m->body + m->pos + 1;
    m->pos += 1 + n;
    return t;
}

int hcw_get_u64(hcw_msg *m, uint64_t *v) {
    const unsigned char *p;
    *v = 0;
    if (!take(m, 'I', 0, 8, &p)) return 0;
    *v = get_le(p, 8);
    return 1;
}

int hcw_get_guid(hcw_msg *m, void *guid) {
    uint64_t half[2] = {0, 0};
    int ok = hcw_get_u64(m, &half[0]) && hcw_get_u64(m, &half[1]);
    unsigned char bytes[16];
    for (int i = 0; i < 16; i++) bytes[i] = (unsigned char)(half[i / 8] >> (8 * (i % 8)));
    memcpy(guid, bytes, sizeof bytes);
    return ok;
}

/* A counted field (S: n code units, B: n bytes): the count and the data's position. */
static int take_counted(hcw_msg *m, char tag, char alt, size_t unit, const unsigned char **data,
                        size_t *n, char *which) {
    const unsigned char *p;
    char t = take(m, tag, alt, 4, &p);
    if (!t) return 0;
    *which = t;
    if (alt && t == alt) return 1;
    *n = (size_t)get_le(p, 4);
    if (*n > (m->len - m->pos) / unit) return fail_get(m);
    *data = m->body + m->pos;
    m->pos += *n * unit;
    return 1;
}

int hcw_get_str(hcw_msg *m, char16_t **s) {
    const unsigned char *d = NULL;
    size_t n = 0;
    char t;
    *s = NULL;
    if (!take_counted(m, 'S', 'N', 2, &d, &n, &t)) return 0;
    if (t == 'N') return 1;
    char16_t *out = malloc((n + 1) * sizeof *out);
    if (!out) return fail_get(m);
    for (size_t i = 0; i < n; i++) out[i] = (char16_t)get_le(d + 2 * i, 2);
    out[n] = 0;
    *s = out;
    return 1;
}

int hcw_get_bytes(hcw_msg *m, char **s) {
    const unsigned char *d = NULL;
    size_t n = 0;
    char t;
    *s = NULL;
    if (!take_counted(m, 'B', 0, 1, &d, &n, &t)) return 0;
    if (n && memchr(d, 0, n)) return fail_get(m);
    char *out = malloc(n + 1);
    if (!out) return fail_get(m);
    if (n) memcpy(out, d, n);
    out[n] = 0;
    *s = out;
    return 1;
}

int hcw_get_fd(hcw_msg *m, int *fd) {
    const unsigned char *p;
    *fd = -1;
    char t = take(m, 'F', 'X', 4, &p);
    if (!t) return 0;
    if (t == 'X') return 1;
    uint64_t k = get_le(p, 4);
    if (k >= m->nfds || m->fds[k] < 0) return fail_get(m);
    *fd = m->fds[k];
    m->fds[k] = -1;
    return 1;
}

int hcw_end(hcw_msg *m) { return !m->bad && m->pos == m->len; }

void hcw_msg_free(hcw_msg *m) {
    free(m->body);
    m->body = NULL;
    for (unsigned i = 0; i < HCW_MAX_FDS; i++)
        if (m->fds[i] >= 0) {
            close(m->fds[i]);
            m->fds[i] = -1;
        }
    m->nfds = 0;
}

/* ---- call tables --------------------------------------------------------------------- */
static const char *const call_args[FN_COUNT] = {
#define HCW_ARGS(name, args, results) [FN_##name] = args,
    HCW_CALLS(HCW_ARGS)
#undef HCW_ARGS
};
static const char *const call_results[FN_COUNT] = {
#define HCW_RESULTS(name, args, results) [FN_##name] = results,
    HCW_CALLS(HCW_RESULTS)
#undef HCW_RESULTS
};
static const char *const ctl_args[] = {
#define HCW_ARGS(name, args, results) args,
    HCW_CONTROL_CALLS(HCW_ARGS)
#undef HCW_ARGS
};
static const char *const ctl_results[] = {
#define HCW_RESULTS(name, args, results) results,
    HCW_CONTROL_CALLS(HCW_RESULTS)
#undef HCW_RESULTS
};

static const char *sig_of(uint32_t id, const char *const *calls, const char *const *ctls) {
    if (id < FN_COUNT) return calls[id];
    if (id >= HCW_CTL_BASE && id < HCW_CTL_END) return ctls[id - HCW_CTL_BASE];
    return NULL;
}

const char *hcw_args_of(uint32_t id) { return sig_of(id, call_args, ctl_args); }
const char *hcw_results_of(uint32_t id) { return sig_of(id, call_results, ctl_results); }

/* FNV-1a (64 bits) over the version and every call's id, name and signatures. */
static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++) {
        h ^= c[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint64_t fnv_call(uint64_t h, uint32_t id, const char *name, const char *args,
                         const char *results) {
    unsigned char le[4];
    put_le(le, id, 4);
    h = fnv(h, le, 4);
    h = fnv(h, name, strlen(name) + 1);
    h = fnv(h, args, strlen(args) + 1);
    return fnv(h, results, strlen(results) + 1);
}

uint64_t hcw_build_id(void) {
    uint64_t h = 0xcbf29ce484222325ull;
    unsigned char le[4];
    put_le(le, HCW_VERSION, 4);
    h = fnv(h, le, 4);
#define HCW_HASH(name, args, results) h = fnv_call(h, FN_##name, #name, args, results);
    HCW_CALLS(HCW_HASH)
#undef HCW_HASH
#define HCW_HASH(name, args, results) h = fnv_call(h, HCW_CTL_##name, #name, args, results);
    HCW_CONTROL_CALLS(HCW_HASH)
#undef HCW_HASH
    return h;
}
#endif
