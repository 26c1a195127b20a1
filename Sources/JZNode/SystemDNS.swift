import CResolv
import Foundation

/// Why a DNS TXT lookup gave no answer; the description is one short phrase for a log line.
public enum DNSLookupError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The name is empty, too long, or not a domain name.
    case invalidName
    /// The domain does not exist (NXDOMAIN).
    case noSuchDomain
    /// The domain exists but has no TXT records.
    case noRecords
    /// No server answered, or one answered with a temporary failure (SERVFAIL); `detail` is the
    /// system error seen last, if any (e.g. "Network is unreachable").
    case noAnswer(detail: String?)
    /// A server refused the query or the answer could not be used.
    case failed(detail: String)
    /// The system resolver could not be set up (unreadable `/etc/resolv.conf`, no memory).
    case resolverUnavailable
    /// No answer came within the time allowed.
    case timedOut(after: Duration)

    public var description: String {
        switch self {
        case .invalidName: return "not a valid domain name"
        case .noSuchDomain: return "no such domain (NXDOMAIN)"
        case .noRecords: return "no TXT records"
        case .noAnswer(let detail?): return "no answer from the DNS servers (\(detail))"
        case .noAnswer(nil): return "no answer from the DNS servers"
        case .failed(let detail): return detail
        case .resolverUnavailable: return "the system resolver could not be initialised"
        case .timedOut(let after):
            let c = after.components
            if c.attoseconds == 0 { return "no answer within \(c.seconds) s" }
            return "no answer within \(c.seconds * 1000 + c.attoseconds / 1_000_000_000_000_000) ms"
        }
    }
}

/// DNS TXT lookups through the libc stub resolver (`res_nquery` with a state of its own per
/// call, so any thread may call it). Blocking: call it from `BlockingExecutor.run`.
enum SystemDNS {
    /// The largest DNS message read (the protocol's limit; larger answers come over TCP).
    private static let answerCapacity = 65_535

    /// The TXT strings of `name`, one per record (a record's character-strings concatenated,
    /// as RFC 7208 §3.3 and the dnsaddr convention read them). The resolver's own retries are
    /// sized so that it gives up after about `timeout` per configured server (the caller still
    /// bounds the wait: `BootstrapResolver` stops waiting at its deadline).
    static func lookupTXT(_ name: String, timeout: Duration) throws(DNSLookupError) -> [String] {
        guard !name.isEmpty, name.utf8.count <= 253, !name.utf8.contains(0) else { throw .invalidName }

        var state = jz_res_state()
        guard jz_res_ninit(&state) == 0 else { throw .resolverUnavailable }
        defer { jz_res_nclose(&state) }
        // Against a server that never answers glibc gives up after about `retry` x `retrans`
        // seconds (measured on glibc 2.36: 2 x 1 s -> 2 s, 2 x 2 s -> 4 s), per server listed.
        let seconds = Int32(clamping: max(1, timeout.components.seconds / 2))
        state.retrans = seconds
        state.retry = 2

        var answer = [UInt8](repeating: 0, count: answerCapacity)
        errno = 0
        let length = answer.withUnsafeMutableBufferPointer { buffer in
            jz_res_nquery(
                &state, name, Int32(ns_c_in.rawValue), Int32(ns_t_txt.rawValue), buffer.baseAddress,
                Int32(buffer.count))
        }
        guard length >= 0 else { throw error(hErrno: state.res_h_errno, errno: errno) }
        return try parseTXT(Array(answer.prefix(Int(length))))
    }

    /// The TXT strings in the answer section of the DNS message `message` (records of other
    /// types, such as a CNAME on the way, are skipped).
    static func parseTXT(_ message: [UInt8]) throws(DNSLookupError) -> [String] {
        let strings = message.withUnsafeBufferPointer { buffer -> [String]? in
            var handle = ns_msg()
            guard jz_ns_initparse(buffer.baseAddress, Int32(buffer.count), &handle) == 0 else { return nil }
            var strings: [String] = []
            for index in 0..<jz_ns_msg_count(handle, ns_s_an) {
                var rr = ns_rr()
                guard jz_ns_parserr(&handle, ns_s_an, index, &rr) == 0 else { return nil }
                guard jz_ns_rr_type(rr) == Int32(ns_t_txt.rawValue), let rdata = jz_ns_rr_rdata(rr) else { continue }
                if let text = txtString(UnsafeBufferPointer(start: rdata, count: Int(jz_ns_rr_rdlen(rr)))) {
                    strings.append(text)
                }
            }
            return strings
        }
        guard let strings else { throw .failed(detail: "malformed DNS answer") }
        return strings
    }

    /// A TXT record's rdata (length-prefixed character-strings) as one string; nil when a
    /// length runs past the end.
    static func txtString(_ rdata: UnsafeBufferPointer<UInt8>) -> String? {
        var joined: [UInt8] = []
        var offset = 0
        while offset < rdata.count {
            let length = Int(rdata[offset])
            offset += 1
            guard offset + length <= rdata.count else { return nil }
            joined.append(contentsOf: rdata[offset..<(offset + length)])
            offset += length
        }
        return String(decoding: joined, as: UTF8.self)
    }

    private static func error(hErrno: Int32, errno code: Int32) -> DNSLookupError {
        let detail = code == 0 ? nil : String(cString: strerror(code))
        switch hErrno {
        case HOST_NOT_FOUND: return .noSuchDomain
        case NO_DATA: return .noRecords
        case TRY_AGAIN: return .noAnswer(detail: detail)
        case NO_RECOVERY: return .failed(detail: "the DNS server refused the query or could not answer it")
        default: return .noAnswer(detail: detail)
        }
    }
}
