// swift-tools-version: 6.1
// Reflex: an embeddable control-policy runtime for robot arms. See docs/ARCHITECTURE.md for the module map.
import PackageDescription

let package = Package(
    name: "Reflex",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Reflex", targets: ["ReflexCore", "ReflexNN", "ReflexPolicy", "ReflexRL", "ReflexSteering",
                                           "ReflexRobot", "ReflexSim", "ReflexHardware", "ReflexRuntime"]),
        .executable(name: "reflex", targets: ["reflex"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.2.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.1.0"),
        // The daemon (ReflexServe) only: HTTP, WebSocket, graceful shutdown. No default traits (no swift-configuration).
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0", traits: []),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.0"),
    ],
    targets: [
        // System libraries come in through pkg-config only (no unsafeFlags), so Reflex can be a dependency.
        .systemLibrary(name: "CEigen", path: "CBridge/system/CEigen", pkgConfig: "eigen3",
                       providers: [.apt(["libeigen3-dev"])]),
        .systemLibrary(name: "CBullet", path: "CBridge/system/CBullet", pkgConfig: "bullet-float64",
                       providers: [.apt(["libbullet-dev"])]),
        .systemLibrary(name: "CYAML", path: "CBridge/system/CYAML", pkgConfig: "yaml-0.1",
                       providers: [.apt(["libyaml-dev"])]),
        // All C++ lives here, behind the plain C header CBridge/include/CBridge.h.
        .target(name: "CBridge", dependencies: ["CEigen", "CBullet", "CYAML"], path: "CBridge",
                exclude: ["system"], sources: ["src"], publicHeadersPath: "include",
                cxxSettings: [
                    .define("EIGEN_NO_DEBUG"), .define("EIGEN_DONT_PARALLELIZE"),
                    // SwiftPM drops -D flags from pkg-config; bullet-float64 links the double-precision build.
                    .define("BT_USE_DOUBLE_PRECISION"),
                ]),
        .target(name: "ReflexCore", dependencies: ["CBridge"]),
        .target(name: "ReflexNN", dependencies: ["ReflexCore", "CBridge"]),
        .target(name: "ReflexPolicy", dependencies: ["ReflexCore", "ReflexNN", "CBridge"]),
        .target(name: "ReflexRL", dependencies: ["ReflexCore", "ReflexNN", "CBridge"]),
        .target(name: "ReflexSteering", dependencies: ["ReflexCore", "ReflexNN", "ReflexPolicy", "ReflexRL"]),
        .target(name: "ReflexRobot", dependencies: ["ReflexCore", "CBridge"]),
        .target(name: "ReflexSim", dependencies: ["ReflexCore", "ReflexRobot", "CBridge"]),
        .target(name: "ReflexHardware", dependencies: ["ReflexCore", "ReflexRobot"]),
        .target(name: "ReflexRuntime", dependencies: [
            "ReflexCore", "ReflexPolicy", "ReflexSteering", "ReflexRobot",
            .product(name: "Atomics", package: "swift-atomics"),
            .product(name: "Histogram", package: "hdrhistogram-swift"),
        ]),
        // The robot controller daemon's HTTP/WebSocket layer over RobotController. Kept out of ReflexRuntime so that
        // embedders of the runtime do not pull in SwiftNIO.
        .target(name: "ReflexServe", dependencies: [
            "ReflexCore", "ReflexPolicy", "ReflexSteering", "ReflexRobot", "ReflexRuntime",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
        ], resources: [.copy("Resources")]),
        .executableTarget(name: "reflex", dependencies: [
            "ReflexCore", "ReflexNN", "ReflexPolicy", "ReflexRL", "ReflexSteering", "ReflexRobot", "ReflexSim",
            "ReflexHardware", "ReflexRuntime", "ReflexServe",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Counts this thread's heap allocations by interposing malloc in the test binary (hot-path tests).
        .target(name: "AllocationCounter", path: "Tests/AllocationCounter"),
        // Where the tests' independent peers are (the venv of Tests/peers-requirements.txt, Chromium), and CI's rule
        // that a missing peer fails instead of skipping.
        .target(name: "TestSupport", dependencies: ["ReflexCore", "AllocationCounter"], path: "Tests/TestSupport"),
        .testTarget(name: "ReflexCoreTests", dependencies: ["ReflexCore"], exclude: ["Fixtures"]),
        .testTarget(name: "ReflexNNTests", dependencies: ["ReflexNN", "AllocationCounter", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "ReflexPolicyTests", dependencies: ["ReflexPolicy", "AllocationCounter", "TestSupport"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "ReflexSteeringTests", dependencies: ["ReflexSteering", "ReflexRL", "ReflexPolicy", "AllocationCounter"]),
        .testTarget(name: "ReflexRuntimeTests", dependencies: ["ReflexRuntime", "ReflexPolicy", "ReflexSteering", "ReflexRL", "ReflexRobot",
                                                           "AllocationCounter", "TestSupport"]),
        .testTarget(name: "ReflexRLTests", dependencies: ["ReflexRL", "AllocationCounter"], exclude: ["Fixtures"]),
        .testTarget(name: "ReflexRobotTests", dependencies: ["ReflexRobot", "TestSupport"]),
        .testTarget(name: "ReflexSimTests", dependencies: ["ReflexSim", "ReflexRobot", "AllocationCounter", "TestSupport"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "ReflexServeTests", dependencies: ["ReflexServe", "ReflexRuntime", "ReflexRobot", "ReflexPolicy",
                                                          "ReflexSteering", "ReflexRL", "TestSupport"]),
        .testTarget(name: "ReflexHardwareTests", dependencies: ["ReflexHardware", "ReflexRobot", "AllocationCounter", "TestSupport"],
                    exclude: ["Fixtures"]),
    ],
    swiftLanguageModes: [.v6],
    cxxLanguageStandard: .cxx17
)
