// swift-tools-version:6.0
//
// LANA for Swift: a user-space port of the Lightweight Autonomic Network
// Architecture. The target graph mirrors the architecture:
//
//   LANACore      IDPs, packets and pools, the block protocol, the crit-bit
//                 registry, the RCU dispatch table and the engines
//   LANABlocks    one file per functional block type
//   LANAEmbedded  a synchronous harness to run blocks and graphs in tests
//   LANAControl   the netlink-style control protocol (client and server)
//   LANAPosix     thin, typed syscall layer (AF_PACKET, epoll, affinity)
//   lanad, fbctl, vlink   the daemon and its command-line clients
import PackageDescription

let strictSwift: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    // Internal consistency checks (pool double frees, snapshot invariants)
    // are compiled in for debug builds only, like swift-collections'
    // COLLECTIONS_INTERNAL_CHECKS.
    .define("LANA_INTERNAL_CHECKS", .when(configuration: .debug)),
]

let package = Package(
    name: "lana",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "LANACore", targets: ["LANACore"]),
        .library(name: "LANABlocks", targets: ["LANABlocks"]),
        .library(name: "LANAEmbedded", targets: ["LANAEmbedded"]),
        .library(name: "LANAControl", targets: ["LANAControl"]),
        .library(name: "LANAPosix", targets: ["LANAPosix"]),
        .library(name: "LANABPF", targets: ["LANABPF"]),
        .executable(name: "lanad", targets: ["lanad"]),
        .executable(name: "fbctl", targets: ["fbctl"]),
        .executable(name: "vlink", targets: ["vlink"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
    ],
    targets: [
        .target(name: "CLANASupport"),
        .systemLibrary(
            name: "CNetlink",
            pkgConfig: "libnl-genl-3.0",
            providers: [.apt(["libnl-3-dev", "libnl-genl-3-dev"])]
        ),
        .target(
            name: "LANACore",
            dependencies: [
                "CLANASupport",
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: strictSwift
        ),
        .systemLibrary(name: "CPcap", pkgConfig: "libpcap", providers: [.apt(["libpcap-dev"])]),
        .target(name: "LANABPF", dependencies: ["CPcap"], swiftSettings: strictSwift),
        .target(
            name: "LANABlocks",
            dependencies: ["LANACore", "LANAPosix", "CLANASupport", "LANABPF"],
            swiftSettings: strictSwift
        ),
        // Out-of-tree block types (the README's example), built and tested
        // like a user's own would be.
        .target(name: "LANAExamples", dependencies: ["LANACore"], path: "Examples", swiftSettings: strictSwift),
        .target(
            name: "LANAEmbedded",
            dependencies: ["LANACore"],
            swiftSettings: strictSwift
        ),
        .target(
            name: "LANAPosix",
            dependencies: [
                "CLANASupport",
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: strictSwift
        ),
        .target(
            name: "LANAControl",
            // LANACore for GraphCommand, the registry's half of the command
            // model; LANACore knows nothing of the control protocol.
            dependencies: [
                "CNetlink", "CLANASupport", "LANACore", "LANAPosix",
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: strictSwift
        ),
        .target(
            name: "LANATool",
            dependencies: [
                "LANAControl", "LANAPosix",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSwift
        ),
        .executableTarget(
            name: "lanad",
            dependencies: [
                "LANACore", "LANABlocks", "LANABPF", "LANAControl", "LANAPosix", "CLANASupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift
        ),
        .target(name: "LANAFuzzSupport", swiftSettings: strictSwift),
        // libFuzzer target for the control-message decoder; see the README.
        .executableTarget(
            name: "LANAControlFuzz",
            dependencies: ["LANAControl", "LANAFuzzSupport"],
            swiftSettings: strictSwift
        ),
        // libFuzzer target for the BPF assembler and loader; see the README.
        .executableTarget(
            name: "LANABPFFuzz",
            dependencies: ["LANABPF", "LANAFuzzSupport"],
            swiftSettings: strictSwift
        ),
        // libFuzzer target for the FLIP and ARP decoders; see the README.
        .executableTarget(
            name: "LANAFLIPFuzz",
            dependencies: ["LANABlocks", "LANACore", "LANAEmbedded", "LANAPosix", "LANAFuzzSupport"],
            swiftSettings: strictSwift
        ),
        .executableTarget(
            name: "fbctl",
            dependencies: [
                "LANAControl", "LANATool", "LANABPF",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            path: "Tools/fbctl",
            swiftSettings: strictSwift
        ),
        .executableTarget(
            name: "vlink",
            dependencies: [
                "LANAControl", "LANATool",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Tools/vlink",
            swiftSettings: strictSwift
        ),
        .target(name: "LANATestSupport", dependencies: ["LANAControl"], path: "Tests/LANATestSupport"),
        .testTarget(
            name: "LANACoreTests",
            dependencies: ["LANACore", "LANABlocks", "LANAEmbedded", "LANAPosix"]
        ),
        .testTarget(
            name: "LANABlocksTests",
            dependencies: ["LANACore", "LANABlocks", "LANAEmbedded", "LANAExamples", "LANAPosix", "LANATestSupport"]
        ),
        .testTarget(name: "LANABPFTests", dependencies: ["LANABPF", "LANABlocks", "LANACore", "LANAEmbedded", "CPcap", "CLANASupport", "LANATestSupport"]),
        .testTarget(name: "BpfBlockTests", dependencies: ["LANABPF", "LANABlocks", "LANACore", "LANAEmbedded"]),
        .testTarget(
            name: "LANAControlTests",
            dependencies: ["LANAControl", "LANACore", "LANAPosix", "LANATestSupport"]
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["LANAControl", "LANATestSupport"]
        ),
        .testTarget(
            name: "LANAPosixTests",
            dependencies: ["LANAPosix", "LANATestSupport"]
        ),
        .testTarget(name: "InterfaceTests", dependencies: ["LANAControl", "LANACore", "LANABlocks", "LANAPosix", "LANATestSupport"]),
        // The flip and arp blocks against Linux and each other: real lanad
        // daemons in network namespaces on a bridge, with arping, tcpdump
        // and raw sockets; it reads FLIP on its own, without LANABlocks.
        .testTarget(name: "FLIPInteropTests", dependencies: ["LANATestSupport"]),
    ]
)
