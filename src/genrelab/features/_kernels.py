"""numba kernels of the fused extractor; frame-major arrays ``(t, n_bins)``, one pass each."""

from __future__ import annotations

import numba
import numpy as np


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


@numba.njit(cache=True, nogil=True)
def overlap_add(frames, hop, out):  # pragma: no cover - compiled
    """Add ``frames [shape=(..., t, n_fft)]`` into ``out [shape=(..., n_fft + hop*(t-1))]``."""
    c, t, n_fft = frames.shape
    for k in range(c):
        for i in range(t):
            s = i * hop
            for j in range(n_fft):
                out[k, s + j] += frames[k, i, j]


@numba.njit(cache=True, nogil=True)
def scan_signal(y):  # pragma: no cover - compiled
    """``(all finite, any non-zero)`` for ``y [shape=(n,)]`` in one pass."""
    finite = True
    nonzero = False
    for i in range(y.shape[0]):
        v = y[i]
        if not np.isfinite(v):
            finite = False
        elif v != 0:
            nonzero = True
    return finite, nonzero


@numba.njit(cache=True, nogil=True)
def windowed_frames(y, n_fft, hop, window, t0, t1):  # pragma: no cover - compiled
    """Frames ``t0 <= i < t1`` of the centred, zero-padded ``y``, times ``window``:
    ``(t1 - t0, n_fft)`` in the window's dtype."""
    n = y.shape[0]
    half = n_fft // 2
    out = np.empty((t1 - t0, n_fft), dtype=window.dtype)
    for i in range(t0, t1):
        s = i * hop - half
        row = out[i - t0]
        if s >= 0 and s + n_fft <= n:
            for j in range(n_fft):
                row[j] = window[j] * y[s + j]
        else:
            for j in range(n_fft):
                k = s + j
                row[j] = window[j] * y[k] if 0 <= k < n else 0.0
    return out


_FAST = {"reassoc", "nsz", "contract"}  # lets LLVM vectorise the sums; no NaN/inf assumptions


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def spectral_pass(D, freq, mel_start, mel_ptr, mel_w, roll_percent, tiny, lo, hi, sr_over_nfft, fft_eps,
                  power, mag, mel, centroid, bandwidth, rolloff, pitches, pmags, npk):  # pragma: no cover
    """One pass over the frames of a complex STFT ``D [shape=(t, f)]``.

    Fills float32 ``power``/``mag`` ``(t, f)``, the mel power spectrogram ``mel (t, n_mels)``
    (filter ``k`` covers bins ``mel_start[k]`` onwards with weights ``mel_w[mel_ptr[k]:mel_ptr[k+1]]``),
    centroid/bandwidth/rolloff ``(t,)``, and piptrack's peaks in bins ``[lo, hi)``
    (``pitches``/``pmags``, filled from index ``npk``). The outputs may be row blocks of larger
    arrays. Returns ``(n_peaks so far, floor_limited)``: ``floor_limited`` is True when
    the FFT's rounding floor (``fft_eps`` relative to the frame's RMS spectrum) could move a
    frame's centroid or bandwidth by more than 1e-4 relative (pure tones with a float32 FFT).
    """
    t, f = D.shape
    n_mels = mel.shape[1]
    limited = False
    sf = 0.0
    sf2 = 0.0
    for j in range(f):
        sf += freq[j]
        sf2 += freq[j] * freq[j]
    for i in range(t):
        Di = D[i]
        mi = mag[i]
        pi = power[i]
        total = 0.0
        wsum = 0.0
        w2sum = 0.0
        psum = 0.0
        peak = np.float32(0.0)
        for j in range(f):
            z = Di[j]
            m = np.float32(np.sqrt(np.float64(z.real) * z.real + np.float64(z.imag) * z.imag))
            p = m * m
            mi[j] = m
            pi[j] = p
            total += m
            wsum += freq[j] * m
            w2sum += freq[j] * freq[j] * m
            psum += p
            peak = max(peak, p)
        # centroid and bandwidth (librosa normalises each frame to unit sum first);
        # sum m (f - c)^2 = sum m f^2 - 2 c sum m f + c^2 sum m, exact enough in float64
        inv = 1.0 / (total if total >= tiny else 1.0)
        c = wsum * inv
        centroid[i] = c
        b = max(w2sum - 2.0 * c * wsum + c * c * total, 0.0)
        bandwidth[i] = np.sqrt(b * inv)
        if fft_eps > 0.0 and total >= tiny and not limited:
            # bins within 10x of the FFT's rounding floor carry an error of up to their size;
            # their weight in the bandwidth and centroid sums bounds the frame's error
            thr = 10.0 * fft_eps * np.sqrt(psum / (f - 1))
            fb = 0.0
            fc = 0.0
            for j in range(f):
                if mi[j] < thr:
                    d = freq[j] - c
                    fb += d * d
                    fc += abs(d)
            if thr * fb > 1e-4 * b or thr * fc > 1e-4 * total * max(c, 1.0):
                limited = True
        # rolloff: first bin whose running sum reaches roll_percent of the total (blocks of 16)
        thresh = roll_percent * total
        acc = 0.0
        r = freq[f - 1]
        for j0 in range(0, f, 16):
            j1 = min(j0 + 16, f)
            blk = 0.0
            for j in range(j0, j1):
                blk += mi[j]
            if acc + blk < thresh:
                acc += blk
                continue
            for j in range(j0, j1):
                acc += mi[j]
                if acc >= thresh:
                    r = freq[j]
                    break
            break
        rolloff[i] = r
        # mel filter bank: each band is a contiguous run of bins
        for k in range(n_mels):
            s0 = mel_start[k]
            q0 = mel_ptr[k]
            acc = 0.0
            for q in range(mel_ptr[k + 1] - q0):
                acc += mel_w[q0 + q] * pi[s0 + q]
            mel[i, k] = acc
        # piptrack peaks (threshold 0.1 of the frame's maximum)
        ref = 0.1 * peak
        for j in range(lo, hi):
            x0 = pi[j]
            if x0 <= ref:  # most bins: a predictable early exit
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
    return npk, limited


@numba.njit(cache=True, nogil=True)
def rms_zcr(y, n_frames, frame_length, hop, threshold):  # pragma: no cover - compiled
    """librosa.feature.rms(y) (zero padding) and zero_crossing_rate(y) (edge padding), centred."""
    n = y.shape[0]
    half = frame_length // 2
    m = n + 2 * half
    sq = np.zeros(m + 1)      # cumulative sum of squares of the zero-padded signal
    zc = np.zeros(m, dtype=np.int64)  # cumulative crossings of the edge-padded signal
    acc = 0.0
    cnt = 0
    prev_neg = False
    for i in range(m):
        k = i - half
        v = float(y[k]) if 0 <= k < n else 0.0
        acc += v * v
        sq[i + 1] = acc
        e = float(y[min(max(k, 0), n - 1)])
        if -threshold <= e <= threshold:
            e = 0.0
        neg = e < 0.0
        if i > 0 and neg != prev_neg:
            cnt += 1
        zc[i] = cnt
        prev_neg = neg
    rms = np.empty(n_frames, dtype=np.float32)
    zcr = np.empty(n_frames)
    for i in range(n_frames):
        s = i * hop
        rms[i] = np.sqrt(max(sq[s + frame_length] - sq[s], 0.0) / frame_length)
        zcr[i] = (zc[s + frame_length - 1] - zc[s]) / frame_length
    return rms, zcr


@numba.njit(cache=True, nogil=True)
def harmonic_mask(D, harm, perc, tiny, out):  # pragma: no cover - compiled
    """``out = D * M_h`` (librosa's power-2 soft mask, complex64); returns True if a bin had both
    medians ~0 while ``D`` is non-zero (then the percussive part is not ``D - D*M_h``).

    ``harm [shape=(f, t)]`` (time-filtered, transposed), ``perc [shape=(t, f)]``.
    """
    t, f = D.shape
    lost = False
    for i in range(t):
        for j in range(f):
            h = harm[j, i]
            p = perc[i, j]
            z = h if h > p else p
            if z < tiny:
                out[i, j] = 0
                if D[i, j] != 0:
                    lost = True
                continue
            a = (h / z) * (h / z)
            b = (p / z) * (p / z)
            out[i, j] = D[i, j] * (a / (a + b))
    return lost


@numba.njit(cache=True, nogil=True)
def overlap_add_window(frames, window, hop, wss, start, length):  # pragma: no cover - compiled
    """librosa.istft's tail: window ``frames [shape=(c, t, n_fft)]``, overlap-add, divide by the
    window's sum of squares where it is > tiny, keep ``[start, start + length)``: ``(c, length)``."""
    c, t, n_fft = frames.shape
    total = n_fft + hop * (t - 1)
    buf = np.zeros(total, dtype=np.float32)
    out = np.zeros((c, length), dtype=np.float32)
    tiny = np.finfo(np.float32).tiny
    for ch in range(c):
        buf[:] = 0
        for i in range(t):
            s = i * hop
            for j in range(n_fft):
                buf[s + j] += frames[ch, i, j] * window[j]
        for k in range(length):
            src = start + k
            if src < total:
                v = buf[src]
                if wss[src] > tiny:
                    v /= wss[src]
                out[ch, k] = v
    return out
