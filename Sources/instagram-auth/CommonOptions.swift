import ArgumentParser
import Foundation
import InstagramAuth
import LogHandlers
import Logging

/// What every command that reads the configuration takes: `--config FILE` and `--log-format`.
struct CommonOptions: ParsableArguments {
    @Option(name: .customLong("config"), help: ArgumentHelp("A file of KEY=value configuration lines.", valueName: "file"))
    var configFile: String?

    @Option(help: ArgumentHelp("text or json (one JSON object a line); INSTAGRAM_AUTH_LOG_FORMAT otherwise.", valueName: "format"))
    var logFormat: LogFormat?

    /// The log format: the option, else the environment's or the file's `INSTAGRAM_AUTH_LOG_FORMAT`.
    func format() throws -> LogFormat {
        if let logFormat { return logFormat }
        return try Configuration.logFormat(environment: ProcessInfo.processInfo.environment, configFile: configFile)
    }

    /// A logger at `level` in the chosen format.
    func logger(level: String) throws -> Logger {
        CommandLineLogger.make(level: level, format: try format())
    }
}

extension LogFormat: ExpressibleByArgument {}
