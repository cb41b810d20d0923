// swift-tools-version:6.1
//
// Engine benchmarks for LANA, kept out of the main package so that its
// dependencies (the malloc interposer) never reach the daemon.
//
//   Scripts/bench-engine.sh            # from the repository root (Scripts/run-lana-bench.sh <command> for any)
//
// builds this package with plain `-c release` and runs
// `lana-bench engine` with the malloc interposer preloaded
// (Scripts/bench-flip.sh does the same for `lana-bench flip`).
import PackageDescription

let package = Package(
    name: "lana-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        // The main package, by path. Its identity is the name of the
        // repository's directory, hence `mainPackage` below.
        .package(path: ".."),
        .package(url: "https://github.com/ordo-one/malloc-interposer.git", exact: "1.6.1"),
    ],
    targets: [
        .target(name: "CBenchSupport"),
        // libpcap's bpf_filter, the reference of `lana-bench bpf`.
        .target(name: "CBPFBench", linkerSettings: [.linkedLibrary("pcap")]),
        .executableTarget(
            name: "lana-bench",
            dependencies: [
                "CBenchSupport",
                "CBPFBench",
                .product(name: "LANACore", package: mainPackage),
                .product(name: "LANABlocks", package: mainPackage),
                .product(name: "LANAControl", package: mainPackage),
                .product(name: "LANABPF", package: mainPackage),
                .product(name: "LANAPosix", package: mainPackage),
                .product(name: "MallocInterposerSwift", package: "malloc-interposer"),
            ],
            swiftSettings: [.enableUpcomingFeature("ExistentialAny")]
        ),
    ]
)

/// SwiftPM names a path dependency after its directory (`main` in the
/// project's checkout); work it out so that any checkout directory works.
var mainPackage: String {
    let path = #filePath.split(separator: "/").dropLast(2)
    return path.last.map { String($0).lowercased() } ?? "main"
}
