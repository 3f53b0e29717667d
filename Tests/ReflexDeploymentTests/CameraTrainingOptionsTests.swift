import Testing
import ReflexCore
import ReflexDeployment

/// `reflex train`'s camera-only options are refused, with the reason, where they mean nothing.
@Suite struct CameraTrainingOptionsTests {
    @Test func cameraOnlyOptionsNeedACamera() throws {
        var options = PolicyTrainingOptions()
        options.auxiliaryWeight = 1
        options.excludeFeatures = ["cube"]
        let noCamera = try #require(throws: ReflexError.self) { try options.validateCameraOptions() }
        #expect(noCamera.message.contains("--camera"), "\(noCamera.message)")
        options.cameras = ["front"]
        try options.validateCameraOptions()
        options.excludeFeatures = []
        let nothingExcluded = try #require(throws: ReflexError.self) { try options.validateCameraOptions() }
        #expect(nothingExcluded.message.contains("--exclude-features"), "\(nothingExcluded.message)")
        options.auxiliaryWeight = -1
        #expect(throws: ReflexError.self) { try options.validateCameraOptions() }
        options.auxiliaryWeight = 0
        try options.validateCameraOptions()

        var shift = PolicyTrainingOptions()
        shift.randomShift = 4
        #expect(throws: ReflexError.self) { try shift.validateCameraOptions() }
        shift.cameras = ["front"]
        try shift.validateCameraOptions()
        #expect(shift.training.randomShift == 4)
        shift.randomShift = -1
        #expect(throws: ReflexError.self) { try shift.validateCameraOptions() }

        var encoder = PolicyTrainingOptions()
        encoder.keypoints = 16
        #expect(throws: ReflexError.self) { try encoder.validateCameraOptions() }
        encoder.keypoints = nil
        encoder.encoderChannels = [16, 32]
        #expect(throws: ReflexError.self) { try encoder.validateCameraOptions() }
    }
}
