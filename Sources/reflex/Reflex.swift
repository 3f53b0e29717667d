import ArgumentParser

@main
struct Reflex: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reflex",
        abstract: "An embeddable control-policy runtime for robot arms.",
        subcommands: [Train.self, Eval.self, CalibrateRTI.self, TrainValue.self, Finetune.self, Inspect.self, Convert.self, Bench.self, Collect.self,
                      Servo.self, Emulate.self, Run.self]
    )
}
