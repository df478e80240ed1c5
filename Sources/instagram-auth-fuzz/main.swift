// The fuzz runner. Built by scripts/fuzz with -DFUZZING and -sanitize=fuzzer,address, it hands the
// chosen target to libFuzzer; built plainly (as `swift build` does), it replays files through a target.
import Foundation
import FuzzTargets

#if FUZZING
import CLibFuzzer
#endif

let usage = """
    usage: instagram-auth-fuzz --list
           instagram-auth-fuzz TARGET FILE|FOLDER...            replay inputs, exit 1 if one breaks an invariant
           instagram-auth-fuzz TARGET [-flag=value...] [CORPUS...]  fuzz (in the scripts/fuzz build, with libFuzzer's options)
    TARGET may instead come from FUZZ_TARGET.

    """

enum Runner {
    /// The target libFuzzer's callback feeds.
    nonisolated(unsafe) static var target: FuzzTarget?

    static func list() {
        for target in FuzzTargets.all {
            print("\(target.name)\t\(target.maxLength)\t\(target.summary)")
        }
    }

    /// Every file named, or found (recursively) in a folder named, sorted.
    static func files(in paths: [String]) -> [String] {
        paths.flatMap { path -> [String] in
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
                FileHandle.standardError.write(Data("instagram-auth-fuzz: no such file: \(path)\n".utf8))
                exit(2)
            }
            guard isFolder.boolValue else { return [path] }
            let found = FileManager.default.enumerator(atPath: path)?.compactMap { $0 as? String } ?? []
            return found.sorted().map { (path as NSString).appendingPathComponent($0) }.filter {
                var isFolder: ObjCBool = false
                return FileManager.default.fileExists(atPath: $0, isDirectory: &isFolder) && !isFolder.boolValue
            }
        }
    }

    static func replay(_ target: FuzzTarget, paths: [String]) -> Int32 {
        var failed = 0
        let files = files(in: paths)
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else {
                print("unreadable \(file)")
                failed += 1
                continue
            }
            do {
                try target.run(Array(data))
            } catch {
                print("FAILED \(file): \(error.description)")
                failed += 1
            }
        }
        print("\(target.name): \(files.count) inputs replayed, \(failed) failed")
        return failed == 0 ? 0 : 1
    }
}

#if FUZZING
/// One input from libFuzzer: a broken invariant aborts, which libFuzzer reports as a crash and keeps.
func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = size == 0 || data == nil ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    do {
        try Runner.target!.run(input)
    } catch {
        FileHandle.standardError.write(Data("\n==== \(Runner.target!.name): invariant broken: \(error)\n".utf8))
        abort()
    }
    return 0
}

/// libFuzzer's runtime refers to this entry even though the driver is given `fuzzOne` directly.
@_cdecl("LLVMFuzzerTestOneInput")
func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    if Runner.target == nil {
        Runner.target = ProcessInfo.processInfo.environment["FUZZ_TARGET"].flatMap(FuzzTargets.named)
    }
    return fuzzOne(data, size)
}
#endif

var arguments = CommandLine.arguments
if arguments.dropFirst().first == "--list" {
    Runner.list()
    exit(0)
}
var target: FuzzTarget?
if arguments.count > 1, let named = FuzzTargets.named(arguments[1]) {
    target = named
    arguments.remove(at: 1)
} else if let name = ProcessInfo.processInfo.environment["FUZZ_TARGET"] {
    target = FuzzTargets.named(name)
}
guard let target else {
    FileHandle.standardError.write(Data((usage + "targets: \(FuzzTargets.all.map(\.name).joined(separator: ", "))\n").utf8))
    exit(2)
}

#if FUZZING
// libFuzzer starts itself again for some options (-merge, -fork): the copies find the target here.
setenv("FUZZ_TARGET", target.name, 1)
Runner.target = target
var argc = CInt(arguments.count)
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = .allocate(capacity: arguments.count + 1)
for (index, argument) in arguments.enumerated() { argv![index] = strdup(argument) }
argv![arguments.count] = nil
exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzOne(data, size) })
#else
let paths = Array(arguments.dropFirst())
guard !paths.isEmpty, !paths.contains(where: { $0.hasPrefix("-") }) else {
    FileHandle.standardError.write(
        Data((usage + "This build replays files only; scripts/fuzz builds the fuzzer.\n").utf8))
    exit(2)
}
exit(Runner.replay(target, paths: paths))
#endif
