#if canImport(Glibc)
import Glibc
#endif

/// The pages of the executable and the libraries loaded with it that only starting touched: the Swift runtime's
/// walk of every module's metadata, the relocation table of a position-independent executable, code run once.
/// They are clean copies of the files, so letting go of them loses nothing: a page touched again comes back from
/// the page cache. What stays resident is what serving touches.
public struct StartPages: Sendable {
    /// The files whose mappings are let go of.
    public let files: Set<String>

    /// The files mapped now: the executable and the libraries the loader mapped with it, which stay mapped as they
    /// are until the process ends. Taken before anything may load a library of its own (a name lookup may): a
    /// library being loaded changes its mappings, which letting go must never meet.
    public static func loaded() -> StartPages {
        // Names only: /proc/self/maps, which the kernel writes without walking every page table as for smaps.
        StartPages(files: Set(mappings(reading: "/proc/self/maps").map(\.path).filter { $0.hasPrefix("/") }))
    }

    public init(files: Set<String>) {
        self.files = files
    }

    /// Lets go of the resident pages of every mapping of `files` that holds nothing but the file's pages
    /// (`Mapping.isFileCopy`). Returns the bytes let go of.
    @discardableResult
    public func letGo() -> Int {
        var released = 0
        for mapping in Self.mappings() where files.contains(mapping.path) && mapping.isFileCopy && mapping.residentKiB > 0 {
            if madvise(UnsafeMutableRawPointer(bitPattern: mapping.start), mapping.end - mapping.start, MADV_DONTNEED) == 0 {
                released += mapping.residentKiB * 1024
            }
        }
        return released
    }

    /// This process's mappings and their sizes, from /proc/self/smaps.
    public static func mappings() -> [Mapping] {
        mappings(reading: "/proc/self/smaps")
    }

    /// The mappings `file` lists (/proc/self/maps has the header lines of smaps, without the sizes).
    private static func mappings(reading file: String) -> [Mapping] {
        guard let listing = fopen(file, "r") else { return [] }
        defer { fclose(listing) }
        var lines: [String] = []
        var line = [CChar](repeating: 0, count: Int(PATH_MAX) + 256)
        while fgets(&line, Int32(line.count), listing) != nil {
            lines.append(String(decoding: line.prefix { $0 != 0 && $0 != 0x0A }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return mappings(smaps: lines)
    }

    /// The mappings that lines of /proc/PID/smaps describe.
    public static func mappings(smaps lines: [String]) -> [Mapping] {
        var found: [Mapping] = []
        for text in lines {
            if let header = Mapping(header: text) {
                found.append(header)
            } else if !found.isEmpty, let (name, kib) = field(text) {
                switch name {
                case "Rss": found[found.count - 1].residentKiB = kib
                case "Anonymous": found[found.count - 1].anonymousKiB = kib
                case "Swap": found[found.count - 1].swappedKiB = kib
                default: break
                }
            }
        }
        return found
    }

    /// `Rss:     123 kB` as ("Rss", 123).
    private static func field(_ line: String) -> (String, Int)? {
        let parts = line.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 3, parts[0].last == ":", parts[2] == "kB", let kib = Int(parts[1]) else { return nil }
        return (String(parts[0].dropLast()), kib)
    }

    /// One mapping: its header line, `start-end perms offset dev inode path`, and the sizes under it.
    public struct Mapping: Sendable {
        public let start: Int
        public let end: Int
        /// `r-xp`, `rw-p`, `r--s`…
        public let permissions: String
        public let path: String
        let inode: Substring
        public var residentKiB = 0
        /// Pages copied on write, resident: the mapping's own, no longer the file's. Unknown (-1) until read.
        public var anonymousKiB = -1
        /// Pages copied on write and swapped out: the mapping's own too. Unknown (-1) until read.
        public var swappedKiB = -1

        init?(header: String) {
            let fields = header.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            guard fields.count >= 5, fields[1].count == 4, let dash = fields[0].firstIndex(of: "-"),
                let start = Int(fields[0][..<dash], radix: 16),
                let end = Int(fields[0][fields[0].index(after: dash)...], radix: 16)
            else { return nil }
            self.start = start
            self.end = end
            permissions = String(fields[1])
            inode = fields[4]
            path = fields.count == 6 ? String(fields[5].drop { $0 == " " }) : ""
        }

        /// Private, never writable, backed by a file, and no page of its own, resident or swapped: letting go of
        /// its pages loses nothing.
        public var isFileCopy: Bool {
            (permissions == "r-xp" || permissions == "r--p") && path.hasPrefix("/") && inode != "0"
                && anonymousKiB == 0 && swappedKiB == 0
        }
    }
}
