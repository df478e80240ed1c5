import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The folder of copied feed images (`INSTAGRAM_AUTH_MEDIA_DIR`). Names are ours: the account's tag and the
/// image's SHA-256, so a name never changes what it shows (and may be cached for ever), and no path from
/// Instagram or a visitor reaches the file system.
public struct MediaFolder: Sendable, Equatable {
    public let path: String

    /// The largest image copied.
    public static let maxFileBytes = 8 << 20
    /// What the folder may hold in all: past it, images are left on Instagram's CDN.
    public static let maxTotalBytes = 2 << 30

    public init(path: String) {
        self.path = path
    }

    /// The part of a name that says whose image it is: 16 hex digits of a digest of the user id, so that an
    /// account's copies can be found and removed together.
    static func tag(of userID: String) -> String {
        String(sha256Hex("instagram-auth media \(userID)").prefix(16))
    }

    /// `<account tag>-<32 hex digits of the bytes' SHA-256>.<ext>`.
    static func name(of bytes: [UInt8], format: ImageFormat, userID: String) -> String {
        let digest = sha256Hex(bytes).prefix(32)
        return "\(tag(of: userID))-\(digest).\(format.fileExtension)"
    }

    /// Whether `name` is one this folder gives out, and its format: anything else is never looked up.
    static func format(ofName name: String) -> ImageFormat? {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let format = ImageFormat(rawValue: String(parts[1])) else { return nil }
        let stem = Array(parts[0].utf8)
        guard stem.count == 49, stem[16] == UInt8(ascii: "-") else { return nil }
        let isHex = { (byte: UInt8) in (0x30...0x39).contains(byte) || (0x61...0x66).contains(byte) }
        guard stem[..<16].allSatisfy(isHex), stem[17...].allSatisfy(isHex) else { return nil }
        return format
    }

    func contains(_ name: String) -> Bool {
        var status = stat()
        return lstat(file(name), &status) == 0 && (status.st_mode & S_IFMT) == S_IFREG
    }

    /// Why copies cannot be written here now, or nil when they can: what `check` reports. A missing folder is
    /// not made here (`check` may run as another user than the responder): its parent must let it be made.
    public func problem() -> String? {
        var status = stat()
        if stat(path, &status) != 0 {
            let parent = (path as NSString).deletingLastPathComponent
            return access(parent, W_OK) == 0 ? nil : "it does not exist, and \(parent) does not let it be made"
        }
        guard (status.st_mode & S_IFMT) == S_IFDIR else { return "it is not a folder" }
        let probe = file(".check.\(UInt64.random(in: 0...UInt64.max))")
        let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o640)
        guard fd >= 0 else { return "cannot write in it: \(String(cString: strerror(errno)))" }
        close(fd)
        unlink(probe)
        return nil
    }

    /// How many copies the folder holds, and their bytes.
    public func usage() -> (copies: Int, bytes: Int) { (names().count, totalBytes()) }

    /// Writes a copy under `name`, whole or not at all (a temporary file written, synced and renamed into
    /// place): a name is served as immutable, so it never shows a torn file. The folder is made (0750) when missing.
    func write(_ bytes: [UInt8], as name: String) throws {
        if mkdir(path, 0o750) != 0, errno != EEXIST { throw MediaFolderError("cannot create \(path): \(String(cString: strerror(errno)))") }
        let temporary = file(".\(name).\(UInt64.random(in: 0...UInt64.max))")
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o640)
        guard fd >= 0 else { throw MediaFolderError("cannot write in \(path): \(String(cString: strerror(errno)))") }
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { break }
            written += count
        }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == bytes.count, synced, rename(temporary, file(name)) == 0 else {
            unlink(temporary)
            throw MediaFolderError("cannot write \(name) in \(path)")
        }
    }

    /// The bytes of the copy named `name`, if it is a name of ours and a regular file no larger than a copy may be.
    public func read(_ name: String) -> (bytes: [UInt8], format: ImageFormat)? {
        guard let format = Self.format(ofName: name) else { return nil }
        // Non-blocking: a FIFO put under a name of ours must not hold the thread that reads it.
        let fd = open(file(name), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG, status.st_size > 0, status.st_size <= Self.maxFileBytes else {
            return nil
        }
        let size = Int(status.st_size)
        var complete = true
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            while initialized < size {
                let count = Glibc.read(fd, buffer.baseAddress! + initialized, size - initialized)
                if count < 0, errno == EINTR { continue }
                guard count > 0 else {
                    complete = false
                    return
                }
                initialized += count
            }
        }
        return complete ? (bytes, format) : nil
    }

    /// Removes the copies named.
    func remove(_ names: Set<String>) {
        for name in names where Self.format(ofName: name) != nil { unlink(file(name)) }
    }

    /// Removes the account's copies but those named in `keeping`; how many it removed.
    @discardableResult
    public func remove(copiesOf userID: String, keeping: Set<String> = []) -> Int {
        let prefix = Self.tag(of: userID) + "-"
        var removed = 0
        for name in names() where name.hasPrefix(prefix) && !keeping.contains(name) {
            if unlink(file(name)) == 0 { removed += 1 }
        }
        return removed
    }

    /// Bytes the folder's copies take.
    func totalBytes() -> Int {
        names().reduce(0) { total, name in
            var status = stat()
            return total + (lstat(file(name), &status) == 0 ? Int(status.st_size) : 0)
        }
    }

    private func names() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter { Self.format(ofName: $0) != nil }
    }

    private func file(_ name: String) -> String { path + "/" + name }
}

struct MediaFolderError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
