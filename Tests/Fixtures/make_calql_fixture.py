"""Records Cal-QL's critic loss on a fixed set of Q-values, for ReflexRLTests (CalQLTests) to match.

The loss is written out here from the official code (nakamotoo/Cal-QL `JaxCQL/conservative_sac.py`, and V-GPS's
`jaxrl_m/agents/continuous/cql.py`, which is the same with `use_calql`), with PyTorch's autograd for the gradient:

    L = mean_r (Q(s_r, a_r) - y_r)^2 + alpha * mean_r [ logsumexp_j (Q~_rj - log mu_rj) - Q(s_r, a_r) ]

over 3n proposals per state (n uniform in [-1, 1]^|A| with log mu = |A| log 0.5, n from pi(.|s), n from pi(.|s')),
where Q~ = Q on the uniform block and max(Q, MC return of the data) on the two policy blocks (Cal-QL's bound).
The Q-values are given (not computed by a network): the fixture checks the loss and its gradient with respect to
every Q-value, in the row layout CalQL.update evaluates: b data rows, then the uniform, pi(.|s) and pi(.|s')
blocks, each proposal-major (row b + block*b*n + j*b + r for proposal j of state r).

State 0's return lies above all of its policy proposals' Q-values (the bound binds on all of them), state 1's below
all (it never binds), state 2's in between.

Run from the repository root: /work/venv-lerobot/bin/python Tests/Fixtures/make_calql_fixture.py
(any Python with torch).
"""
import json
import math
import pathlib

import torch

out = pathlib.Path(__file__).resolve().parent.parent / "ReflexRLTests" / "Fixtures" / "calql_loss.json"
torch.set_default_dtype(torch.float64)
g = torch.Generator().manual_seed(21)
b, n, A, alpha = 3, 2, 3, 5.0

q_data = torch.randn(b, generator=g) - 3
q_props = torch.randn(3, n, b, generator=g) - 3  # [block, j, r]
targets = torch.randn(b, generator=g) - 3
log_pi = torch.randn(2, n, b, generator=g) * 2  # log densities of the two policy blocks
uniform = torch.full((1, n, b), A * math.log(0.5))
log_mu = torch.cat([uniform, log_pi])
policy_q = q_props[1:]
references = torch.tensor([
    policy_q[:, :, 0].max().item() + 0.7,  # above every policy proposal: binds on all
    policy_q[:, :, 1].min().item() - 0.9,  # below every one: never binds
    policy_q[:, :, 2].median().item() + 1e-3,  # between: binds on some (no ties)
])

q = torch.cat([q_data, q_props.reshape(-1)]).requires_grad_(True)
qd = q[:b]
qp = q[b:].reshape(3, n, b)
bounded = torch.cat([qp[:1], torch.maximum(qp[1:], references.view(1, 1, b))])
lse = torch.logsumexp((bounded - log_mu).permute(2, 0, 1).reshape(b, 3 * n), dim=1)
td = ((qd - targets) ** 2).mean()
gap = (lse - qd).mean()
loss = td + alpha * gap
loss.backward()
binding = int((policy_q < references.view(1, 1, b)).sum())

out.write_text(json.dumps({
    "batch": b, "sampled_actions": n, "action_size": A, "alpha": alpha,
    "q": q.detach().tolist(), "targets": targets.tolist(), "references": references.tolist(),
    "log_density": log_mu.reshape(-1).tolist(),
    "td": td.item(), "gap": gap.item(), "loss": loss.item(), "bound": binding,
    "gradient": q.grad.tolist(),
}, indent=1) + "\n")
print("wrote", out, "loss", loss.item(), "bound", binding)
