"""LeRobot 0.4's own async-inference policy server (`lerobot.async_inference.policy_server`, gRPC), started as
`python -m lerobot.async_inference.policy_server` starts it, with two changes, both stated wherever its figures are:

- torch runs on --threads intra-op threads (1 by default: the same as `reflex serve`'s one kernel thread);
- one fix: lerobot 0.4.4's server calls `DiffusionPolicy.predict_action_chunk` directly, whose observation queues
  only `select_action` fills, so a diffusion policy fails on its first observation ("stack expects a non-empty
  TensorList", huggingface/lerobot issues #3445 and #3861). Before each chunk this does what `select_action` does
  first (drops the `action` key the preprocessor leaves in the batch, stacks the camera keys into
  `observation.images`, `populate_queues`), which is the fix of the
  upstream pull requests #3449 / #3886; the rest of the server (gRPC, pickles, its observation queue, the
  pre/post-processors, logging) runs unchanged.

  $(Benchmarks/peers/setup.sh) Benchmarks/peers/lerobot_policy_server.py [--threads 1] --host=127.0.0.1 --port=8080 \
      --fps=30 --inference_latency=0 --obs_queue_timeout=2      (the rest are the server's own draccus options)
"""
import sys

import torch

from lerobot.async_inference import policy_server
from lerobot.policies.utils import populate_queues
from lerobot.utils.constants import ACTION, OBS_IMAGES


class PolicyServer(policy_server.PolicyServer):
    def _get_action_chunk(self, observation):
        batch = dict(observation)
        if self.policy.config.type == "diffusion":
            batch.pop(ACTION, None)
            if self.policy.config.image_features:
                batch[OBS_IMAGES] = torch.stack([batch[k] for k in self.policy.config.image_features], dim=-4)
            self.policy._queues = populate_queues(self.policy._queues, batch)
        return super()._get_action_chunk(batch)


def main():
    threads = 1
    if "--threads" in sys.argv:
        i = sys.argv.index("--threads")
        threads = int(sys.argv[i + 1])
        del sys.argv[i:i + 2]
    torch.set_num_threads(threads)
    policy_server.PolicyServer = PolicyServer
    policy_server.serve()


if __name__ == "__main__":
    main()
