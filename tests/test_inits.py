"""Initializations: exact Gram sampling in distribution, and the .npz reader's errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from featmech.errors import InputError
from featmech.theory.config import Gram, Init
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


def test_npz_reader_refuses_a_single_npy_array_and_a_directory(tmp_path):
    npy = tmp_path / "x.npy"
    np.save(npy, np.arange(3.0))  # np.load gives an array, not an archive: refused at the source
    with pytest.raises(InputError, match=r"is a single \.npy array, expected an \.npz with u0 and w0"):
        load_npz(npy)
    with pytest.raises(InputError, match="is a directory"):
        load_npz(tmp_path)


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


# ------------------------------------------------------------------ domain objects and type slips


def test_inits_return_domain_objects():
    init = iid_gaussian(6, 0.5, 0.7, rho=0.3, seed=2)
    assert isinstance(init, Init) and init.width == 6
    u, w = init
    assert u is init.u0 and w is init.w0
    with pytest.raises(ValueError):
        u[0] = 1.0  # read-only: an Init cannot change under a computation built from it
    assert np.array_equal(init.u0, iid_gaussian(6, 0.5, 0.7, rho=0.3, seed=2).u0)  # deterministic in the seed
    assert isinstance(aligned(4, 0.1), Init)
    g = sample_gram([3, 30], [0.5, 1.0], 1.0, seed=1, size=2)
    assert isinstance(g, Gram) and g.shape == (2, 2) and not g.uu.flags.writeable


def test_npz_roundtrip_with_an_init(tmp_path):
    init = iid_gaussian(7, seed=3)
    save_npz(tmp_path / "a.npz", init)
    back = load_npz(tmp_path / "a.npz")
    assert isinstance(back, Init)
    assert np.array_equal(back.u0, init.u0) and np.array_equal(back.w0, init.w0)
    with pytest.raises(InputError, match="not both"):
        save_npz(tmp_path / "b.npz", init, init.w0)
    with pytest.raises(InputError, match="w0 is missing"):
        save_npz(tmp_path / "b.npz", init.u0)
    with pytest.raises(InputError, match="Gram"):
        save_npz(tmp_path / "b.npz", init.gram)
    with pytest.raises(InputError, match="same length"):
        save_npz(tmp_path / "b.npz", np.ones(3), np.ones(4))
    assert not (tmp_path / "b.npz").exists()
    with pytest.raises(InputError, match="path"):
        load_npz(None)  # type: ignore[arg-type]


TYPE_SLIPS = [
    (dict(width=True), "width"), (dict(width="4"), "width"), (dict(width=4.0 + 0j), "width"),
    (dict(sigma_u=1j), "sigma_u"), (dict(sigma_u=True), "sigma_u"), (dict(sigma_w="1"), "sigma_w"),
    (dict(rho=False), "rho"), (dict(rho=np.nan), "rho"), (dict(seed=-1), "seed"), (dict(seed=True), "seed"),
    (dict(seed=1.5), "seed"), (dict(width=0), "width"), (dict(sigma_u=-0.1), "sigma_u"), (dict(rho=-1.01), "rho"),
]


@pytest.mark.parametrize("kwargs, match", TYPE_SLIPS)
def test_type_slips_are_input_errors(kwargs, match):
    base = dict(width=4, sigma_u=1.0, sigma_w=1.0, rho=0.0, seed=0)
    base.update(kwargs)
    with pytest.raises(InputError, match=match):
        iid_gaussian(base["width"], base["sigma_u"], base["sigma_w"], rho=base["rho"], seed=base["seed"])
    with pytest.raises(InputError, match=match):
        sample_gram(base["width"], base["sigma_u"], base["sigma_w"], rho=base["rho"], seed=base["seed"])


@pytest.mark.parametrize("kwargs, match", [
    (dict(width=np.array([True, False])), "width"), (dict(sigma_u=np.array([1.0, 2.0]) * 1j), "sigma_u"),
    (dict(width=[2, True]), "width"), (dict(rho=[0.1, "a"]), "rho"), (dict(width=[2, 3], rho=[0.1, 0.2, 0.3]),
                                                                       "broadcast"),
    (dict(size=-1), "size"), (dict(size=(2, True)), "size"), (dict(orthogonal="yes"), "orthogonal"),
    (dict(width=1e16), "width"),
])
def test_sample_gram_array_slips(kwargs, match):
    base = dict(width=4)
    base.update(kwargs)
    with pytest.raises(InputError, match=match):
        sample_gram(**base)


def test_aligned_validation():
    for kwargs, match in ((dict(width=True), "width"), (dict(scale=-1.0), "scale"), (dict(scale=1j), "scale"),
                          (dict(eta_u=0.0), "eta_u"), (dict(eta_w=True), "eta_w"), (dict(seed=-2), "seed"),
                          (dict(width=10**9), "width")):
        base = dict(width=3)
        base.update(kwargs)
        with pytest.raises(InputError, match=match):
            aligned(**base)
    with pytest.raises(InputError, match="width"):
        iid_gaussian(10**9)


# ------------------------------------------------------------------ type slips, by class (issue 9)
from decimal import Decimal  # noqa: E402

#: values that are not real numbers, by class: each refused, naming the parameter (never coerced)
SLIP_CLASSES = {
    "complex": [1 + 0j, np.complex128(3.0), np.array([2 + 0j])],
    "bool": [True, np.bool_(False), np.array([True])],
    "string": ["3", b"3", np.array(["3"])],
    "object array": [np.array([3.0], dtype=object), np.array(3.0, dtype=object)],
    "other object": [Decimal("3"), {"width": 3}, None],
}
INIT_ENTRIES = {
    **{f"iid_gaussian {n}": ((lambda n: lambda v: iid_gaussian(**{**dict(width=3), n: v}))(n), n)
       for n in ("width", "sigma_u", "sigma_w", "rho", "seed")},
    **{f"aligned {n}": ((lambda n: lambda v: aligned(**{**dict(width=3), n: v}))(n), n)
       for n in ("width", "scale", "eta_u", "eta_w", "seed")},
    **{f"sample_gram {n}": ((lambda n: lambda v: sample_gram(**{**dict(width=3), n: v}))(n), n)
       for n in ("width", "sigma_u", "sigma_w", "rho", "seed", "size")},
}


@pytest.mark.parametrize("entry", list(INIT_ENTRIES))
@pytest.mark.parametrize("kind", list(SLIP_CLASSES))
def test_init_type_slips_by_class(kind, entry):
    call, name = INIT_ENTRIES[entry]
    for value in SLIP_CLASSES[kind]:
        if value is None and name == "size":  # size=None: no extra batch dimensions (the default)
            continue
        with pytest.raises(InputError, match=name):
            call(value)


def test_gram_statistics_beyond_float64_are_refused_not_rounded():
    """σ = 1e-200: |u0|² ≈ 1e-400 would round to 0 (an init that never moves): refused, with the way out."""
    with pytest.raises(InputError, match="float64 range.*iid_gaussian"):
        sample_gram(4, 1e-200, 1e-200)
    with pytest.raises(InputError, match="float64 range"):
        sample_gram(4, 1e200, 1.0)
    g = sample_gram(4, 1e-140, 1e-140, seed=1)  # |u0|² ≈ 1e-280: held exactly
    assert g.uu > 1e-290 and np.isfinite(g.ww)
