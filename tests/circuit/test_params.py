"""The angle map: gathered selections and sparse products both equal the dense affine map."""

from __future__ import annotations

import numpy as np
import pytest

from q_store.circuit import Circuit, theta
from q_store.circuit import x as xs
from q_store.circuit.params import ParameterMap, resolve_batch

CIRCUITS = {
    # every weight and input in one angle, permuted, with coefficients and constants
    "one_to_one": Circuit(3).rx(0, xs[1]).ry(1, theta[1]).rz(2, 2 * theta[0] + 0.5)
    .rx(0, 0.3).ry(2, 3 * xs[0] - theta[2]),
    # a weight in two angles and a declared weight no gate uses: gathered, pulled back sparse
    "shared": Circuit(2, n_weights=3).rx(0, theta[0]).ry(1, theta[0]).rz(0, -theta[1]),
    # an angle of two weights: sparse both ways
    "sums": Circuit(2).rx(0, theta[0] + theta[1]).ry(1, theta[2] - 2 * xs[0]).rz(1, xs[0]),
}


@pytest.mark.parametrize("name", CIRCUITS)
@pytest.mark.parametrize("rows", [(1, 1), (4, 1), (1, 4), (4, 4)])
def test_angles_and_pullback_equal_the_dense_map(name, rows):
    c = CIRCUITS[name]
    pm = ParameterMap(c)
    rng = np.random.default_rng(len(name))
    w = rng.normal(size=(rows[0], c.n_weights))
    x = rng.normal(size=(rows[1], c.n_inputs))
    batch = resolve_batch(c, w, x)
    dense = pm.const + w @ pm.a_w.T + x @ pm.a_x.T
    angles = pm.angles(batch)  # one row when nothing the angles use varies
    np.testing.assert_allclose(np.broadcast_to(angles, dense.shape), dense, atol=1e-14, rtol=0)
    d = rng.normal(size=(batch.size, 2, pm.n_params))
    gw, gx = pm.pullback(batch, d, want_weights=True, want_inputs=True)
    np.testing.assert_allclose(gw, d @ pm.a_w, atol=1e-14, rtol=0)
    np.testing.assert_allclose(gx, d @ pm.a_x, atol=1e-14, rtol=0)
