"""Data for runs: the data-set registry and its file loaders, seeded stratified splits,
preprocessing fitted on the training split (PCA checked against scikit-learn), and the model a
file describes."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA

from q_store.errors import ConfigError, ConfigFileError, ValidationError
from q_store.runconfig import load_run_config
from q_store.runconfig.build import build_model, prepare_data
from q_store.runconfig.datasets import (
    _REGISTRY,
    DataArrays,
    dataset_names,
    load_dataset,
    register_dataset,
)
from q_store.runconfig.preprocess import Preprocessor, split_indices


def test_splits_are_disjoint_stratified_and_seeded():
    y = np.repeat([0, 1, 2], [50, 30, 20])
    tr, va, te = split_indices(y, (0.1, 0.3), seed=4, stratify=True)
    assert sorted(np.concatenate([tr, va, te]).tolist()) == list(range(100))
    for c, n in ((0, 50), (1, 30), (2, 20)):
        assert np.sum(y[te] == c) == round(0.3 * n)
        assert np.sum(y[va] == c) == round(0.1 * n)
    again = split_indices(y, (0.1, 0.3), seed=4, stratify=True)
    assert all(np.array_equal(a, b) for a, b in zip((tr, va, te), again, strict=True))
    other = split_indices(y, (0.1, 0.3), seed=5, stratify=True)
    assert not np.array_equal(te, other[2])
    with pytest.raises(ValidationError, match="leaves no training data"):
        split_indices(y, (0.5, 0.5), seed=0, stratify=False)


def test_pca_matches_scikit_learn_and_is_fitted_on_training_data_only():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 6)) @ rng.normal(size=(6, 6))
    pre = Preprocessor(scale="none", components=3).fit(x[:60])
    ref = PCA(n_components=3).fit(x[:60])
    ours, theirs = pre.transform(x[60:]), ref.transform(x[60:])
    signs = np.sign(np.sum(ours * theirs, axis=0))  # components are defined up to sign
    np.testing.assert_allclose(ours, theirs * signs, atol=1e-10)
    std = Preprocessor(scale="standard", components=3).fit(x[:60])
    z = std.transform(x[:60])
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(z.std(axis=0), 1, atol=1e-12)
    mm = Preprocessor(scale="minmax", minmax_range=(0.0, np.pi)).fit(x[:60])
    m = mm.transform(x[:60])
    np.testing.assert_allclose([m.min(axis=0), m.max(axis=0)],
                               [np.zeros(6), np.full(6, np.pi)], atol=1e-12)


def test_preprocessing_round_trips_through_its_file(tmp_path):
    x = np.random.default_rng(1).normal(size=(30, 5))
    pre = Preprocessor("minmax", (-1.0, 1.0), 2).fit(x)
    pre.save(tmp_path / "p.npz", {"classes": np.array([3, 7])})
    back, extra = Preprocessor.load(tmp_path / "p.npz")
    assert np.array_equal(back.transform(x), pre.transform(x))
    assert extra["classes"].tolist() == [3, 7] and back.minmax_range == (-1.0, 1.0)


def test_file_loaders_and_their_errors(tmp_path):
    x = np.arange(12.0).reshape(6, 2)
    np.savez(tmp_path / "d.npz", features=x, labels=np.arange(6) % 2)
    data = load_dataset("npz", {"path": "d.npz", "x_key": "features", "y_key": "labels"},
                        tmp_path)
    assert np.array_equal(data.x, x) and data.y.tolist() == [0, 1, 0, 1, 0, 1]
    with pytest.raises(ValidationError, match="has no array 'X'; it holds features, labels"):
        load_dataset("npz", {"path": "d.npz"}, tmp_path)
    (tmp_path / "d.csv").write_text("a,label,b\n1,0,2\n3,1,4\n5,0,6\n")
    data = load_dataset("csv", {"path": "d.csv", "label_column": "label"}, tmp_path)
    assert data.x.tolist() == [[1, 2], [3, 4], [5, 6]] and data.y.tolist() == [0, 1, 0]
    with pytest.raises(ConfigError, match="'sep' is not an option of data set 'csv'; allowed: "
                                          "path, label_column, delimiter, skip_header"):
        load_dataset("csv", {"path": "d.csv", "sep": ";"}, tmp_path)
    with pytest.raises(ConfigError, match="needs the option 'path'"):
        load_dataset("npz", {}, tmp_path)
    with pytest.raises(ConfigError, match="unknown data set 'mnist'; allowed: "):
        load_dataset("mnist", {}, tmp_path)


def test_plugins_register_loaders():
    def tiny(n: int = 4) -> DataArrays:
        return DataArrays(np.ones((n, 2)), np.zeros(n))

    register_dataset("tiny-test", tiny)
    try:
        assert "tiny-test" in dataset_names()
        assert load_dataset("tiny-test", {"n": 3}).x.shape == (3, 2)
        with pytest.raises(ConfigError, match="already registered"):
            register_dataset("tiny-test", tiny)
    finally:
        _REGISTRY.pop("tiny-test")


def _config(tmp_path, text):
    p = tmp_path / "run.toml"
    p.write_text(text)
    cfg = load_run_config(p)
    return cfg, cfg.training_config()


def test_pca_auto_fits_the_qubit_budget_and_labels_are_remapped(tmp_path):
    cfg, tc = _config(tmp_path, '[dataset]\nname = "iris"\nclasses = [1, 2]\n'
                                "[training]\nn_qubits = 2\n")
    data = prepare_data(cfg, tc)
    assert data.n_features == 2 and data.task == "classification" and data.output_dim == 2
    assert data.classes.tolist() == [1, 2] and set(data.train[1].tolist()) == {0, 1}
    assert len(data.train[0]) + len(data.test[0]) == 100 and data.validation is None
    model = build_model(cfg, tc, data)
    assert (model.n_qubits, model.input_dim, model.output_dim) == (2, 2, 2)


def test_amplitude_encoding_takes_the_qubits_the_data_need(tmp_path):
    cfg, tc = _config(tmp_path, '[dataset]\nname = "digits"\n[preprocessing]\nscale = "none"\n'
                                '[encoder]\nmethod = "amplitude"\n[[layers]]\n'
                                'type = "hardware_efficient"\ndepth = 3\n')
    data = prepare_data(cfg, tc)
    assert data.n_features == 64 and data.output_dim == 10
    model = build_model(cfg, tc, data)
    assert model.n_qubits == 6 and model.n_parameters == 3 * 6 * 2


def test_layer_stacks_and_their_errors(tmp_path):
    base = '[dataset]\nname = "moons"\n[training]\nn_qubits = 4\n'
    cfg, tc = _config(tmp_path, base + '[[layers]]\ntype = "convolution"\n[[layers]]\n'
                                       'type = "pooling"\n[[layers]]\ntype = "quantum"\n'
                                       'depth = 1\nrotations = ["RY"]\n')
    model = build_model(cfg, tc, prepare_data(cfg, tc))
    assert len(model.layers) == 3 and model.layers[2].n_qubits == 2
    cfg, tc = _config(tmp_path, base + '[[layers]]\ntype = "hardware_efficient"\n'
                                       'rotations = ["RX"]\n')
    with pytest.raises(ConfigFileError, match=r"layers\[0\]\.rotations: a hardware_efficient "
                                              "layer takes depth, entanglement"):
        build_model(cfg, tc, prepare_data(cfg, tc))


def test_regression_targets_and_a_too_large_pca(tmp_path):
    rng = np.random.default_rng(2)
    np.savez(tmp_path / "r.npz", X=rng.normal(size=(20, 3)), y=rng.normal(size=20))
    cfg, tc = _config(tmp_path, '[dataset]\nname = "npz"\npath = "r.npz"\n'
                                "[training]\nn_qubits = 3\n")
    data = prepare_data(cfg, tc)
    assert data.task == "regression" and data.output_dim == 1 and data.classes is None
    cfg, tc = _config(tmp_path, '[dataset]\nname = "npz"\npath = "r.npz"\n'
                                "[preprocessing]\npca = 5\n")
    with pytest.raises(ConfigFileError, match=r"preprocessing\.pca: 5 components from 3 features"):
        prepare_data(cfg, tc)
