import CFastCGI
import Dispatch
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

extension FastCGIServer {
    /// libfcgi reads with poll() (never select()), and the event thread uses epoll: descriptors
    /// beyond 1024 are safe, so allow many.
    static func raiseDescriptorLimit() {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        let wanted = min(limit.rlim_max, 65536)
        if limit.rlim_cur < wanted {
            limit.rlim_cur = wanted
            setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
    }

    /// libfcgi's `FCGI_WEB_SERVER_ADDRS`: the addresses allowed to connect over TCP, IPv4 or IPv6, comma
    /// separated. Anything in it that is not an address is refused: a typo must not let everyone in.
    static func allowedWebServers(_ list: String?) throws(ListenerError) -> Set<PeerAddress>? {
        guard let list, !list.trimmingCharacters(in: .whitespaces).isEmpty else { return nil }
        var allowed = Set<PeerAddress>()
        for item in list.split(separator: ",") {
            let text = item.trimmingCharacters(in: .whitespaces)
            guard let address = PeerAddress(text) else {
                throw ListenerError("FCGI_WEB_SERVER_ADDRS: \(text.debugDescription) is not an IPv4 or IPv6 address")
            }
            allowed.insert(address)
        }
        return allowed
    }
}
