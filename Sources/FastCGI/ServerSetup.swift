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

    /// libfcgi's `FCGI_WEB_SERVER_ADDRS`: the IPv4 addresses allowed to connect over TCP.
    static func allowedWebServers(_ list: String?) -> Set<UInt32>? {
        guard let list, !list.trimmingCharacters(in: .whitespaces).isEmpty else { return nil }
        var allowed = Set<UInt32>()
        for item in list.split(separator: ",") {
            var address = in_addr()
            if inet_pton(AF_INET, item.trimmingCharacters(in: .whitespaces), &address) == 1 {
                allowed.insert(address.s_addr)
            }
        }
        return allowed
    }
}
