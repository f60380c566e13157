"""The compiled gate math used for binding tapes equals the reference gate table."""

from __future__ import annotations

import numpy as np
import pytest

from q_store.circuit import GATES
from q_store.sim.gatemath import CODES, FIXED, gate_deriv, gate_matrix


@pytest.mark.parametrize("name", list(GATES))
def test_matrices_and_derivatives_match_reference(name):
    spec = GATES[name]
    rng = np.random.default_rng(CODES[name])
    out = np.zeros((4, 4), dtype=np.complex128)
    d = spec.dim if spec.controlled_base is None else 2
    for _ in range(5):
        p = rng.uniform(-4, 4, size=3)
        if spec.num_params == 0:
            ref = spec.controlled_base if spec.controlled_base is not None else spec.matrix()
            np.testing.assert_allclose(FIXED[CODES[name]][:d, :d], ref, atol=1e-15)
            continue
        gate_matrix(CODES[name], p, out)
        np.testing.assert_allclose(out[:d, :d], spec.matrix(p[: spec.num_params]), atol=1e-14)
        for k in range(spec.num_params):
            gate_deriv(CODES[name], k, p, out)
            np.testing.assert_allclose(out[:d, :d], spec.derivative(p[: spec.num_params], k),
                                       atol=1e-13)
