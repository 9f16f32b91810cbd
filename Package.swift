// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "ccpod",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "ccpod", targets: ["ccpod"]),
        .library(name: "CCPodKit", targets: ["CCPodKit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
    ],
    targets: [
        // The executable is only `@main`: parse, run, map errors to exit codes.
        .executableTarget(
            name: "ccpod",
            dependencies: ["CCPodCLI"]
        ),
        // One file per command; rendering of tables, JSON and progress.
        .target(
            name: "CCPodCLI",
            dependencies: [
                "CCPodKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Everything that does the work. Never imports ArgumentParser.
        .target(
            name: "CCPodKit",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "GRDB", package: "GRDB.swift"),
                "CCPodSystemShims",
            ],
            resources: [
                .embedInCode("Remote/agent.sh"), .embedInCode("Deploy/deploy.sh"),
                .embedInCode("Pod/setup.sh"), .embedInCode("Pod/launch.sh"), .embedInCode("Pod/autostop.sh"),
                .embedInCode("Artifacts/artifacts.sh"),
            ],
            plugins: ["VersionStamp"]
        ),
        // `ccpod --version` from `git describe` (or a release tarball's VERSION file).
        .plugin(name: "VersionStamp", capability: .buildTool()),
        // POSIX extensions the Glibc module does not export (posix_spawn chdir/closefrom, pipe2).
        // dlopen (libzstd, zstd_decoder.c) is in libdl before glibc 2.34.
        .target(name: "CCPodSystemShims", linkerSettings: [.linkedLibrary("dl", .when(platforms: [.linux]))]),
        // Real parts for tests and benchmarks: a loopback sshd, a PTY-only proxy,
        // a delaying/cutting TCP relay, a fake RunPod API.
        .target(
            name: "CCPodTestSupport",
            dependencies: ["CCPodKit"]
        ),
        // Generates sessions for Benchmarks/sessions-bench.sh.
        .executableTarget(
            name: "ccpod-session-fixtures",
            dependencies: ["CCPodTestSupport"],
            path: "Benchmarks/SessionFixturesTool"
        ),
        // ccpod against rsync, tar|zstd|ssh and one ssh per file: `Benchmarks/run`.
        .executableTarget(
            name: "ccpod-bench",
            dependencies: ["CCPodTestSupport", "CCPodKit"],
            path: "Benchmarks/Bench"
        ),
        // One fuzz executable for every parser of pod answers (CCPOD_FUZZ_TARGET names it):
        // `Benchmarks/fuzz` builds it with -sanitize=fuzzer; a plain build replays files.
        .executableTarget(name: "ccpod-fuzz", dependencies: ["CCPodKit"], path: "Fuzz/Target"),
        .testTarget(
            name: "CCPodTests",
            dependencies: ["CCPodKit", "CCPodCLI", "CCPodTestSupport", "ccpod"]
        ),
    ]
)
