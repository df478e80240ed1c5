import Foundation
import ProcessMemory
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Pages touched while starting are let go of, and only those that are the file's", .serialized)
struct StartPagesTests {
    /// A file of `pages` pages of `fill`, mapped private and read, as the executable's code is.
    final class MappedFile {
        static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        let path: String
        let base: UnsafeMutableRawPointer
        let length: Int

        init(pages: Int, fill: UInt8, writable: Bool = false) throws {
            length = pages * Self.pageSize
            path = FileManager.default.temporaryDirectory.appendingPathComponent("start-pages-\(UUID().uuidString)").path
            try Data(repeating: fill, count: length).write(to: URL(fileURLWithPath: path))
            let fd = open(path, O_RDONLY)
            try #require(fd >= 0)
            defer { close(fd) }
            let mapped = mmap(nil, length, PROT_READ | (writable ? PROT_WRITE : 0), MAP_PRIVATE, fd, 0)
            try #require(mapped != MAP_FAILED)
            base = mapped!
        }

        deinit {
            munmap(base, length)
            unlink(path)
        }

        /// Touches every page, so each is resident.
        func readAll() -> Int {
            var sum = 0
            for offset in stride(from: 0, to: length, by: Self.pageSize) {
                sum += Int(base.load(fromByteOffset: offset, as: UInt8.self))
            }
            return sum
        }

        var mapping: StartPages.Mapping? {
            StartPages.mappings().first { $0.start == Int(bitPattern: base) }
        }
    }

    @Test func aReadOnlyFileMappingIsLetGoOfAndReadsTheSameAfter() throws {
        let file = try MappedFile(pages: 16, fill: 7)
        #expect(file.readAll() == 16 * 7)
        let before = try #require(file.mapping)
        #expect(before.permissions == "r--p")
        #expect(before.path == file.path)
        #expect(before.residentKiB >= 16 * 4)
        #expect(before.isFileCopy)

        #expect(StartPages(files: [file.path]).letGo() >= before.residentKiB * 1024)
        #expect(try #require(file.mapping).residentKiB == 0)
        // Touched again, every page comes back from the file.
        #expect(file.readAll() == 16 * 7)
    }

    @Test func aMappingWithAPageOfItsOwnIsLeftWhole() throws {
        let file = try MappedFile(pages: 4, fill: 1, writable: true)
        _ = file.readAll()
        // A page written is the mapping's own copy; made read-only after, as relocated data is at start.
        file.base.storeBytes(of: 9, toByteOffset: 0, as: UInt8.self)
        #expect(mprotect(file.base, file.length, PROT_READ) == 0)
        let mapping = try #require(file.mapping)
        #expect(mapping.permissions == "r--p")
        #expect(mapping.anonymousKiB > 0)
        #expect(!mapping.isFileCopy)

        StartPages(files: [file.path]).letGo()
        // Let go of, the page would read the file's 1 again: the write would be lost.
        #expect(file.base.load(fromByteOffset: 0, as: UInt8.self) == 9)
        #expect(try #require(file.mapping).residentKiB == mapping.residentKiB)
    }

    @Test func theExecutablesCodeIsLetGoOfAndStillRuns() throws {
        let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let loaded = StartPages.loaded()
        #expect(loaded.files.contains(executable))
        #expect(loaded.files.contains { $0.contains("/libc.so") })
        func codeKiB() -> Int {
            StartPages.mappings().filter { $0.path == executable && $0.permissions == "r-xp" }.map(\.residentKiB).reduce(0, +)
        }
        let before = codeKiB()
        #expect(before > 0)
        #expect(loaded.letGo() > 0)
        // Other tests run meanwhile and touch code again, but far from all that was resident; this test running on
        // is what shows the code still runs.
        #expect(codeKiB() < before)
    }

    @Test func onlyAReadOnlyPrivateMappingOfAFileWithNoPageOfItsOwnIsAFileCopy() {
        func mapping(_ header: String, anonymous: Int = 0, swapped: Int = 0) -> StartPages.Mapping? {
            StartPages.mappings(smaps: [
                header, "Size:                100 kB", "Rss:                  40 kB", "Anonymous:      \(anonymous) kB",
                "Swap:          \(swapped) kB", "SwapPss:               0 kB", "VmFlags: rd ex mr mw me",
            ]).first
        }
        let code = mapping("55d0c0000000-55d0c0019000 r-xp 00001000 fd:01 1234   /usr/local/bin/instagram auth")
        #expect(code?.path == "/usr/local/bin/instagram auth")
        #expect(code?.residentKiB == 40)
        #expect(code?.isFileCopy == true)
        #expect(mapping("55d0c0000000-55d0c0019000 r--p 00000000 fd:01 1234 /opt/app (deleted)")?.isFileCopy == true)
        // Relocated at start, then made read-only: its pages are its own, resident or swapped out.
        #expect(mapping("55d0c0000000-55d0c0019000 r--p 00000000 fd:01 1234 /opt/app", anonymous: 12)?.isFileCopy == false)
        #expect(mapping("55d0c0000000-55d0c0019000 r--p 00000000 fd:01 1234 /opt/app", swapped: 8)?.isFileCopy == false)
        #expect(mapping("55d0c0000000-55d0c0019000 rw-p 00000000 fd:01 1234 /opt/app")?.isFileCopy == false)
        #expect(mapping("55d0c0000000-55d0c0019000 r--s 00000000 fd:01 1234 /opt/app")?.isFileCopy == false)
        #expect(mapping("7ffd1e5f0000-7ffd1e5f2000 r-xp 00000000 00:00 0                  [vdso]")?.isFileCopy == false)
        #expect(mapping("7ffd1e5f0000-7ffd1e5f2000 r--p 00000000 00:00 0")?.isFileCopy == false)
        // Sizes not read: not known to be the file's.
        #expect(StartPages.mappings(smaps: ["55d0c0000000-55d0c0019000 r-xp 00001000 fd:01 1234 /opt/app"]).first?.isFileCopy == false)
    }

    @Test func aFileMappedAfterTheStartIsLeftAlone() throws {
        let start = StartPages.loaded()
        let file = try MappedFile(pages: 4, fill: 3)
        _ = file.readAll()
        let resident = try #require(file.mapping).residentKiB
        #expect(resident > 0)
        start.letGo()
        #expect(try #require(file.mapping).residentKiB == resident, "only the files mapped when the start was noted")
    }
}
