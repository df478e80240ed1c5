#if canImport(Glibc)
import Glibc
#endif

/// A TCP peer's address as 16 bytes: IPv6 as it is, IPv4 as its IPv4-mapped IPv6 form, so that an IPv4
/// entry of `FCGI_WEB_SERVER_ADDRS` matches the same web server on an IPv4 or a dual-stack listener.
public struct PeerAddress: Hashable, Sendable {
    private let high: UInt64
    private let low: UInt64

    private init(_ bytes: [UInt8]) {
        precondition(bytes.count == 16, "an IPv6 address has 16 bytes")
        high = bytes[0..<8].reduce(0) { $0 << 8 | UInt64($1) }
        low = bytes[8..<16].reduce(0) { $0 << 8 | UInt64($1) }
    }

    private static func mapped(_ ipv4: [UInt8]) -> [UInt8] {
        [UInt8](repeating: 0, count: 10) + [0xFF, 0xFF] + ipv4
    }

    /// `192.0.2.1` or `2001:db8::1`; nil for anything else.
    public init?(_ text: String) {
        var ipv4 = in_addr()
        var ipv6 = in6_addr()
        if inet_pton(AF_INET, text, &ipv4) == 1 {
            self.init(Self.mapped(withUnsafeBytes(of: ipv4) { Array($0) }))
        } else if inet_pton(AF_INET6, text, &ipv6) == 1 {
            self.init(withUnsafeBytes(of: ipv6) { Array($0) })
        } else {
            return nil
        }
    }

    /// `::1`, or any address of 127.0.0.0/8: in the mapped form `::ffff:127.x.y.z`, the low half is
    /// `0000 ffff 7fxx xxxx`, so without its last three bytes it is `ffff7f`.
    public var isLoopback: Bool {
        (high == 0 && low == 1) || (high == 0 && low >> 24 == 0xFFFF_7F)
    }

    /// The peer of an accepted TCP connection; nil for another family (a Unix socket's peer).
    init?(_ address: sockaddr_storage) {
        var address = address
        switch Int32(address.ss_family) {
        case AF_INET:
            let ipv4 = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr } }
            self.init(Self.mapped(withUnsafeBytes(of: ipv4) { Array($0) }))
        case AF_INET6:
            let ipv6 = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr } }
            self.init(withUnsafeBytes(of: ipv6) { Array($0) })
        default:
            return nil
        }
    }
}
