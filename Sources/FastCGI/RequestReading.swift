import CFastCGI
import Dispatch
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

extension FastCGIServer {
    /// Copies params and the body that has arrived out of libfcgi's memory, or says why the
    /// request can't be served. Reads only what `arrived` says is there, so it never waits.
    static func read(
        _ request: UnsafeMutablePointer<FCGX_Request>, maxBodyBytes: Int, arrived: RequestScanner.Ready
    ) -> Result<Request, Failure> {
        // Room for what nginx's fastcgi_params and a browser's headers make, without growing.
        var params: [String: String] = Dictionary(minimumCapacity: 48)
        if var entry = request.pointee.envp {
            while let pointer = entry.pointee {
                Self.addParam(UnsafeRawBufferPointer(start: pointer, count: strlen(pointer)), to: &params)
                entry += 1
            }
        }
        let declared: Int
        switch Self.bodyLength(declaredIn: params, maxBodyBytes: maxBodyBytes) {
        case .success(let length): declared = length
        case .failure(let failure): return .failure(failure)
        }
        guard declared <= arrived.stdinBytes else {
            let reason = arrived.stdinComplete ? "shorter than its Content-Length" : "incomplete"
            return .failure(Failure(Response.plain(400, "The request body is \(reason).\n")))
        }
        var body = [UInt8](repeating: 0, count: declared)
        var filled = 0
        while filled < declared {
            let got = body.withUnsafeMutableBufferPointer { buffer in
                buffer.baseAddress!.advanced(by: filled).withMemoryRebound(to: CChar.self, capacity: declared - filled) {
                    FCGX_GetStr($0, Int32(declared - filled), request.pointee.in)
                }
            }
            if got <= 0 { break }
            filled += Int(got)
        }
        body.removeLast(declared - filled)
        return .success(Request(params: params, body: body))
    }

    /// The params from libfcgi's `NAME=value` strings (its `envp`); a string without '=' is left out.
    /// The first '=' by unicode scalars: a value starting with a combining mark joins it into one character.
    package static func params(_ strings: [String]) -> [String: String] {
        var params: [String: String] = [:]
        for pair in strings {
            var pair = pair
            pair.withUTF8 { addParam(UnsafeRawBufferPointer($0), to: &params) }
        }
        return params
    }

    /// One `NAME=value` string, split at its first '=' byte: in UTF-8 that is the first '=' scalar,
    /// as no other character's encoding contains the byte.
    static func addParam(_ bytes: UnsafeRawBufferPointer, to params: inout [String: String]) {
        guard let equals = bytes.firstIndex(of: UInt8(ascii: "=")) else { return }
        params[String(decoding: bytes[..<equals], as: UTF8.self)] = String(decoding: bytes[(equals + 1)...], as: UTF8.self)
    }

    /// How many body bytes to read: the declared `CONTENT_LENGTH`, or the answer for one that is refused.
    package static func bodyLength(declaredIn params: [String: String], maxBodyBytes: Int) -> Result<Int, Failure> {
        var text = params["CONTENT_LENGTH"] ?? ""
        // What web servers send: digits, or nothing. Anything else is trimmed first.
        if !text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) { text = text.trimmingCharacters(in: .whitespaces) }
        let declared = text.isEmpty ? 0 : Int(text) ?? -1
        guard declared >= 0 else { return .failure(Failure(Response.plain(400, "Malformed Content-Length.\n"))) }
        guard declared <= maxBodyBytes else {
            return .failure(Failure(Response.plain(413, "The request body is too large.\n")))
        }
        return .success(declared)
    }

    /// A request the transport answers itself, without the page.
    package struct Failure: Error {
        package let response: Response
        init(_ response: Response) { self.response = response }
    }
}
