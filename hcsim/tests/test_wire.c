/* Tests of the service protocol's codec (hcsim/src/wire.c): round trips over a socket pair
 * with descriptors, and every malformed frame. POSIX only. */
#include "harness.h"
#include "hcsim_internal.h"
#include "wire.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char16_t hello16[] = u"h\u00e9llo \U0001F600";

/* A frame from raw bytes: header with the given length field, then body. */
static size_t raw_frame(unsigned char *out, uint32_t length, uint16_t type, uint16_t nfds,
                        uint64_t seq, const void *body, size_t n) {
    for (int i = 0; i < 4; i++) out[i] = (unsigned char)(length >> (8 * i));
    out[4] = (unsigned char)type;
    out[5] = (unsigned char)(type >> 8);
    out[6] = (unsigned char)nfds;
    out[7] = (unsigned char)(nfds >> 8);
    for (int i = 0; i < 8; i++) out[8 + i] = (unsigned char)(seq >> (8 * i));
    if (n) memcpy(out + HCW_HEADER, body, n);
    return HCW_HEADER + n;
}

static size_t frame_of(unsigned char *out, const void *body, size_t n) {
    return raw_frame(out, (uint32_t)(HCW_HEADER - 4 + n), HCW_CALL, 0, 7, body, n);
}

TEST(wire_round_trip_over_socket_with_descriptors) {
    int sv[2], pipefd[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    REQUIRE(pipe(pipefd) == 0);
    hcw_buf b = {0};
    hcw_begin(&b, HCW_COMPLETE, 0x1122334455667788ull);
    hcw_put_u64(&b, 0x80370105u);
    hcw_put_str(&b, hello16);
    hcw_put_str(&b, NULL);
    hcw_put_bytes(&b, "HcsStart", 8);
    hcw_put_fd(&b, pipefd[0]);
    hcw_put_fd(&b, -1);
    hcw_put_fd(&b, pipefd[1]);
    CHECK(hcw_send(sv[0], &b) == 0);
    /* a second frame right behind, without descriptors */
    hcw_begin(&b, HCW_EVENT, 3);
    hcw_put_u64(&b, UINT64_MAX);
    CHECK(hcw_send(sv[0], &b) == 0);
    hcw_free(&b);
    close(pipefd[0]);
    close(pipefd[1]);

    hcw_msg m;
    REQUIRE(hcw_recv(sv[1], &m) == 1);
    CHECK(m.type == HCW_COMPLETE && m.seq == 0x1122334455667788ull && m.nfds == 2);
    uint64_t v;
    char16_t *s = NULL, *n = (char16_t *)1;
    char *bytes = NULL;
    int r = -1, x = 0, w = -1;
    CHECK(hcw_get_u64(&m, &v) && v == 0x80370105u);
    CHECK(hcw_get_str(&m, &s) && s && !memcmp(s, hello16, sizeof hello16));
    CHECK(hcw_get_str(&m, &n) && n == NULL);
    CHECK(hcw_get_bytes(&m, &bytes) && bytes && !strcmp(bytes, "HcsStart"));
    CHECK(hcw_get_fd(&m, &r) && r >= 0);
    CHECK(hcw_get_fd(&m, &x) && x == -1);
    CHECK(hcw_get_fd(&m, &w) && w >= 0);
    CHECK(hcw_end(&m));
    CHECK(fcntl(r, F_GETFD) & FD_CLOEXEC);
    /* the two descriptors are the pipe's ends */
    CHECK(write(w, "z", 1) == 1);
    char c = 0;
    CHECK(read(r, &c, 1) == 1 && c == 'z');
    free(s);
    free(bytes);
    close(r);
    close(w);
    hcw_msg_free(&m);

    REQUIRE(hcw_recv(sv[1], &m) == 1);
    CHECK(m.type == HCW_EVENT && m.seq == 3 && m.nfds == 0);
    CHECK(hcw_get_u64(&m, &v) && v == UINT64_MAX && hcw_end(&m));
    hcw_msg_free(&m);
    close(sv[0]);
    CHECK(hcw_recv(sv[1], &m) == 0); /* EOF between frames */
    hcw_msg_free(&m);
    close(sv[1]);
}

TEST(wire_descriptors_not_taken_are_closed) {
    int sv[2], pipefd[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    REQUIRE(pipe(pipefd) == 0);
    hcw_buf b = {0};
    hcw_begin(&b, HCW_COMPLETE, 1);
    hcw_put_fd(&b, pipefd[1]);
    CHECK(hcw_send(sv[0], &b) == 0);
    hcw_free(&b);
    close(pipefd[1]);
    hcw_msg m;
    REQUIRE(hcw_recv(sv[1], &m) == 1);
    hcw_msg_free(&m); /* closes the write end it received */
    char c;
    CHECK(read(pipefd[0], &c, 1) == 0); /* no writer left */
    close(pipefd[0]);
    close(sv[0]);
    close(sv[1]);
}

TEST(wire_too_many_descriptors_refused_by_sender) {
    hcw_buf b = {0};
    hcw_begin(&b, HCW_CALL, 1);
    for (unsigned i = 0; i <= HCW_MAX_FDS; i++) hcw_put_fd(&b, 0);
    CHECK(b.failed);
    CHECK(hcw_send(-1, &b) == -1);
    hcw_free(&b);
}

TEST(wire_parse_round_trip_and_tables) {
    hcw_buf b = {0};
    hcw_begin(&b, HCW_CALL, 9);
    hcw_put_u64(&b, FN_HcsStartComputeSystem);
    hcw_put_str(&b, u"");
    hcw_put_bytes(&b, "", 0);
    hcw_send(-1, &b); /* fills in the header even though the send fails */
    hcw_msg m;
    REQUIRE(hcw_parse(b.p, b.len, &m) == 1);
    uint64_t fn;
    char16_t *s = NULL;
    char *e = NULL;
    CHECK(hcw_get_u64(&m, &fn) && fn == FN_HcsStartComputeSystem);
    CHECK(hcw_get_str(&m, &s) && s && s[0] == 0);
    CHECK(hcw_get_bytes(&m, &e) && e && e[0] == 0);
    CHECK(hcw_end(&m));
    free(s);
    free(e);
    hcw_msg_free(&m);
    hcw_free(&b);

    /* a GUID: its 16 bytes as two integers, little-endian; NULL sends zeros */
    unsigned char g[16], back[16], none[16];
    for (int i = 0; i < 16; i++) g[i] = (unsigned char)(0xA0 + i);
    hcw_begin(&b, HCW_CALL, 10);
    hcw_put_guid(&b, g);
    hcw_put_guid(&b, NULL);
    hcw_send(-1, &b);
    REQUIRE(hcw_parse(b.p, b.len, &m) == 1);
    CHECK(hcw_get_u64(&m, &fn) && fn == 0xA7A6A5A4A3A2A1A0u); /* bytes 0-7 */
    CHECK(hcw_get_u64(&m, &fn) && fn == 0xAFAEADACABAAA9A8u);
    CHECK(hcw_get_guid(&m, none) && hcw_end(&m));
    for (int i = 0; i < 16; i++) CHECK(none[i] == 0);
    hcw_msg_free(&m);
    REQUIRE(hcw_parse(b.p, b.len, &m) == 1);
    CHECK(hcw_get_guid(&m, back) && !memcmp(back, g, sizeof g));
    CHECK(hcw_get_guid(&m, back) && hcw_end(&m));
    CHECK(!hcw_get_guid(&m, back) && m.bad); /* nothing left */
    hcw_msg_free(&m);
    hcw_free(&b);

    CHECK(!strcmp(hcw_args_of(FN_HcsStartComputeSystem), "hos"));
    CHECK(!strcmp(hcw_results_of(FN_HcsCreateProcess), "p"));
    CHECK(hcw_args_of(FN_HcsCreateOperation) == NULL); /* local */
    CHECK(hcw_args_of(FN_COUNT) == NULL);
    CHECK(!strcmp(hcw_results_of(HCW_CTL_HcsimGetCounts), "uuuuuuuu"));
    CHECK(!strcmp(hcw_args_of(HCW_CTL_HcsimFailNext), "ubuuu"));
    CHECK(hcw_args_of(HCW_CTL_END) == NULL);
    CHECK(hcw_args_of(HCW_CTL_BASE - 1) == NULL);
    /* computenetwork: GUIDs and HCN handles; the port entries' free is local */
    CHECK(!strcmp(hcw_args_of(FN_HcnCreateEndpoint), "ngs"));
    CHECK(!strcmp(hcw_results_of(FN_HcnCreateEndpoint), "nw"));
    CHECK(!strcmp(hcw_args_of(FN_HcnRegisterServiceCallback), "cx"));
    CHECK(!strcmp(hcw_results_of(FN_HcnEnumerateGuestNetworkPortReservations), "uE"));
    CHECK(hcw_args_of(FN_HcnFreeGuestNetworkPortReservations) == NULL);
    CHECK(hcw_build_id() == hcw_build_id() && hcw_build_id() != 0);
}

/* Each body below must fail its gets or leave trailing bytes. */
static int body_ok(const unsigned char *body, size_t n, const char *sig) {
    unsigned char frame[256];
    size_t len = frame_of(frame, body, n);
    hcw_msg m;
    if (hcw_parse(frame, len, &m) != 1) return 0;
    for (const char *c = sig; *c; c++) {
        uint64_t v;
        char16_t *s;
        char *b;
        int fd;
        switch (*c) {
        case 'I': hcw_get_u64(&m, &v); break;
        case 'S':
            hcw_get_str(&m, &s);
            free(s);
            break;
        case 'B':
            hcw_get_bytes(&m, &b);
            free(b);
            break;
        case 'F':
            hcw_get_fd(&m, &fd);
            if (fd >= 0) close(fd);
            break;
        }
    }
    int ok = hcw_end(&m);
    hcw_msg_free(&m);
    return ok;
}

TEST(wire_malformed_bodies) {
    static const unsigned char i_ok[] = {'I', 1, 0, 0, 0, 0, 0, 0, 0};
    CHECK(body_ok(i_ok, sizeof i_ok, "I"));
    CHECK(!body_ok(i_ok, sizeof i_ok - 1, "I")); /* short integer */
    CHECK(!body_ok(i_ok, sizeof i_ok, "S"));     /* wrong tag */
    CHECK(!body_ok(i_ok, sizeof i_ok, ""));      /* trailing bytes */
    CHECK(!body_ok(i_ok, sizeof i_ok, "II"));    /* past the end */
    static const unsigned char q[] = {'Q'};      /* unknown tag */
    CHECK(!body_ok(q, 1, "I") && !body_ok(q, 1, "S") && !body_ok(q, 1, "F"));
    static const unsigned char s_short[] = {'S', 3, 0, 0, 0, 'a', 0, 'b', 0};
    CHECK(!body_ok(s_short, sizeof s_short, "S")); /* 3 units announced, 2 there */
    static const unsigned char s_odd[] = {'S', 1, 0, 0, 0, 'a'};
    CHECK(!body_ok(s_odd, sizeof s_odd, "S"));
    static const unsigned char s_huge[] = {'S', 0xff, 0xff, 0xff, 0xff, 'a', 0};
    CHECK(!body_ok(s_huge, sizeof s_huge, "S")); /* oversized length */
    static const unsigned char s_cut[] = {'S', 1, 0};
    CHECK(!body_ok(s_cut, sizeof s_cut, "S")); /* short length field */
    static const unsigned char b_nul[] = {'B', 2, 0, 0, 0, 'a', 0};
    CHECK(!body_ok(b_nul, sizeof b_nul, "B")); /* NUL inside */
    static const unsigned char b_huge[] = {'B', 0, 0, 0, 0x80, 'a'};
    CHECK(!body_ok(b_huge, sizeof b_huge, "B"));
    static const unsigned char f0[] = {'F', 0, 0, 0, 0};
    CHECK(!body_ok(f0, sizeof f0, "F")); /* 'F' with no descriptors */
    static const unsigned char x[] = {'X', 'N'};
    CHECK(body_ok(x, sizeof x, "FS"));
    CHECK(!body_ok(x, sizeof x, "SF"));
    CHECK(!body_ok(NULL, 0, "I")); /* empty body */
    /* after a failed get every get fails */
    unsigned char frame[64];
    static const unsigned char two[] = {'N', 'I', 1, 0, 0, 0, 0, 0, 0, 0};
    hcw_msg m;
    REQUIRE(hcw_parse(frame, frame_of(frame, two, sizeof two), &m) == 1);
    uint64_t v = 5;
    CHECK(!hcw_get_u64(&m, &v) && v == 0 && m.bad);
    char16_t *s = (char16_t *)1;
    CHECK(!hcw_get_str(&m, &s) && s == NULL);
    CHECK(!hcw_end(&m));
    hcw_msg_free(&m);
}

TEST(wire_malformed_headers) {
    unsigned char f[64];
    hcw_msg m;
    CHECK(hcw_parse(f, raw_frame(f, 12, HCW_CALL, 0, 0, NULL, 0), &m) == 1);
    hcw_msg_free(&m);
    CHECK(hcw_parse(f, 15, &m) == -1); /* short frame */
    hcw_msg_free(&m);
    CHECK(hcw_parse(f, raw_frame(f, 11, HCW_CALL, 0, 0, NULL, 0), &m) == -1); /* length < header */
    hcw_msg_free(&m);
    CHECK(hcw_parse(f, raw_frame(f, 13, HCW_CALL, 0, 0, NULL, 0), &m) == -1); /* length > data */
    hcw_msg_free(&m);
    CHECK(hcw_parse(f, raw_frame(f, 12, HCW_CALL, 0, 0, "x", 1), &m) == -1); /* trailing */
    hcw_msg_free(&m);
    CHECK(hcw_parse(f, raw_frame(f, 12, 0, 0, 0, NULL, 0), &m) == -1); /* bad types */
    hcw_msg_free(&m);
    CHECK(hcw_parse(f, raw_frame(f, 12, HCW_NOTIFY + 1, 0, 0, NULL, 0), &m) == -1);
    hcw_msg_free(&m);
    CHECK(hcw_parse(f, raw_frame(f, 12, HCW_CALL, 1, 0, NULL, 0), &m) == -1); /* fds in memory */
    hcw_msg_free(&m);
    CHECK(hcw_parse(f, raw_frame(f, HCW_MAX_FRAME + 1, HCW_CALL, 0, 0, NULL, 0), &m) == -1);
    hcw_msg_free(&m);
}

static int recv_raw(const unsigned char *data, size_t n) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return -2;
    if (n) (void)!write(sv[0], data, n);
    close(sv[0]);
    hcw_msg m;
    int r = hcw_recv(sv[1], &m);
    hcw_msg_free(&m);
    close(sv[1]);
    return r;
}

TEST(wire_recv_malformed) {
    unsigned char f[64];
    size_t n = raw_frame(f, 12, HCW_CALL, 0, 0, NULL, 0);
    CHECK(recv_raw(f, n) == 1);
    CHECK(recv_raw(f, 0) == 0);   /* EOF before a frame */
    CHECK(recv_raw(f, 10) == -1); /* EOF inside the header */
    n = raw_frame(f, 20, HCW_CALL, 0, 0, "abcd", 4);
    CHECK(recv_raw(f, n) == -1); /* EOF inside the body */
    n = raw_frame(f, 12, HCW_CALL, 2, 0, NULL, 0);
    CHECK(recv_raw(f, n) == -1); /* announced descriptors that did not come */
    n = raw_frame(f, 12, HCW_CALL, 9, 0, NULL, 0);
    CHECK(recv_raw(f, n) == -1); /* too many announced */
    n = raw_frame(f, 12, 77, 0, 0, NULL, 0);
    CHECK(recv_raw(f, n) == -1); /* bad type */
    n = raw_frame(f, 0xffffffffu, HCW_CALL, 0, 0, NULL, 0);
    CHECK(recv_raw(f, n) == -1); /* oversized */
}

/* Sends n bytes with nfds descriptors (SCM_RIGHTS) in one sendmsg, whatever the frame's
 * header announces; 1 when it all went. */
static int send_with_fds(int sock, void *data, size_t n, const int *fds, unsigned nfds) {
    union {
        struct cmsghdr h;
        char space[CMSG_SPACE(sizeof(int) * HCW_MAX_FDS)];
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct iovec iov = {data, n};
    struct msghdr mh = {0};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctl.space;
    mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    return sendmsg(sock, &mh, 0) == (ssize_t)n;
}

TEST(wire_recv_descriptor_count_mismatch) {
    /* two descriptors sent with a header announcing one */
    int sv[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    hcw_buf b = {0};
    hcw_begin(&b, HCW_CALL, 1);
    hcw_put_fd(&b, 0);
    hcw_put_fd(&b, 1);
    REQUIRE(!b.failed);
    hcw_send(-1, &b); /* fills in the header (nfds 2); it is patched to 1 and sent by hand */
    b.p[6] = 1;
    CHECK(send_with_fds(sv[0], b.p, b.len, b.fds, 2));
    hcw_free(&b);
    hcw_msg m;
    CHECK(hcw_recv(sv[1], &m) == -1);
    hcw_msg_free(&m);
    close(sv[0]);
    close(sv[1]);
}

TEST(wire_fd_index_out_of_range_or_reused) {
    int sv[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    /* one descriptor; a second 'F' naming descriptor 0 again, then one naming 5 */
    static const unsigned char again[] = {'F', 0, 0, 0, 0, 'F', 5, 0, 0, 0};
    unsigned char f[64];
    unsigned char body[15] = {'F', 0, 0, 0, 0};
    memcpy(body + 5, again, sizeof again);
    size_t n = raw_frame(f, (uint32_t)(12 + sizeof body), HCW_CALL, 1, 0, body, sizeof body);
    int one = 0;
    REQUIRE(send_with_fds(sv[0], f, n, &one, 1));
    hcw_msg m;
    REQUIRE(hcw_recv(sv[1], &m) == 1);
    int fd = -1, fd2 = 7;
    CHECK(hcw_get_fd(&m, &fd) && fd >= 0);
    CHECK(!hcw_get_fd(&m, &fd2) && fd2 == -1); /* reused */
    CHECK(!hcw_end(&m));
    if (fd >= 0) close(fd);
    hcw_msg_free(&m);
    /* out of range alone */
    unsigned char f2[64];
    n = raw_frame(f2, 12 + 5, HCW_CALL, 0, 0, again + 5, 5);
    REQUIRE(hcw_parse(f2, n, &m) == 1);
    CHECK(!hcw_get_fd(&m, &fd2));
    hcw_msg_free(&m);
    close(sv[0]);
    close(sv[1]);
}
