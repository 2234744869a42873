"""numba kernels of the fused extractor; frame-major arrays ``(t, n_bins)``, one pass each."""

from __future__ import annotations

import numba
import numpy as np

_FAST = {"reassoc", "nsz", "contract"}  # lets LLVM vectorise the sums; no NaN/inf assumptions


@numba.njit(cache=True, nogil=True)
def pitch_peaks(power, lo, hi, threshold, sr_over_nfft):  # pragma: no cover - compiled
    """librosa.piptrack's peaks in bins ``[lo, hi)`` of ``power [shape=(t, f)]``: (pitches, mags)."""
    t, f = power.shape
    pitches = np.empty(t * (hi - lo))
    mags = np.empty(t * (hi - lo))
    n = 0
    for i in range(t):
        row = power[i]
        ref = row[0]
        for j in range(1, f):
            if row[j] > ref:
                ref = row[j]
        ref = threshold * ref
        for j in range(lo, hi):
            x0 = row[j] if row[j] > ref else 0.0
            xm = row[j - 1] if row[j - 1] > ref else 0.0
            xp = row[j + 1] if row[j + 1] > ref else 0.0
            if not (x0 > xm and x0 >= xp):
                continue
            a = row[j + 1] + row[j - 1] - 2.0 * row[j]
            b = (row[j + 1] - row[j - 1]) / 2.0
            shift = 0.0 if abs(b) >= abs(a) else -b / a
            pitch = (j + shift) * sr_over_nfft
            if pitch > 0:
                pitches[n] = pitch
                mags[n] = row[j] + 0.5 * b * shift
                n += 1
    return pitches[:n], mags[:n]


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def scan_signal(y):  # pragma: no cover - compiled
    """``(all finite, any non-zero)`` for ``y [shape=(n,)]``: one vectorised sum of squares in
    float64 (NaN or inf if any sample is; float32 squares cannot overflow or underflow it)."""
    acc = 0.0
    for i in range(y.shape[0]):
        v = np.float64(y[i])
        acc += v * v
    finite = np.isfinite(acc)
    return finite, finite and acc > 0.0


@numba.njit(cache=True, nogil=True)
def windowed_frames(y, n_fft, hop, window, t0, t1, out):  # pragma: no cover - compiled
    """Frames ``t0 <= i < t1`` of the centred, zero-padded ``y``, times ``window``, written
    into and returned as ``out[:t1 - t0]`` (``out``: at least ``(t1 - t0, n_fft)``, the window's dtype)."""
    n = y.shape[0]
    half = n_fft // 2
    out = out[: t1 - t0]
    for i in range(t0, t1):
        s = i * hop - half
        row = out[i - t0]
        if s >= 0 and s + n_fft <= n:
            ys = y[s : s + n_fft]  # a slice: non-negative indices, so the loop vectorises
            for j in range(n_fft):
                row[j] = window[j] * ys[j]
        else:
            for j in range(n_fft):
                k = s + j
                row[j] = window[j] * y[k] if 0 <= k < n else 0.0
    return out


# Loops index with non-negative offsets only (slices, ``range(n)``): a possibly negative index
# makes numba wrap it around, and that check keeps LLVM from vectorising the loop.


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def _power_row(z, freq, mag, power):  # pragma: no cover - compiled
    """Power and magnitude of one spectrum ``z (f,)`` into float32 ``power``/``mag``;
    returns float32 ``(sum mag, sum freq * mag, sum power)``."""
    total = np.float32(0.0)
    wsum = np.float32(0.0)
    psum = np.float32(0.0)
    for j in range(z.shape[0]):
        re = z[j].real
        im = z[j].imag
        p = re * re + im * im  # in z's precision (float64 when the STFT is)
        m = np.float32(np.sqrt(p))
        p32 = np.float32(p)
        mag[j] = m
        power[j] = p32
        total += m
        wsum += freq[j] * m
        psum += p32
    return total, wsum, psum


@numba.njit(cache=True, nogil=True)
def _max_nonneg(x, cell):  # pragma: no cover - compiled
    """max of a float32 array with no negative values (nor NaN), as an integer max over the
    bit patterns, which order like the values there and vectorise where a float max does not;
    ``cell``: a scratch int32 array of one element to turn the bits back into a float."""
    bits = x.view(np.int32)
    top = np.int32(0)
    for j in range(bits.shape[0]):
        v = bits[j]
        top = v if v > top else top
    cell[0] = top
    return cell.view(np.float32)[0]


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def _any_above(x, ref):  # pragma: no cover - compiled
    """Whether any value of ``x`` exceeds ``ref`` (a vectorised count)."""
    n = np.int32(0)
    for j in range(x.shape[0]):
        n += np.int32(1) if x[j] > ref else np.int32(0)
    return n > 0


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def _spread_row(mag, freq, c, thr):  # pragma: no cover - compiled
    """``(sum mag (freq - c)^2, and over bins with mag < thr: sum (freq - c)^2, sum |freq - c|)``."""
    bw = np.float32(0.0)
    fb = np.float32(0.0)
    fc = np.float32(0.0)
    for j in range(mag.shape[0]):
        d = freq[j] - c
        d2 = d * d
        m = mag[j]
        bw += m * d2
        sel = np.float32(1.0) if m < thr else np.float32(0.0)
        fb += sel * d2
        fc += sel * abs(d)
    return bw, fb, fc


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def _rolloff_bin(mag, thresh):  # pragma: no cover - compiled
    """First bin where the running sum of ``mag`` reaches ``thresh`` (the last bin if none),
    summing blocks of 16 bins until the block that crosses it."""
    f = mag.shape[0]
    acc = 0.0
    for j0 in range(0, f, 16):
        blk = mag[j0 : min(j0 + 16, f)]
        s = np.float32(0.0)
        for j in range(blk.shape[0]):
            s += blk[j]
        if acc + s < thresh:
            acc += s
            continue
        for j in range(blk.shape[0]):
            acc += blk[j]
            if acc >= thresh:
                return j0 + j
        break
    return f - 1


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def spectral_pass(
    D,
    freq,
    roll_percent,
    tiny,
    lo,
    hi,
    sr_over_nfft,
    fft_eps,
    power,
    mag,
    centroid,
    bandwidth,
    rolloff,
    pitches,
    pmags,
    npk,
    mel_starts,
    mel_ends,
    mel_offsets,
    mel_weights,
    mel,
):  # pragma: no cover
    """One pass over the frames of a complex STFT ``D [shape=(t, f)]``.

    Fills float32 ``power`` ``(t, f)`` and ``mag`` (``(t, f)``, or one scratch row ``(1, f)``
    when the magnitudes are not kept), centroid/bandwidth/rolloff ``(t,)``, and piptrack's
    peaks in bins ``[lo, hi)`` (``pitches``/``pmags``, filled from index ``npk``), and the mel
    spectrogram ``mel (t, n_mels)`` of the power (the banded bank, as :func:`_mel_row` takes it); ``freq``
    are the bin frequencies in float32. The outputs may be row blocks of larger arrays.
    Sums run in float32 lanes (relative error ~1e-6, well inside the 1e-3 the features are
    held to); the bandwidth sums ``mag (freq - centroid)^2`` directly, without cancellation.
    Returns ``(n_peaks so far, floor_limited)``: ``floor_limited`` is True when the FFT's
    rounding floor (``fft_eps`` relative to the frame's RMS spectrum) could move a frame's
    centroid or bandwidth by more than 1e-4 relative (pure tones with a float32 FFT).
    """
    t, f = D.shape
    keep_mag = mag.shape[0] == t
    limited = False
    cell = np.zeros(1, dtype=np.int32)
    for i in range(t):
        mi = mag[i] if keep_mag else mag[0]
        pi = power[i]
        total, wsum, psum = _power_row(D[i], freq, mi, pi)
        _mel_row(pi, mel_starts, mel_ends, mel_offsets, mel_weights, mel[i])
        peak = _max_nonneg(pi, cell)
        # centroid and bandwidth (librosa normalises each frame to unit sum first)
        inv = 1.0 / (np.float64(total) if total >= tiny else 1.0)
        c = np.float64(wsum) * inv
        centroid[i] = c
        thr = 10.0 * fft_eps * np.sqrt(np.float64(psum) / (f - 1)) if fft_eps > 0.0 else -1.0
        bw, fb, fc = _spread_row(mi, freq, np.float32(c), np.float32(thr))
        b = np.float64(bw)
        bandwidth[i] = np.sqrt(b * inv)
        if thr > 0.0 and total >= tiny and not limited:
            # bins within 10x of the FFT's rounding floor carry an error of up to their size;
            # their weight in the bandwidth and centroid sums bounds the frame's error
            if thr * fb > 1e-4 * b or thr * fc > 1e-4 * total * max(c, 1.0):
                limited = True
        # rolloff: first bin whose running sum reaches roll_percent of the total
        rolloff[i] = np.float64(_rolloff_bin(mi, roll_percent * np.float64(total))) * sr_over_nfft
        # piptrack peaks (threshold 0.1 of the frame's maximum): a vectorised max over each
        # chunk of 16 bins skips the chunks with no bin above the threshold (most of them)
        ref = np.float32(0.1 * peak)
        for j0 in range(lo, hi, 16):
            j1 = min(j0 + 16, hi)
            if _any_above(pi[j0:j1], ref):
                npk = _chunk_peaks(pi, j0, j1, ref, sr_over_nfft, pitches, pmags, npk)
    return npk, limited


@numba.njit(cache=True, nogil=True)
def _chunk_peaks(pi, j0, j1, ref, sr_over_nfft, pitches, pmags, npk):  # pragma: no cover - compiled
    """librosa.piptrack's peaks among bins ``[j0, j1)`` of one power spectrum ``pi``
    (threshold ``ref``), appended to ``pitches``/``pmags`` from ``npk``; returns the new count."""
    for j in range(j0, j1):
        x0 = pi[j]
        if x0 <= ref:
            continue
        xm = pi[j - 1]
        xp = pi[j + 1]
        x0m = x0 if x0 > ref else 0.0
        xmm = xm if xm > ref else 0.0
        xpm = xp if xp > ref else 0.0
        if not (x0m > xmm and x0m >= xpm):
            continue
        a = xp + xm - 2.0 * x0
        bb = (xp - xm) / 2.0
        shift = 0.0 if abs(bb) >= abs(a) else -bb / a
        pitch = (j + shift) * sr_over_nfft
        if pitch > 0:
            pitches[npk] = pitch
            pmags[npk] = x0 + 0.5 * bb * shift
            npk += 1
    return npk


@numba.njit(cache=True, nogil=True)
def column_stats(x):  # pragma: no cover - compiled
    """Mean and variance (float64) of each column of ``x [shape=(t, k)]``: ``(k,), (k,)``."""
    t, k = x.shape
    mean = np.zeros(k)
    for i in range(t):
        for c in range(k):
            mean[c] += x[i, c]
    mean /= t
    var = np.zeros(k)
    for i in range(t):
        for c in range(k):
            d = x[i, c] - mean[c]
            var[c] += d * d
    var /= t
    return mean, var


@numba.njit(cache=True, nogil=True)
def chroma_stats(chroma, tiny):  # pragma: no cover - compiled
    """Mean and variance (float64) over all of ``chroma [shape=(t, n_chroma)]`` after dividing
    each frame by its largest class (left as is below ``tiny``), as librosa.feature.chroma_stft
    normalises; ``chroma`` is non-negative."""
    t, k = chroma.shape
    scale = np.empty(t)
    acc = 0.0
    for i in range(t):
        top = 0.0
        for c in range(k):
            top = max(top, np.float64(chroma[i, c]))
        s = 1.0 / top if top >= tiny else 1.0
        scale[i] = s
        for c in range(k):
            acc += np.float32(chroma[i, c] * s)
    mean = acc / (t * k)
    var = 0.0
    for i in range(t):
        for c in range(k):
            d = np.float32(chroma[i, c] * scale[i]) - mean
            var += d * d
    return mean, var / (t * k)


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def _block_sums(y, s, e, neg_thr):  # pragma: no cover - compiled
    """For ``y[s:e]`` (``s >= 1``): the sum of squares (float64) and the number of sign changes
    ``(y[j] < neg_thr) != (y[j-1] < neg_thr)``, ``j`` in ``[s, e)``."""
    ys = y[s - 1 : e]
    acc = 0.0
    cnt = np.int32(0)
    for j in range(ys.shape[0] - 1):
        v = np.float64(ys[j + 1])
        acc += v * v
        cnt += np.int32(ys[j + 1] < neg_thr) ^ np.int32(ys[j] < neg_thr)
    return acc, np.int64(cnt)


@numba.njit(cache=True, nogil=True)
def rms_zcr(y, n_frames, frame_length, hop, threshold):  # pragma: no cover - compiled
    """librosa.feature.rms(y) (zero padding) and zero_crossing_rate(y) (edge padding), centred.

    The padded signal is cut into blocks of ``g = gcd(hop, frame_length // 2)`` samples
    (every frame is a whole number of blocks); one vectorised pass takes each block's sum of
    squares and count of sign changes, and each frame adds up its blocks.
    """
    n = y.shape[0]
    half = frame_length // 2
    g, r = hop, half
    while r:
        g, r = r, g % r
    nb = ((n_frames - 1) * hop + frame_length) // g
    bsq = np.empty(nb)
    bzc = np.empty(nb, dtype=np.int64)
    first = np.empty(nb, dtype=np.int64)  # the change at each block's first sample
    neg_thr = np.float32(-threshold)
    for blk in range(nb):
        i0 = blk * g  # first index in the padded signal
        s = i0 - half  # ... in y
        if s >= 1 and s + g <= n:
            bsq[blk], bzc[blk] = _block_sums(y, s, s + g, neg_thr)
            first[blk] = np.int64((y[s] < neg_thr) != (y[s - 1] < neg_thr))
            continue
        acc = 0.0  # the edges: zero padding for RMS, edge padding for ZCR
        cnt = 0
        for q in range(g):
            k = s + q
            v = np.float64(y[k]) if 0 <= k < n else 0.0
            acc += v * v
            c = 0
            if i0 + q > 0:
                e1 = y[min(max(k, 0), n - 1)]
                e0 = y[min(max(k - 1, 0), n - 1)]
                c = np.int64((e1 < neg_thr) != (e0 < neg_thr))
            cnt += c
            if q == 0:
                first[blk] = c
        bsq[blk] = acc
        bzc[blk] = cnt
    per = frame_length // g
    step = hop // g
    rms = np.empty(n_frames, dtype=np.float32)
    zcr = np.empty(n_frames)
    for i in range(n_frames):
        b0 = i * step
        sq = 0.0
        zc = -first[b0]  # the change into a frame's first sample lies outside it
        for b in range(b0, b0 + per):
            sq += bsq[b]
            zc += bzc[b]
        rms[i] = np.sqrt(max(sq, 0.0) / frame_length)
        zcr[i] = zc / frame_length
    return rms, zcr


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def _mel_row(row, starts, ends, offsets, weights, out):  # pragma: no cover - compiled
    """The banded mel product ``out = row @ basis`` for one float32 power spectrum ``row (f,)``:
    band ``k`` weighs bins ``[starts[k], ends[k])`` by ``weights[offsets[k]:]``; ``out (n_mels,)``."""
    for k in range(starts.shape[0]):
        seg = row[starts[k] : ends[k]]
        w = weights[offsets[k] : offsets[k] + seg.shape[0]]
        s = np.float32(0.0)
        for j in range(seg.shape[0]):
            s += seg[j] * w[j]
        out[k] = s


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def mean_var(x):  # pragma: no cover - compiled
    """Mean and (population) variance of ``x [shape=(n,)]``, accumulated in float64."""
    n = x.shape[0]
    acc = 0.0
    for i in range(n):
        acc += np.float64(x[i])
    mean = acc / n
    var = 0.0
    for i in range(n):
        d = np.float64(x[i]) - mean
        var += d * d
    return mean, var / n


@numba.njit(cache=True, nogil=True)
def edge_counts(x, edges):  # pragma: no cover - compiled
    """np.histogram(x, edges)[0] for sorted ``edges [shape=(k+1,)]``: bins ``[e_i, e_i+1)``, the
    last one closed; values outside ``[e_0, e_k]`` are not counted. Exact comparisons, as numpy's
    histogram does for explicit edges."""
    k = edges.shape[0] - 1
    counts = np.zeros(k, dtype=np.int64)
    lo = edges[0]
    top = edges[k]
    for v in x:
        if not (v >= lo and v <= top):
            continue
        if v == top:
            counts[k - 1] += 1
            continue
        a, b = 0, k  # edges[a] <= v < edges[b]
        while b - a > 1:
            m = (a + b) // 2
            if edges[m] <= v:
                a = m
            else:
                b = m
        counts[a] += 1
    return counts
