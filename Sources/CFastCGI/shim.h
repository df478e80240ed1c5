#ifndef INSTAGRAM_AUTH_CFASTCGI_SHIM_H
#define INSTAGRAM_AUTH_CFASTCGI_SHIM_H
#include <fcgiapp.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

/* epoll_event is packed on x86-64: keep its layout on the C side. */
static inline int ia_epoll_set(int ep, int op, int fd, uint32_t events, uint64_t token) {
    struct epoll_event event;
    event.events = events;
    event.data.u64 = token;
    return epoll_ctl(ep, op, fd, &event);
}

/* Waits like epoll_wait, writing each ready entry's token and events to the two arrays. */
static inline int ia_epoll_wait(int ep, uint64_t *tokens, uint32_t *events, int capacity, int timeout_ms) {
    struct epoll_event ready[256];
    if (capacity > 256) capacity = 256;
    int count = epoll_wait(ep, ready, capacity, timeout_ms);
    for (int i = 0; i < count; i++) {
        tokens[i] = ready[i].data.u64;
        events[i] = ready[i].events;
    }
    return count;
}

/* Bytes waiting in a socket's receive queue. */
static inline int ia_readable_bytes(int fd) {
    int count = 0;
    if (ioctl(fd, FIONREAD, &count) != 0) return -1;
    return count;
}

/* accept4(2) with SOCK_CLOEXEC: glibc declares it only under _GNU_SOURCE. */
int accept4(int fd, struct sockaddr *address, socklen_t *length, int flags);
static inline int ia_accept_cloexec(int fd, struct sockaddr *address, socklen_t *length) {
    return accept4(fd, address, length, 02000000 /* SOCK_CLOEXEC */);
}

/* Bytes written to a socket and not yet taken by the peer (SIOCOUTQ, as TIOCOUTQ). */
static inline int ia_unsent_bytes(int fd) {
    int count = 0;
    if (ioctl(fd, TIOCOUTQ, &count) != 0) return -1;
    return count;
}
#endif
