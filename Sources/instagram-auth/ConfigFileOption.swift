import ArgumentParser

/// `--config FILE`, which every command that reads the configuration takes.
struct ConfigFileOption: ParsableArguments {
    @Option(name: .customLong("config"), help: ArgumentHelp("A file of KEY=value configuration lines.", valueName: "file"))
    var path: String?
}
