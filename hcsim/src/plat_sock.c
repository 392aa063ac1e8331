/* hcsim platform layer: the sockets live migration transfers a system's state over. */
#include <errno.h>
#include <limits.h>
#include <string.h>

#ifdef _WIN32
#include <winsock2.h>
#else
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

#include "plat.h"

#ifdef _WIN32
int plat_sock_is(intptr_t s) {
    int type = 0, len = (int)sizeof type;
    return s != (intptr_t)INVALID_SOCKET &&
           getsockopt((SOCKET)s, SOL_SOCKET, SO_TYPE, (char *)&type, &len) == 0;
}

plat_fd plat_sock_dup(intptr_t s) {
    WSAPROTOCOL_INFOW info;
    if (WSADuplicateSocketW((SOCKET)s, GetCurrentProcessId(), &info) != 0) return PLAT_NO_FD;
    SOCKET d = WSASocketW(FROM_PROTOCOL_INFO, FROM_PROTOCOL_INFO, FROM_PROTOCOL_INFO, &info, 0, 0);
    return d == INVALID_SOCKET ? PLAT_NO_FD : (plat_fd)d;
}

void plat_sock_close(plat_fd s) {
    if (s != PLAT_NO_FD) closesocket((SOCKET)s);
}

void plat_sock_shutdown(plat_fd s) {
    if (s != PLAT_NO_FD) shutdown((SOCKET)s, SD_BOTH);
}

int plat_sock_connected(plat_fd s) {
    struct sockaddr_storage peer;
    int len = (int)sizeof peer;
    return getpeername((SOCKET)s, (struct sockaddr *)&peer, &len) == 0;
}

int plat_sock_pair(plat_fd sv[2]) {
    WSADATA wsa;
    if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0) return EIO;
    SOCKET l = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP), a = INVALID_SOCKET, c = INVALID_SOCKET;
    struct sockaddr_in addr;
    int len = (int)sizeof addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = l != INVALID_SOCKET && !bind(l, (struct sockaddr *)&addr, len) && !listen(l, 1) &&
             !getsockname(l, (struct sockaddr *)&addr, &len) &&
             (c = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP)) != INVALID_SOCKET &&
             !connect(c, (struct sockaddr *)&addr, len) &&
             (a = accept(l, NULL, NULL)) != INVALID_SOCKET;
    if (l != INVALID_SOCKET) closesocket(l);
    if (!ok) {
        if (c != INVALID_SOCKET) closesocket(c);
        WSACleanup();
        return EIO;
    }
    sv[0] = (plat_fd)c;
    sv[1] = (plat_fd)a;
    return 0;
}

long plat_sock_io(plat_fd s, void *buf, size_t len, int sending, uint32_t wait_ms) {
    fd_set set;
    FD_ZERO(&set);
    FD_SET((SOCKET)s, &set);
    struct timeval tv = {(long)(wait_ms / 1000), (long)(wait_ms % 1000) * 1000};
    int n = select(0, sending ? NULL : &set, sending ? &set : NULL, NULL, &tv);
    if (n == 0) return 0;
    if (n < 0) return -2;
    int chunk = len > INT_MAX ? INT_MAX : (int)len;
    int r = sending ? send((SOCKET)s, buf, chunk, 0) : recv((SOCKET)s, buf, chunk, 0);
    if (r > 0) return r;
    if (r == 0) return -1;
    int e = WSAGetLastError();
    if (e == WSAEWOULDBLOCK) return 0;
    return e == WSAECONNRESET || e == WSAECONNABORTED || e == WSAESHUTDOWN ? -1 : -2;
}
#else
int plat_sock_is(intptr_t s) {
    if (s < 0 || s > INT_MAX) return 0;
    struct stat st;
    return fstat((int)s, &st) == 0 && S_ISSOCK(st.st_mode);
}

plat_fd plat_sock_dup(intptr_t s) { return fcntl((int)s, F_DUPFD_CLOEXEC, 3); }

void plat_sock_close(plat_fd s) {
    if (s >= 0) close(s);
}

void plat_sock_shutdown(plat_fd s) {
    if (s >= 0) shutdown(s, SHUT_RDWR);
}

int plat_sock_connected(plat_fd s) {
    struct sockaddr_storage peer;
    socklen_t len = sizeof peer;
    return getpeername(s, (struct sockaddr *)&peer, &len) == 0;
}

int plat_sock_pair(plat_fd sv[2]) {
    return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) ? errno : 0;
}

long plat_sock_io(plat_fd s, void *buf, size_t len, int sending, uint32_t wait_ms) {
    struct pollfd p = {s, sending ? POLLOUT : POLLIN, 0};
    int n = poll(&p, 1, wait_ms > INT_MAX ? INT_MAX : (int)wait_ms);
    if (n == 0 || (n < 0 && errno == EINTR)) return 0;
    if (n < 0) return -2;
    ssize_t r =
        sending ? send(s, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL) : recv(s, buf, len, MSG_DONTWAIT);
    if (r > 0) return (long)r;
    if (r == 0) return -1;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
    return errno == EPIPE || errno == ECONNRESET ? -1 : -2;
}
#endif
