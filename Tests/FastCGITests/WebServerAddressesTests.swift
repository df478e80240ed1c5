import Testing

@testable import FastCGI

#if canImport(Glibc)
import Glibc
#endif

/// `FCGI_WEB_SERVER_ADDRS`: who may connect over TCP, IPv4 and IPv6.
@Suite("FCGI_WEB_SERVER_ADDRS")
struct WebServerAddressesTests {
    @Test func ipv4AndIPv6EntriesAndMappedPeers() throws {
        let allowed = try #require(try FastCGIServer.allowedWebServers(" 192.0.2.10, 2001:db8::7 ,::1"))
        #expect(allowed.count == 3)
        #expect(allowed.contains(try #require(PeerAddress("192.0.2.10"))))
        // A dual-stack listener sees an IPv4 web server as ::ffff:a.b.c.d: the same entry.
        #expect(allowed.contains(try #require(PeerAddress("::ffff:192.0.2.10"))))
        #expect(allowed.contains(try #require(PeerAddress("2001:0db8:0:0:0:0:0:7"))))
        #expect(!allowed.contains(try #require(PeerAddress("192.0.2.11"))))
        #expect(!allowed.contains(try #require(PeerAddress("2001:db8::8"))))
        #expect(try FastCGIServer.allowedWebServers(nil) == nil)
        #expect(try FastCGIServer.allowedWebServers("  ") == nil)
    }

    @Test func anythingButAnAddressIsRefused() {
        for list in ["localhost", "192.0.2.10, web1", "192.0.2.0/24", "192.0.2.300"] {
            #expect(throws: ListenerError.self, "\(list)") { try FastCGIServer.allowedWebServers(list) }
        }
    }

    @Test func anAcceptedPeerReadsAsItsAddress() throws {
        var ipv6 = sockaddr_in6()
        ipv6.sin6_family = sa_family_t(AF_INET6)
        inet_pton(AF_INET6, "2001:db8::7", &ipv6.sin6_addr)
        var storage = sockaddr_storage()
        withUnsafeMutableBytes(of: &storage) { raw in withUnsafeBytes(of: ipv6) { raw.copyMemory(from: $0) } }
        #expect(PeerAddress(storage) == PeerAddress("2001:db8::7"))

        var ipv4 = sockaddr_in()
        ipv4.sin_family = sa_family_t(AF_INET)
        inet_pton(AF_INET, "192.0.2.10", &ipv4.sin_addr)
        storage = sockaddr_storage()
        withUnsafeMutableBytes(of: &storage) { raw in withUnsafeBytes(of: ipv4) { raw.copyMemory(from: $0) } }
        #expect(PeerAddress(storage) == PeerAddress("::ffff:192.0.2.10"))

        storage = sockaddr_storage()
        storage.ss_family = sa_family_t(AF_UNIX)
        #expect(PeerAddress(storage) == nil)
    }
}
