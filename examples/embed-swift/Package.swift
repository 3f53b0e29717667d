// swift-tools-version: 6.1
// An embedder of Reflex: depends on it by path and names only the products it imports. It compiles no SwiftNIO
// and no daemon (ReflexServe is not named).
import PackageDescription

let package = Package(
    name: "EmbedReflex",
    dependencies: [.package(name: "Reflex", path: "../..")],
    targets: [
        .executableTarget(name: "EmbedReflex", dependencies: [
            .product(name: "ReflexDeployment", package: "Reflex"),
            .product(name: "ReflexRuntime", package: "Reflex"),
            .product(name: "ReflexPolicy", package: "Reflex"),
            .product(name: "ReflexCore", package: "Reflex"),
        ]),
    ]
)
