import ArgumentParser

@main
struct Reflex: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reflex",
        abstract: "An embeddable control-policy runtime for robot arms.",
        // One command per line keeps merges of new commands trivial.
        subcommands: [
            Train.self,
            Eval.self,
            EvalMerge.self,
            CalibrateRTI.self,
            TrainValue.self,
            Finetune.self,
            SweepCommand.self,
            SlurmCommand.self,
            Collect.self,
            Sim.self,
            Servo.self,
            Emulate.self,
            CameraCommand.self,
            Calibrate.self,
            Inspect.self,
            Convert.self,
            Bench.self,
            Run.self,
            Predict.self,
            Serve.self,
        ]
    )
}
