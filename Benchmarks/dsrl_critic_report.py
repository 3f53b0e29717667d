#!/usr/bin/env python3
"""The critic's checks of a DSRL run (issue 21), one line per evaluation of RUN/metrics.csv: success on the trainer's
starts, α, entropy, critic loss, mean Q and TD target of the last update, Q(s, tanh μ) against the discounted
Monte-Carlo return over all evaluation steps and over the successful episodes' steps, what the replay buffer holds,
and the stochastic training episodes' success since the previous evaluation (return above −maxsteps + 0.5)."""
import csv, sys

def main(run, max_steps=30):
    rows = list(csv.DictReader(open(run + "/metrics.csv")))
    print("step  succ  alpha   entropy  loss    meanQ   target  Q_eval  MC_eval  Q_succ  MC_succ  buffer  terminals  train_succ")
    last = 0
    for r in rows:
        if r["eval_success_rate"] == "":
            continue
        step = int(r["step"])
        eps = [float(x["episode_return"]) for x in rows if x["episode_return"] != "" and last < int(x["step"]) <= step]
        train = sum(e > -max_steps + 0.5 for e in eps) / len(eps) if eps else float("nan")
        last = step
        f = lambda k, d=2: f"{float(r[k]):.{d}f}" if r.get(k, "") != "" else "-"
        print(f"{step:5d} {100 * float(r['eval_success_rate']):4.0f}% {f('alpha', 4)} {f('entropy', 2):>8} {f('critic_loss', 3):>6} "
              f"{f('mean_q'):>7} {f('td_target'):>7} {f('eval_q'):>7} {f('eval_mc_return'):>8} {f('success_q'):>7} "
              f"{f('success_mc_return'):>8} {r.get('replay_size', ''):>7} {r.get('replay_terminals', ''):>10} {100 * train:9.0f}%")

if __name__ == "__main__":
    main(sys.argv[1])
