import Testing

@testable import Multiformats
import TestSupport

@Suite(.onBlockingPool) struct AddressScopeTests {
    @Test func classifiesAsGoMultiaddrNetDoes() throws {
        let cases: [(String, AddressScope)] = [
            ("/ip4/127.0.0.1/tcp/1", .loopback), ("/ip4/127.9.9.9/tcp/1", .loopback),
            ("/ip4/10.1.2.3/tcp/1", .private), ("/ip4/172.16.0.1/tcp/1", .private), ("/ip4/172.31.255.1/tcp/1", .private),
            ("/ip4/172.32.0.1/tcp/1", .public), ("/ip4/192.168.0.1/tcp/1", .private), ("/ip4/100.64.0.1/tcp/1", .private),
            ("/ip4/169.254.1.1/tcp/1", .linkLocal), ("/ip4/0.0.0.0/tcp/1", .unspecified), ("/ip4/8.8.8.8/tcp/1", .public),
            ("/ip6/::1/tcp/1", .loopback), ("/ip6/::/tcp/1", .unspecified), ("/ip6/fd00::1/tcp/1", .private),
            ("/ip6/fe80::1/tcp/1", .linkLocal), ("/ip6/2001:db8::1/tcp/1", .public),
            ("/ip6/::ffff:192.168.1.1/tcp/1", .private), ("/dns4/example.com/tcp/1", .public),
            ("/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN", .unknown),
        ]
        for (text, scope) in cases {
            #expect(try Multiaddr(text).scope == scope, "\(text)")
        }
        #expect(AddressScope.loopback.isLAN && AddressScope.private.isLAN && !AddressScope.public.isLAN)
        #expect(AddressScope.public.isPublic && !AddressScope.linkLocal.isPublic)
    }
}
