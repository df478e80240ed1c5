import CFastCGI
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Where the responder takes its FastCGI connections from.
public enum Listener: Sendable, Equatable {
    /// A Unix socket at `path`, replacing a stale one; `mode` and `owner` let the web server's user connect
    /// (without a mode, only its owner may).
    case unixSocket(path: String, mode: mode_t?, owner: String?)
    /// A TCP address, `host:port`.
    case tcp(host: String, port: Int)
    /// A listening socket inherited from a process manager (fd 0 for spawn-fcgi, 3 for systemd).
    case inherited(fd: Int32)
}

public struct ListenerError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A bound, listening socket and what to clean up when the responder stops.
public struct OpenListener: Sendable {
    public let fd: Int32
    /// The socket file to remove at exit, when we created it.
    public let socketPath: String?
    /// Whether we opened the socket (and close it when stopping), rather than inherited it.
    public let owned: Bool

    public init(fd: Int32, socketPath: String?, owned: Bool = true) {
        self.fd = fd
        self.socketPath = socketPath
        self.owned = owned
    }

    public static let backlog: Int32 = 1024

    public static func open(_ listener: Listener) throws(ListenerError) -> OpenListener {
        guard FCGX_Init() == 0 else { throw ListenerError("libfcgi failed to initialise") }
        switch listener {
        case .unixSocket(let path, let mode, let owner):
            try refuseLiveSocket(at: path)
            let fd = try bindOwnerOnly(path)
            // What is at the path now must be the socket just made: not a symlink or file put there meanwhile.
            var info = stat()
            guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFSOCK, info.st_uid == geteuid() else {
                close(fd)
                throw ListenerError("\(path) is not the socket just created; refusing to change its mode or owner")
            }
            let opened = OpenListener(fd: fd, socketPath: path)
            do throws(ListenerError) {
                // AT_SYMLINK_NOFOLLOW: a symlink swapped in since the check is refused, never followed.
                if let mode, fchmodat(AT_FDCWD, path, mode, AT_SYMLINK_NOFOLLOW) != 0 {
                    throw ListenerError("cannot set mode \(String(mode, radix: 8)) on \(path): \(String(cString: strerror(errno)))")
                }
                if let owner { try changeOwner(of: path, to: owner) }
            } catch {
                close(fd)
                opened.removeSocketFile()
                throw error
            }
            return opened
        case .tcp(let host, let port):
            // libfcgi would take a port of 0 for a Unix socket path.
            guard (1...65535).contains(port) else { throw ListenerError("port \(port) is not a TCP port") }
            // libfcgi exits the process when it cannot resolve the host: resolve it first (IPv4, as libfcgi does).
            var hints = addrinfo()
            hints.ai_family = AF_INET
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var found: UnsafeMutablePointer<addrinfo>?
            guard !host.isEmpty, getaddrinfo(host, nil, &hints, &found) == 0 else {
                throw ListenerError("cannot resolve \(host) to an IPv4 address for --listen")
            }
            freeaddrinfo(found)
            let fd = FCGX_OpenSocket("\(host):\(port)", backlog)
            guard fd >= 0 else {
                throw ListenerError("cannot listen on \(host):\(port): \(String(cString: strerror(errno)))")
            }
            return OpenListener(fd: fd, socketPath: nil)
        case .inherited(let fd):
            var accepting: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            guard getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &length) == 0, accepting != 0 else {
                throw ListenerError(
                    "fd \(fd) is not a listening socket: give --socket PATH or --listen HOST:PORT, or start under a FastCGI process manager")
            }
            return OpenListener(fd: fd, socketPath: nil, owned: false)
        }
    }

    /// Removes the socket file we created, if it is still ours.
    public func removeSocketFile() {
        guard let socketPath else { return }
        var info = stat()
        if lstat(socketPath, &info) == 0, (info.st_mode & S_IFMT) == S_IFSOCK {
            unlink(socketPath)
        }
    }

    /// A listening Unix socket at `path` (a stale one removed first), created readable and writable by its
    /// owner only: the socket's mode, set before `bind`, is the file's, so there is no moment in which a wider
    /// mode than asked for lets another user connect. Not the umask: it is the whole process's, and another
    /// thread creating a file meanwhile would get it too.
    private static func bindOwnerOnly(_ path: String) throws(ListenerError) -> Int32 {
        var address = try socketAddress(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ListenerError("cannot make a socket for \(path): \(String(cString: strerror(errno)))") }
        guard fchmod(fd, 0o600) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw ListenerError("cannot set the mode of the socket for \(path): \(reason)")
        }
        unlink(path)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(fd, backlog) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw ListenerError("cannot listen on \(path): \(reason)")
        }
        return fd
    }

    private static func socketAddress(_ path: String) throws(ListenerError) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.utf8.count < capacity else { throw ListenerError("socket path is too long: \(path)") }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path.utf8)
            raw[path.utf8.count] = 0
        }
        return address
    }

    /// A socket file another live process still answers on is not stale: refuse to steal it.
    private static func refuseLiveSocket(at path: String) throws(ListenerError) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        guard (info.st_mode & S_IFMT) == S_IFSOCK else {
            throw ListenerError("\(path) exists and is not a socket; refusing to replace it")
        }
        let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard probe >= 0 else { return }
        defer { close(probe) }
        var address = try socketAddress(path)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(probe, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if connected == 0 {
            throw ListenerError("another process is listening on \(path); stop it first")
        }
    }

    private static func changeOwner(of path: String, to owner: String) throws(ListenerError) {
        let parts = owner.split(separator: ":", maxSplits: 1).map(String.init)
        var uid: uid_t = .max
        var gid: gid_t = .max
        if let user = parts.first, !user.isEmpty {
            if let number = uid_t(user) {
                uid = number
            } else if let entry = getpwnam(user) {
                uid = entry.pointee.pw_uid
            } else {
                throw ListenerError("unknown user \(user) for --socket-owner")
            }
        }
        if parts.count == 2, !parts[1].isEmpty {
            if let number = gid_t(parts[1]) {
                gid = number
            } else if let entry = getgrnam(parts[1]) {
                gid = entry.pointee.gr_gid
            } else {
                throw ListenerError("unknown group \(parts[1]) for --socket-owner")
            }
        }
        // lchown: a symlink swapped in at the path changes its own owner, never its target's.
        if lchown(path, uid, gid) != 0 {
            throw ListenerError("cannot change the owner of \(path) to \(owner): \(String(cString: strerror(errno)))")
        }
    }
}
