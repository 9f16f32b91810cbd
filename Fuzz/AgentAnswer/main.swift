import CCPodKit
import Foundation

// Fuzz target: the sync agent's answer records (AnswerParsers.agentAnswer). See Benchmarks/fuzz.

/// libFuzzer's entry: one input through the real parser.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    AnswerParsers.agentAnswer(bytes.map { Data(bytes: $0, count: count) } ?? Data())
    return 0
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
exit(AnswerParsers.replay(Array(CommandLine.arguments.dropFirst())) { AnswerParsers.agentAnswer($0) })
#endif
