// swift-tools-version: 6.1
// Reflex: an embeddable control-policy runtime for robot arms. See docs/ARCHITECTURE.md for the module map and
// docs/embedding.md for what each product pulls in.
import PackageDescription

/// One library product per module an embedder would pick; each compiles only its own dependencies.
let modules = ["ReflexCore", "ReflexNN", "ReflexPolicy", "ReflexRL", "ReflexSteering", "ReflexRobot", "ReflexSim",
               "ReflexHardware", "ReflexRuntime", "ReflexDeployment", "ReflexServe"]

let package = Package(
    name: "Reflex",
    platforms: [.macOS(.v15)],
    products: modules.map { .library(name: $0, targets: [$0]) } + [
        // The C ABI: one plain C header (Sources/ReflexC/include/reflex.h) over the deployment layer and policies.
        .library(name: "ReflexC", type: .dynamic, targets: ["ReflexC"]),
        .executable(name: "reflex", targets: ["reflex"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        // The daemon (ReflexServe) only: HTTP, WebSocket, graceful shutdown. No default traits (no swift-configuration).
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0", traits: []),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
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
        .target(name: "ReflexPolicy", dependencies: ["ReflexCore", "ReflexNN"]),
        .target(name: "ReflexRL", dependencies: ["ReflexCore", "ReflexNN"]),
        .target(name: "ReflexSteering", dependencies: ["ReflexCore", "ReflexNN", "ReflexPolicy", "ReflexRL"]),
        // The robot descriptions in robots/, shipped as a resource bundle so embedders find them by name.
        .target(name: "ReflexRobotDescriptions", path: "robots", sources: ["BundledRobots.swift"],
                resources: [.copy("so101.yaml"), .copy("so101.urdf"), .copy("koch.yaml"), .copy("koch.urdf")]),
        .target(name: "ReflexRobot", dependencies: ["ReflexCore", "ReflexRobotDescriptions"]),
        .target(name: "ReflexSim", dependencies: ["ReflexCore", "ReflexRobot", "CBridge"]),
        .target(name: "ReflexHardware", dependencies: ["ReflexCore", "ReflexRobot"]),
        .target(name: "ReflexRuntime", dependencies: ["ReflexCore", "ReflexPolicy", "ReflexRobot"]),
        // Config → arm (sim, bus, fake, camera channel) + observation + per-episode reset; scenes, episode runner,
        // fine-tuning sessions. What the CLI, the daemon and embedders call.
        .target(name: "ReflexDeployment", dependencies: [
            "ReflexCore", "ReflexNN", "ReflexPolicy", "ReflexRL", "ReflexSteering", "ReflexRobot", "ReflexSim",
            "ReflexHardware", "ReflexRuntime",
        ]),
        // The robot controller daemon's HTTP/WebSocket layer. The only module that depends on SwiftNIO.
        .target(name: "ReflexServe", dependencies: [
            "ReflexCore", "ReflexPolicy", "ReflexSteering", "ReflexRobot", "ReflexHardware", "ReflexRuntime", "ReflexDeployment",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
        ], resources: [.copy("Resources")]),
        // The C ABI (include/reflex.h, shipped as a file beside the sources): @_cdecl functions over the deployment layer.
        .target(name: "ReflexC", dependencies: ["ReflexCore", "ReflexPolicy", "ReflexRuntime", "ReflexDeployment"],
                exclude: ["include"]),
        .executableTarget(name: "reflex", dependencies: [
            "ReflexCore", "ReflexNN", "ReflexPolicy", "ReflexRL", "ReflexSteering", "ReflexRobot", "ReflexSim",
            "ReflexHardware", "ReflexRuntime", "ReflexDeployment", "ReflexServe",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Counts heap allocations by interposing malloc in the test binary (hot-path tests).
        .target(name: "AllocationCounter", path: "Tests/AllocationCounter"),
        // Where the tests' independent peers are (the venv of Tests/peers-requirements.txt, Chromium), and CI's rule
        // that a missing peer fails instead of skipping.
        .target(name: "TestSupport", dependencies: ["ReflexCore", "AllocationCounter"], path: "Tests/TestSupport"),
        // The lift fixtures camera and hardware-in-the-loop tests share across the deployment and daemon test targets.
        .target(name: "DeploymentTestSupport", dependencies: ["ReflexDeployment", "ReflexSim", "ReflexPolicy", "ReflexRobot"],
                path: "Tests/DeploymentTestSupport"),
        .testTarget(name: "ReflexCoreTests", dependencies: ["ReflexCore"], exclude: ["Fixtures"]),
        .testTarget(name: "ReflexNNTests", dependencies: ["ReflexNN", "ReflexCore", "CBridge", "AllocationCounter", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "ReflexPolicyTests", dependencies: ["ReflexPolicy", "ReflexNN", "ReflexCore", "AllocationCounter", "TestSupport"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "ReflexSteeringTests", dependencies: ["ReflexSteering", "ReflexRL", "ReflexPolicy", "ReflexNN", "ReflexCore",
                                                             "AllocationCounter"]),
        .testTarget(name: "ReflexRuntimeTests", dependencies: ["ReflexRuntime", "ReflexPolicy", "ReflexRobot", "ReflexNN", "ReflexCore",
                                                            "AllocationCounter", "ReflexSteering", "ReflexRL", "TestSupport"]),
        .testTarget(name: "ReflexRLTests", dependencies: ["ReflexRL", "ReflexNN", "ReflexCore", "CBridge", "AllocationCounter"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "ReflexRobotTests", dependencies: ["ReflexRobot", "ReflexCore", "TestSupport"]),
        .testTarget(name: "ReflexSimTests", dependencies: ["ReflexSim", "ReflexRobot", "ReflexCore", "AllocationCounter", "TestSupport"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "ReflexDeploymentTests", dependencies: ["ReflexDeployment", "ReflexSim", "ReflexRuntime", "ReflexRobot",
                                                               "ReflexSteering", "ReflexRL", "ReflexPolicy", "ReflexHardware",
                                                               "ReflexNN", "ReflexCore", "AllocationCounter", "TestSupport",
                                                               "DeploymentTestSupport"]),
        .testTarget(name: "ReflexServeTests", dependencies: ["ReflexServe", "ReflexDeployment", "ReflexRuntime", "ReflexRobot", "ReflexHardware", "ReflexSim",
                                                          "ReflexPolicy", "ReflexSteering", "ReflexRL", "ReflexNN", "ReflexCore",
                                                          .product(name: "Logging", package: "swift-log"),
                                                          .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"), "TestSupport",
                                                          "DeploymentTestSupport"]),
        .testTarget(name: "ReflexHardwareTests", dependencies: ["ReflexHardware", "ReflexRobot", "ReflexCore", "AllocationCounter", "TestSupport"],
                    exclude: ["Fixtures"]),
    ],
    swiftLanguageModes: [.v6],
    cxxLanguageStandard: .cxx17
)
