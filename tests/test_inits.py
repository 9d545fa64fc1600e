"""Initializations: exact Gram sampling in distribution, and the .npz reader's errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from featmech.theory.inits import aligned, iid_gaussian, load_npz, sample_gram, save_npz


@pytest.mark.parametrize("width, rho", [(1, 0.0), (3, 0.5), (40, -0.8), (40, 1.0)])
def test_gram_sampler_matches_materialized_vectors_in_distribution(width, rho):
    n = 3000
    su, sw = 0.7, 1.3
    g = sample_gram(width, su, sw, rho=rho, seed=1, size=n)
    vec = np.array([[u @ u, w @ w, u @ w] for u, w in
                    (iid_gaussian(width, su, sw, rho=rho, seed=1000 + i) for i in range(n))])
    for j, stat in enumerate((g.uu, g.ww, g.uw)):
        res = stats.ks_2samp(stat, vec[:, j])
        assert res.pvalue > 1e-3, (j, res)
    # |u|²/σ_u² is exactly χ²_d
    assert stats.kstest(g.uu / su**2, stats.chi2(width).cdf).pvalue > 1e-3
    # the area is the one of the sampled Gram matrix
    assert np.allclose(g.area**2, g.uu * g.ww - g.uw**2, rtol=1e-8, atol=1e-10 * np.max(g.uu * g.ww))


def test_gram_sampler_moments_at_huge_width():
    d = 10**12
    g = sample_gram(d, 2.0, 0.5, rho=0.3, seed=0, size=2000)
    assert np.mean(g.uu) / (d * 4.0) == pytest.approx(1.0, abs=1e-5)
    assert np.mean(g.uw) / (d * 0.3) == pytest.approx(1.0, abs=1e-5)
    assert np.std(g.uu) / (np.sqrt(2 * d) * 4.0) == pytest.approx(1.0, rel=0.1)


def test_iid_gaussian_correlation_and_aligned_init():
    u, w = iid_gaussian(200000, 1.0, 2.0, rho=0.6, seed=3)
    assert np.corrcoef(u, w)[0, 1] == pytest.approx(0.6, abs=0.01)
    assert np.std(w) == pytest.approx(2.0, rel=0.01)
    u, w = aligned(10, 0.3, eta_u=4.0, eta_w=1.0, seed=0)
    assert np.allclose(u / 2.0, w) and np.linalg.norm(w) == pytest.approx(0.3)


def test_npz_roundtrip_and_errors(tmp_path):
    u, w = iid_gaussian(5, seed=0)
    p = tmp_path / "init.npz"
    save_npz(p, u, w)
    u2, w2 = load_npz(p)
    assert np.array_equal(u, u2) and np.array_equal(w, w2)
    with pytest.raises(ValueError, match="does not exist"):
        load_npz(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"this is not a zip file")
    with pytest.raises(ValueError, match="not a valid .npz"):
        load_npz(bad)
    nokey = tmp_path / "nokey.npz"
    np.savez(nokey, u0=u)
    with pytest.raises(ValueError, match="lacks array"):
        load_npz(nokey)
    obj = tmp_path / "obj.npz"
    np.savez(obj, u0=np.array([{"a": 1}], dtype=object), w0=w)
    with pytest.raises(ValueError, match="not a valid .npz|real numeric"):
        load_npz(obj)  # object arrays would need unpickling: refused
    shape = tmp_path / "shape.npz"
    np.savez(shape, u0=np.ones((2, 2)), w0=np.ones(4))
    with pytest.raises(ValueError, match="1-D"):
        load_npz(shape)
    mism = tmp_path / "mism.npz"
    np.savez(mism, u0=np.ones(3), w0=np.ones(4))
    with pytest.raises(ValueError, match="same length"):
        load_npz(mism)


@pytest.mark.parametrize("kwargs, match", [(dict(width=0), "width"), (dict(sigma_u=-1.0), "sigma_u"),
                                           (dict(rho=1.5), "rho"), (dict(sigma_w=np.inf), "sigma_w"),
                                           (dict(width=2.5), "width")])
def test_bad_init_parameters(kwargs, match):
    base = dict(width=4, sigma_u=1.0, sigma_w=1.0, rho=0.0)
    base.update(kwargs)
    width = base.pop("width")
    with pytest.raises(ValueError, match=match):
        sample_gram(width, base["sigma_u"], base["sigma_w"], rho=base["rho"])
    with pytest.raises(ValueError, match=match):
        iid_gaussian(width, base["sigma_u"], base["sigma_w"], rho=base["rho"])
