import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension ChildProcess {
    /// What a program run to its end printed, and how it ended.
    public struct Finished: Sendable {
        public var termination: Termination
        public var output: [UInt8]
        public var error: [UInt8]

        /// The exit status (or the signal's number).
        public var status: Int32 { termination.status }
        public var outputText: String { String(decoding: output, as: UTF8.self) }
        public var errorText: String { String(decoding: error, as: UTF8.self) }
    }

    /// Runs a program to its end with `input` on its standard input; what it wrote to its standard output
    /// and error, read side by side so that neither pipe can fill and stall it. Blocks the calling thread:
    /// call it off Swift's cooperative pool.
    ///
    /// The pipes' ends are this process's only; a child started by another thread at the same moment
    /// cannot hold them (see `ChildProcess`), so their end comes when this program's does.
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil, input: [UInt8] = []
    ) throws(ChildProcessError) -> Finished {
        let stdin = try PipeEnds.make()
        let stdout = try PipeEnds.make()
        let stderr = try PipeEnds.make()
        let child: ChildProcess
        do {
            child = try start(
                executable, arguments, environment: environment, input: .descriptor(stdin.read),
                output: .descriptor(stdout.write), error: .descriptor(stderr.write))
        } catch {
            for fd in [stdin.read, stdin.write, stdout.read, stdout.write, stderr.read, stderr.write] { close(fd) }
            throw error
        }
        for fd in [stdin.read, stdout.write, stderr.write] { close(fd) }
        var finished = Finished(termination: .exited(0), output: [], error: [])
        exchange(input: input, to: stdin.write, output: stdout.read, &finished.output, error: stderr.read, &finished.error)
        finished.termination = child.wait()
        return finished
    }

    /// Writes `input` and reads both outputs to their end, whichever is ready first. Closes the three descriptors.
    private static func exchange(
        input: [UInt8], to inputFD: Int32, output outputFD: Int32, _ output: inout [UInt8], error errorFD: Int32,
        _ error: inout [UInt8]
    ) {
        var written = 0
        var writing: Int32 = inputFD
        if input.isEmpty {
            close(inputFD)
            writing = -1
        } else {
            _ = fcntl(inputFD, F_SETFL, fcntl(inputFD, F_GETFL) | O_NONBLOCK)
        }
        var reading: [Int32] = [outputFD, errorFD]
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while writing >= 0 || !reading.isEmpty {
            var fds = reading.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            if writing >= 0 { fds.append(pollfd(fd: writing, events: Int16(POLLOUT), revents: 0)) }
            guard poll(&fds, nfds_t(fds.count), -1) >= 0 || errno == EINTR else { break }
            for entry in fds where entry.revents != 0 {
                if entry.fd == writing {
                    let count = input[written...].withUnsafeBytes { writeWithoutSIGPIPE(writing, $0) }
                    if count > 0 { written += count }
                    if count < 0 && errno != EAGAIN && errno != EINTR || written == input.count {
                        close(writing)
                        writing = -1
                    }
                } else {
                    let count = read(entry.fd, &buffer, buffer.count)
                    if count > 0 {
                        if entry.fd == outputFD { output += buffer[..<count] } else { error += buffer[..<count] }
                    } else if count == 0 || errno != EINTR && errno != EAGAIN {
                        close(entry.fd)
                        reading.removeAll { $0 == entry.fd }
                    }
                }
            }
        }
    }

    /// A write to a pipe whose reader has gone fails with EPIPE instead of raising SIGPIPE, which would end
    /// this whole process: the signal is blocked on this thread for the write and taken if it came.
    private static func writeWithoutSIGPIPE(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int {
        var pipeSignal = sigset_t()
        sigemptyset(&pipeSignal)
        sigaddset(&pipeSignal, SIGPIPE)
        var previous = sigset_t()
        pthread_sigmask(SIG_BLOCK, &pipeSignal, &previous)
        let count = write(fd, bytes.baseAddress, bytes.count)
        let writeError = errno
        if count < 0 && writeError == EPIPE {
            var immediately = timespec()
            _ = sigtimedwait(&pipeSignal, nil, &immediately)
        }
        pthread_sigmask(SIG_SETMASK, &previous, nil)
        errno = writeError
        return count
    }
}

/// A pipe whose two ends are close-on-exec: they reach a child only as the descriptor it is given.
private struct PipeEnds {
    let read: Int32
    let write: Int32

    static func make() throws(ChildProcessError) -> PipeEnds {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { throw ChildProcessError("cannot make a pipe: \(String(cString: strerror(errno)))") }
        for fd in ends { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return PipeEnds(read: ends[0], write: ends[1])
    }
}
