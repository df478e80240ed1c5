import Foundation
import FuzzTargets
import Testing

/// The committed fuzz inputs as regression tests: every seed in Fuzz/corpus/TARGET and every input kept in
/// Fuzz/regressions/TARGET (one that once broke a parser) goes through its target on each test run.
@Suite("Fuzz corpus and regressions")
struct CorpusTests {
    static let fuzz = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz")

    static func files(_ kind: String, _ target: String) -> [URL] {
        let folder = fuzz.appendingPathComponent(kind).appendingPathComponent(target)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted().map { folder.appendingPathComponent($0) }
    }

    @Test("every target has seeds, none longer than the fuzzer tries", arguments: FuzzTargets.all.map(\.name))
    func seeds(_ name: String) throws {
        let seeds = Self.files("corpus", name)
        #expect(!seeds.isEmpty, "Fuzz/corpus/\(name) holds no seed")
        let limit = try #require(FuzzTargets.named(name)).maxLength
        for seed in seeds {
            let size = try Data(contentsOf: seed).count
            #expect(size <= limit, "\(seed.lastPathComponent) has \(size) bytes; the fuzzer cuts inputs at \(limit)")
        }
    }

    @Test("seeds and kept inputs pass their target", arguments: FuzzTargets.all.map(\.name))
    func replay(_ name: String) throws {
        let target = try #require(FuzzTargets.named(name))
        for file in Self.files("corpus", name) + Self.files("regressions", name) {
            do {
                try target.run(Array(try Data(contentsOf: file)))
            } catch let violation as InvariantViolation {
                Issue.record("\(file.deletingLastPathComponent().lastPathComponent)/\(file.lastPathComponent): \(violation)")
            }
        }
    }

    @Test("every folder of inputs belongs to a target")
    func noOrphanFolders() {
        for kind in ["corpus", "regressions"] {
            let parent = Self.fuzz.appendingPathComponent(kind)
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: parent.path)) ?? []
            for folder in entries where (try? parent.appendingPathComponent(folder).resourceValues(forKeys: [.isDirectoryKey]).isDirectory) == true {
                #expect(FuzzTargets.named(folder) != nil, "Fuzz/\(kind)/\(folder) is replayed by no target")
            }
        }
    }
}
