import CCPodKit
import Foundation

// One fuzz executable for every parser of what a pod answers; the target is named by
// CCPOD_FUZZ_TARGET (agent-answer, artifacts-listing, …: AnswerParsers.targets).
// See Benchmarks/fuzz.

enum Chosen {
    static let name = ProcessInfo.processInfo.environment["CCPOD_FUZZ_TARGET"] ?? ""
    static let parse: (@Sendable (Data) -> Bool)? = AnswerParsers.targets[name]
}

/// libFuzzer's entry: one input through the chosen real parser.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    _ = Chosen.parse?(bytes.map { Data(bytes: $0, count: count) } ?? Data())
    return 0
}

guard Chosen.parse != nil else {
    FileHandle.standardError.write(Data("ccpod-fuzz: set CCPOD_FUZZ_TARGET to one of \(AnswerParsers.targets.keys.sorted().joined(separator: ", "))\n".utf8))
    exit(2)
}
#if FUZZING
// Built with -sanitize=fuzzer (and -DFUZZING): this main hands over to libFuzzer's
// driver, so libFuzzer's own main is never needed and a plain build still has one.
@_silgen_name("LLVMFuzzerRunDriver")
func runDriver(_ argc: UnsafeMutablePointer<CInt>,
               _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
               _ body: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt
var argc = CommandLine.argc
var argv = CommandLine.unsafeArgv
exit(runDriver(&argc, &argv, fuzzOneInput))
#else
// Built plainly (CI builds every target): replays the files or folders named as arguments.
exit(AnswerParsers.replay(Array(CommandLine.arguments.dropFirst())) { Chosen.parse!($0) })
#endif
