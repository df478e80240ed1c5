#if canImport(Glibc)
import Glibc
#endif

/// Backstops on every connection a worker, a writer or a task answers: no read or write may wait longer than
/// `limit` seconds. The event thread never waits on a connection (it reads what has arrived, writes what fits), so
/// a connection it answers needs none. Set on the listening socket too: Linux gives a TCP listener's timeouts to
/// every connection it accepts, so there they are set once.
enum SocketTimeouts {
    static let limit = 10

    static func set(_ fd: Int32) {
        var time = timeval(tv_sec: limit, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Gives a connection the timeouts, unless connections are known to come with them: a TCP one takes the
    /// listening socket's, a Unix one does not. `inherited` is found out on the first connection given them.
    static func give(_ fd: Int32, inherited: inout Bool?) {
        if inherited == nil { inherited = isSet(on: fd) }
        if inherited == false { set(fd) }
    }

    /// Whether `fd` already has both timeouts.
    static func isSet(on fd: Int32) -> Bool {
        [SO_RCVTIMEO, SO_SNDTIMEO].allSatisfy { option in
            var time = timeval()
            var length = socklen_t(MemoryLayout<timeval>.size)
            return getsockopt(fd, SOL_SOCKET, option, &time, &length) == 0 && time.tv_sec == limit && time.tv_usec == 0
        }
    }
}
