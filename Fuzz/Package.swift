// swift-tools-version: 6.1
// Reflex's fuzz targets: one libFuzzer binary over every parser of outside data, chosen by REFLEX_FUZZ_TARGET.
// A package of its own so that the sanitizer flags stay on the command line (no unsafeFlags in Reflex's package);
// scripts/fuzz.sh builds and runs it (`make fuzz`).
import PackageDescription

let package = Package(
    name: "ReflexFuzz",
    dependencies: [.package(name: "Reflex", path: "..")],
    targets: [
        .executableTarget(name: "ReflexFuzz", dependencies: [
            .product(name: "ReflexCore", package: "Reflex"),
            .product(name: "ReflexRobot", package: "Reflex"),
            .product(name: "ReflexPolicy", package: "Reflex"),
            .product(name: "ReflexSteering", package: "Reflex"),
            .product(name: "ReflexHardware", package: "Reflex"),
            .product(name: "ReflexDeployment", package: "Reflex"),
            .product(name: "ReflexServe", package: "Reflex"),
        ]),
    ]
)
