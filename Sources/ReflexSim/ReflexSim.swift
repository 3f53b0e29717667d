// ReflexSim: Bullet worlds, simulated arms, tasks (reach, push, lift), scripted experts, vectorized environments.
// See docs/ARCHITECTURE.md for where this module sits.
