"""genrelab.invert: shapes, the NNLS step against scipy, round-trip quality against librosa, errors."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import scipy.optimize
import torch

from genrelab.audio import load
from genrelab.dsp import fft
from genrelab.errors import ParameterError
from genrelab.invert import griffin_lim, mel_to_audio, mel_to_magnitude, mfcc_to_audio, mfcc_to_mel, nnls
from genrelab.invert import mel as mel_module
from genrelab.invert.griffin_lim import _StftPair
from genrelab.threads import one_torch_thread

SR, N_FFT, HOP, N_MELS, N_ITER = 22050, 2048, 512, 128, 32


def _mfcc(y: np.ndarray, n_mfcc: int = 20) -> np.ndarray:
    return librosa.feature.mfcc(y=y, sr=SR, n_mfcc=n_mfcc, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS)


def _round_trip(y: np.ndarray, m: np.ndarray) -> float:
    """||mfcc(y) - m|| / ||m||, the MFCC round-trip error."""
    return float(np.linalg.norm(_mfcc(y, m.shape[0]) - m) / np.linalg.norm(m))


def _librosa_inverse(m: np.ndarray, seed: int) -> np.ndarray:
    """librosa.feature.inverse.mfcc_to_audio step by step, with its Griffin-Lim seeded."""
    mel = librosa.feature.inverse.mfcc_to_mel(m, n_mels=N_MELS)
    S = librosa.feature.inverse.mel_to_stft(mel, sr=SR, n_fft=N_FFT)
    return librosa.griffinlim(S, n_iter=N_ITER, hop_length=HOP, n_fft=N_FFT, random_state=seed)


def _chord(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    y = sum(np.sin(2 * np.pi * f * t) / (i + 1) for i, f in enumerate((220.0, 277.2, 329.6, 440.0, 659.3)))
    return (0.5 * y / np.max(np.abs(y))).astype(np.float32)


def _noise(seconds: float) -> np.ndarray:
    y = np.random.default_rng(3).standard_normal(int(seconds * SR))
    return (0.3 * y / np.max(np.abs(y))).astype(np.float32)


@pytest.fixture(scope="module")
def short_mfcc() -> np.ndarray:
    return _mfcc(_chord(1.0) + _noise(1.0))  # (20, 44)


def test_shapes_and_batch_equals_single(short_mfcc: np.ndarray) -> None:
    other = _mfcc(_noise(1.0))
    y = mfcc_to_audio(short_mfcc)
    assert y.shape == ((short_mfcc.shape[1] - 1) * HOP,) and y.dtype == np.float32
    batch = mfcc_to_audio(np.stack([short_mfcc, other]))
    assert batch.shape == (2, y.size) and batch.dtype == np.float32
    for item, m in zip(batch, (short_mfcc, other)):
        alone = mfcc_to_audio(m)
        np.testing.assert_allclose(item, alone, atol=1e-4 * np.abs(alone).max(), rtol=0)


def test_mfcc_to_mel_matches_librosa(short_mfcc: np.ndarray) -> None:
    ours = mfcc_to_mel(torch.from_numpy(short_mfcc), n_mels=N_MELS).numpy()
    ref = librosa.feature.inverse.mfcc_to_mel(short_mfcc.astype(np.float64), n_mels=N_MELS)
    np.testing.assert_allclose(ours, ref, rtol=1e-9)


def test_stft_pair_matches_torch() -> None:
    frames, n_fft, hop = 20, 1024, 256
    pair = _StftPair(
        n_fft=n_fft,
        hop_length=hop,
        frames=frames,
        length=(frames - 1) * hop,
        dtype=torch.float64,
        device=torch.device("cpu"),
    )
    y = torch.from_numpy(np.random.default_rng(0).standard_normal((2, (frames - 1) * hop)))
    window = torch.hann_window(n_fft, dtype=torch.float64)
    ref = torch.stft(y, n_fft, hop, window=window, center=True, pad_mode="constant", return_complex=True)
    spec = pair.stft(y)
    torch.testing.assert_close(spec, ref.transpose(1, 2), rtol=0, atol=1e-9)
    back = torch.istft(ref, n_fft, hop, window=window, center=True, length=y.shape[-1])
    torch.testing.assert_close(pair.istft(spec), back, rtol=0, atol=1e-9)
    torch.testing.assert_close(back, y, rtol=0, atol=1e-9)


def test_nnls_matches_scipy_on_small_problems() -> None:
    rng = np.random.default_rng(0)
    # overdetermined, full column rank: the solution is unique, so compare it directly
    A = rng.standard_normal((12, 6))
    B = rng.standard_normal((12, 5))
    X = nnls(torch.from_numpy(A), torch.from_numpy(B), tol=1e-12, max_iter=20000).numpy()
    assert (X >= 0).all()
    for j in range(B.shape[1]):
        ref, _ = scipy.optimize.nnls(A, B[:, j])
        np.testing.assert_allclose(X[:, j], ref, atol=1e-6)
    # underdetermined non-negative basis (like a mel basis) with targets partly outside its
    # cone: solutions differ, the least-squares objective must not
    A = np.abs(rng.standard_normal((6, 15))) * (rng.random((6, 15)) < 0.4)
    B = rng.standard_normal((6, 4)) + 0.5
    X = nnls(torch.from_numpy(A), torch.from_numpy(B), tol=1e-12, max_iter=20000).numpy()
    assert (X >= 0).all()
    for j in range(B.shape[1]):
        _, res = scipy.optimize.nnls(A, B[:, j])
        assert np.linalg.norm(A @ X[:, j] - B[:, j]) == pytest.approx(res, abs=1e-6)


def _spiky_mfcc() -> np.ndarray:
    """128 random coefficients: a jagged mel spectrum, partly outside the mel basis's cone."""
    m = np.random.default_rng(1).normal(0.0, 60.0, (N_MELS, 6))
    m[0] -= 300.0
    return m


@pytest.mark.parametrize("kind", ["clip", "spiky"])
def test_mel_inversion_is_nonnegative_and_least_squares(short_mfcc: np.ndarray, kind: str) -> None:
    m = short_mfcc[:, :6] if kind == "clip" else _spiky_mfcc()
    mel = mfcc_to_mel(torch.from_numpy(m), n_mels=N_MELS)  # (128, 6) float64
    mag = mel_to_magnitude(mel, sr=SR, n_fft=N_FFT).numpy()  # (1025, 6)
    assert mag.shape == (1 + N_FFT // 2, 6) and (mag >= 0).all()
    basis = librosa.filters.mel(sr=SR, n_fft=N_FFT, n_mels=N_MELS, dtype=np.float64)
    lib = librosa.util.nnls(basis.astype(np.float32), mel.numpy().astype(np.float32)).astype(np.float64)
    for j in range(mel.shape[1]):
        target = mel[:, j].numpy()
        _, best = scipy.optimize.nnls(basis, target)
        ours = np.linalg.norm(basis @ mag[:, j] ** 2 - target)
        # near the least-squares optimum (exact for a clip's MFCCs, within 5 % where no exact
        # non-negative solution exists), and no worse than librosa's solve
        assert ours <= 1.05 * best + 1e-5 * np.linalg.norm(target)
        assert ours <= np.linalg.norm(basis @ lib[:, j] - target) * 1.01 + 1e-7 * np.linalg.norm(target)


def _assert_no_worse_than_librosa(y: np.ndarray) -> None:
    m = _mfcc(y)
    ours = _round_trip(mfcc_to_audio(m, n_iter=N_ITER), m)
    ref = _round_trip(_librosa_inverse(m, seed=0), m)
    assert ours <= ref, f"round-trip error {ours:.4f} > librosa's {ref:.4f}"


def test_round_trip_real_clip(gtzan_dir) -> None:
    _assert_no_worse_than_librosa(load(gtzan_dir / "genres" / "blues" / "blues.00000.au", duration=10.0))


@pytest.mark.parametrize("make", [_chord, _noise], ids=["chord", "noise"])
def test_round_trip_synthetic(make) -> None:
    _assert_no_worse_than_librosa(make(2.0))


def test_deterministic_for_a_seed(short_mfcc: np.ndarray) -> None:
    a = mfcc_to_audio(short_mfcc, seed=5)
    np.testing.assert_array_equal(a, mfcc_to_audio(short_mfcc, seed=5))
    assert not np.allclose(a, mfcc_to_audio(short_mfcc, seed=6))


@pytest.mark.parametrize(
    "bad, kwargs",
    [
        (np.zeros(10), {}),
        (np.zeros((1, 2, 20, 10)), {}),
        (np.zeros((20, 1)), {}),
        (np.full((20, 10), np.nan), {}),
        (np.zeros((20, 10)), {"n_iter": -1}),
        (np.zeros((20, 10)), {"hop_length": 0}),
        (np.zeros((20, 10)), {"sr": -22050}),
        (np.zeros((20, 10)), {"n_fft": 1.5}),
        (np.zeros((20, 10)), {"n_mels": 16}),
        (np.zeros((20, 10)), {"hop_length": 4096}),
        (np.zeros((20, 10)), {"momentum": 2.0}),
        (np.zeros((20, 10)), {"refine": -1}),
        (np.zeros((20, 10)), {"device": "no-such-device"}),
        (np.full((20, 10), 1e5), {}),
    ],
)
def test_bad_input_raises(bad: np.ndarray, kwargs: dict) -> None:
    with pytest.raises(ParameterError):
        mfcc_to_audio(bad, **kwargs)


@pytest.mark.parametrize("n_fft, hop, refine", [(2048, 512, 8), (1024, 300, 3), (512, 256, 0)])
def test_cpu_loop_matches_torch_loop(monkeypatch, n_fft: int, hop: int, refine: int) -> None:
    """The numpy/numba CPU Griffin-Lim equals the torch loop (kept for other devices) to float32 rounding."""
    m = _mfcc(_chord(1.0) + _noise(1.0))
    kwargs = dict(n_fft=n_fft, hop_length=hop, refine=refine, n_iter=6)
    fast = mfcc_to_audio(m, **kwargs)
    monkeypatch.setattr(griffin_lim, "_NUMBA_ON_CPU", False)
    ref = mfcc_to_audio(m, **kwargs)
    assert fast.shape == ref.shape and fast.dtype == ref.dtype
    np.testing.assert_allclose(fast, ref, atol=2e-5 * np.abs(ref).max(), rtol=0)


@pytest.mark.parametrize("n_fft, hop, frames", [(1024, 256, 60), (1024, 300, 45), (256, 128, 70), (512, 64, 90)])
@pytest.mark.parametrize("threads, batch", [(1, 2), (2, 2), (2, 1), (3, 1)])
def test_block_loop_matches_torch_loop(
    monkeypatch, n_fft: int, hop: int, frames: int, threads: int, batch: int
) -> None:
    """The blocked FFTW loop equals the torch loop for whole clips per thread and for a clip cut into
    runs of frames (threads > batch), including hops that do not divide n_fft and runs near the
    block size, and the final iSTFT alone (n_iter 0) reconstructs a consistent spectrogram's signal."""
    from genrelab.invert import blocks

    monkeypatch.setattr(blocks, "_MIN_RUN", 8)
    monkeypatch.setattr(blocks, "_ROWS", 8)
    rng = np.random.default_rng(frames)
    S = torch.from_numpy(rng.random((batch, n_fft // 2 + 1, frames)).astype(np.float32))
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for n_iter in (0, 3):
            fast = griffin_lim.griffinlim(S, n_iter=n_iter, n_fft=n_fft, hop_length=hop, seed=3)
            monkeypatch.setattr(griffin_lim, "_NUMBA_ON_CPU", False)
            ref = griffin_lim.griffinlim(S, n_iter=n_iter, n_fft=n_fft, hop_length=hop, seed=3)
            monkeypatch.setattr(griffin_lim, "_NUMBA_ON_CPU", True)
            assert fast.shape == ref.shape == (batch, (frames - 1) * hop)
            np.testing.assert_allclose(fast.numpy(), ref.numpy(), rtol=0, atol=2e-5 * float(ref.abs().max()))
    finally:
        torch.set_num_threads(old)
    y = rng.standard_normal((frames - 1) * hop).astype(np.float32)
    pair = _StftPair(
        n_fft=n_fft, hop_length=hop, frames=frames, length=y.size, dtype=torch.float32, device=torch.device("cpu")
    )
    spec = pair.stft(torch.from_numpy(y)[None])  # (1, T, F) consistent
    target = spec.abs().contiguous()
    out = griffin_lim._griffinlim_cpu(
        target, spec.clone(), n_iter=0, hop_length=hop, n_fft=n_fft, c=0.0, length=y.size, refine=0, refine_args=None
    )
    np.testing.assert_allclose(out.numpy()[0], y, rtol=0, atol=1e-4)


def test_gaps_between_frames_raise_on_both_loops(monkeypatch) -> None:
    m = _mfcc(_noise(0.5))
    for numba_loop in (True, False):
        monkeypatch.setattr(griffin_lim, "_NUMBA_ON_CPU", numba_loop)
        with pytest.raises(ParameterError, match="gaps"):
            mfcc_to_audio(m, n_fft=512, hop_length=512, n_iter=2)


def test_torch_thread_count_is_left_as_set(short_mfcc: np.ndarray) -> None:
    before = torch.get_num_threads()
    mfcc_to_audio(short_mfcc, n_iter=2)
    assert torch.get_num_threads() == before


def test_set_up_runs_on_one_thread_and_restores_the_count(monkeypatch, short_mfcc: np.ndarray) -> None:
    """The NNLS runs on one torch thread (the busy-machine fix) and Griffin-Lim on the caller's count;
    the count comes back after an error too."""
    seen: dict[str, int] = {}
    real_nnls, real_blocks = mel_module.nnls, griffin_lim.griffinlim_blocks

    def nnls_spy(*a, **k):
        seen["nnls"] = torch.get_num_threads()
        return real_nnls(*a, **k)

    def blocks_spy(*a, **k):
        seen["loop"] = k["threads"]
        return real_blocks(*a, **k)

    monkeypatch.setattr(mel_module, "nnls", nnls_spy)
    monkeypatch.setattr(griffin_lim, "griffinlim_blocks", blocks_spy)
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        mfcc_to_audio(short_mfcc, n_iter=2)
        assert seen == {"nnls": 1, "loop": 2} and torch.get_num_threads() == 2
        with pytest.raises(ParameterError), one_torch_thread():
            assert torch.get_num_threads() == 1
            raise ParameterError("inside")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(old)


def test_block_loop_error_in_one_run_reaches_the_caller(monkeypatch) -> None:
    """A failure in one run of a clip cut across threads surfaces as itself (not as the other runs'
    broken barrier) and nothing hangs."""
    from genrelab.invert import blocks, fused

    monkeypatch.setattr(blocks, "_MIN_RUN", 8)
    real_cut = fused.cut

    def failing_cut(acc, s0, inv_env, g0, *args):
        if g0 > 0:  # only runs after the first cut reach here
            raise ValueError("boom")
        return real_cut(acc, s0, inv_env, g0, *args)

    monkeypatch.setattr(fused, "cut", failing_cut)
    S = torch.rand(1, 257, 80)
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with pytest.raises(ValueError, match="boom"):
            griffin_lim.griffinlim(S, n_iter=2, n_fft=512, hop_length=128)
    finally:
        torch.set_num_threads(old)


@pytest.mark.parametrize("n_fft, hop, frames", [(1024, 256, 60), (1024, 300, 45), (512, 64, 90)])
def test_block_loop_is_bit_identical_for_any_threads_and_runs(monkeypatch, n_fft: int, hop: int, frames: int) -> None:
    """Each run's overlap-add buffer starts from the partial sums of the run before, so every sample
    is summed in one order and the audio is the same bits whatever the threads and the cut points,
    for a batch and with the mel refinement."""
    from genrelab.invert import blocks

    monkeypatch.setattr(blocks, "_MIN_RUN", 8)
    monkeypatch.setattr(blocks, "_ROWS", 8)
    S = torch.from_numpy(np.random.default_rng(frames).random((2, n_fft // 2 + 1, frames)).astype(np.float32))
    m = _mfcc(_chord(1.0) + _noise(1.0))  # (20, 44)
    plain_griffinlim = blocks.griffinlim_blocks
    outs = {}
    old = torch.get_num_threads()
    try:
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            for runs in (None, 1, 2, 5):
                monkeypatch.setattr(
                    griffin_lim, "griffinlim_blocks", lambda *a, runs=runs, **k: plain_griffinlim(*a, runs=runs, **k)
                )
                outs[threads, runs] = (
                    griffin_lim.griffinlim(S, n_iter=4, n_fft=n_fft, hop_length=hop, seed=3).numpy(),
                    mfcc_to_audio(m, n_iter=6, refine=2, n_fft=n_fft, hop_length=hop),
                )
    finally:
        torch.set_num_threads(old)
    ref = outs[1, 1]
    for key, (y, y_refined) in outs.items():
        np.testing.assert_array_equal(y.view(np.uint32), ref[0].view(np.uint32), err_msg=str(key))
        np.testing.assert_array_equal(y_refined.view(np.uint32), ref[1].view(np.uint32), err_msg=str(key))


@pytest.mark.skipif(not fft.HAVE_FFTW, reason="pyfftw is not installed")
@pytest.mark.parametrize("n_fft, hop", [(2048, 512), (1024, 256), (4096, 1024), (2048, 128)])
def test_compiled_passes_give_the_bits_of_the_python_loop(monkeypatch, n_fft: int, hop: int) -> None:
    """At the shipped FFTW sizes the runs' passes are one compiled call each (FFTW called from numba);
    the audio is the same bits as the Python loop of the same steps, for 1-3 threads and any cuts
    (hop 128: the frames around a cut, 2m = 30, go through the 64-row plan, the passes the 16-row one)."""
    from genrelab.invert import blocks, fused

    frames = 300
    mel = np.random.default_rng(9).random((128, frames)) + 0.1
    calls = {"n": 0}
    real_pass = fused.run_pass

    def counting_pass(*args) -> None:
        calls["n"] += 1
        real_pass(*args)

    monkeypatch.setattr(fused, "run_pass", counting_pass)
    plain = blocks.griffinlim_blocks
    outs = {}
    old = torch.get_num_threads()
    try:
        for compiled in (True, False):
            if not compiled:
                monkeypatch.setattr(blocks, "raw_plans", lambda plan: None)
            for threads, runs in ((1, None), (2, None), (3, None), (2, 3), (1, 4)):
                torch.set_num_threads(threads)
                monkeypatch.setattr(
                    griffin_lim, "griffinlim_blocks", lambda *a, runs=runs, **k: plain(*a, runs=runs, **k)
                )
                before = calls["n"]
                outs[compiled, threads, runs] = mel_to_audio(mel, n_iter=5, refine=2, n_fft=n_fft, hop_length=hop)
                assert (calls["n"] > before) == compiled
    finally:
        torch.set_num_threads(old)
    ref = outs[False, 1, None]
    for key, y in outs.items():
        np.testing.assert_array_equal(y.view(np.uint32), ref.view(np.uint32), err_msg=str(key))


def test_griffinlim_refuses_a_spectrogram_of_another_size() -> None:
    """A magnitude whose bins do not match n_fft is one plain error (the compiled pass would overrun it)."""
    S = torch.rand(1, 513, 40)
    with pytest.raises(ParameterError, match="n_fft=2048 needs"):
        griffin_lim.griffinlim(S, n_fft=2048, hop_length=512, n_iter=2)
    with pytest.raises(ParameterError, match="needs"):
        griffin_lim.griffinlim(torch.rand(513, 40), n_fft=1024, hop_length=256, n_iter=2)


def test_a_slowed_thread_hands_its_share_to_the_others(monkeypatch) -> None:
    """One of two threads made slow (as if another process took its core): the other takes most of
    the tasks, and the result keeps the bits of one thread."""
    import threading
    import time

    from genrelab.invert import blocks

    S = torch.from_numpy(np.random.default_rng(4).random((1, 513, 600)).astype(np.float32))
    old = torch.get_num_threads()
    done: dict[str, int] = {}
    real_step = blocks._Steps.__call__
    slow: list[str] = []

    def step(self, *args) -> None:
        name = threading.current_thread().name
        with lock:
            if not slow:
                slow.append(name)
            done[name] = done.get(name, 0) + 1
        if name == slow[0]:
            time.sleep(0.005)
        real_step(self, *args)

    lock = threading.Lock()
    try:
        torch.set_num_threads(1)
        ref = griffin_lim.griffinlim(S, n_iter=4, n_fft=1024, hop_length=256, seed=2).numpy()
        monkeypatch.setattr(blocks._Steps, "__call__", step)
        torch.set_num_threads(2)
        y = griffin_lim.griffinlim(S, n_iter=4, n_fft=1024, hop_length=256, seed=2).numpy()
    finally:
        torch.set_num_threads(old)
    np.testing.assert_array_equal(y.view(np.uint32), ref.view(np.uint32))
    assert len(done) == 2, done
    fast = max(done, key=done.get)
    assert fast != slow[0] and done[fast] > done[slow[0]], done


def test_unit_peak_target_has_the_bits_of_the_torch_steps() -> None:
    """The compiled unit-peak target (frames first) equals ``(mel_to_magnitude / peak).to(float32)``
    bit for bit, clip by clip of a batch, and a non-finite magnitude gives an infinite peak."""
    mel = torch.from_numpy(np.random.default_rng(5).random((3, 128, 70)) * np.array([1.0, 1e-6, 1e4])[:, None, None])
    S, peak = mel_module._unit_peak_magnitude(mel, sr=SR, n_fft=N_FFT, max_iter=2000)
    mag = mel_to_magnitude(mel, sr=SR, n_fft=N_FFT)
    want_peak = mag.amax(dim=(-2, -1), keepdim=True).clamp_min(torch.finfo(torch.float32).tiny)
    np.testing.assert_array_equal(peak.numpy(), want_peak.numpy())
    want = (mag / want_peak).to(torch.float32)
    assert S.shape == want.shape == (3, N_FFT // 2 + 1, 70) and S.transpose(-1, -2).is_contiguous()
    np.testing.assert_array_equal(S.numpy().view(np.uint32), want.numpy().view(np.uint32))
    power = mel.clone()
    power[1, :, 3] = np.inf  # a frame whose magnitude is not finite
    _, peak = mel_module._unit_peak_magnitude(power, sr=SR, n_fft=N_FFT, max_iter=50)
    assert torch.isinf(peak[1]).all() and torch.isfinite(peak[[0, 2]]).all()
    with pytest.raises(ParameterError, match="beyond float32 range"):
        mel_to_audio(mel.numpy()[2] * 1e300, n_iter=1)
