"""Recreation lab, part 2: does a per-clip style bring back the variety between clips? (issue #12)

The same corpus, split, real held-out clips, judge and measures as ``bench/recreation_lab.py``
(reused from it), for three diffusion designs trained alike (PCA-32 log-mel, 700 steps, DDIM 40
steps with eta 1, guidance weight 1): (1) genre only; (2) also conditioned on a per-clip style,
the mean and log std over time of the 32 components, a style drawn per clip from a per-genre
Ledoit-Wolf Gaussian of the training segments; (3) as 2, the sampled maps then matched to that
style (``match_style``: the shipped default). One CPU thread. Writes
bench/results/recreation_style.md.

    PYTHONPATH=src python bench/recreation_style.py
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

torch.set_num_threads(1)
sys.path.insert(0, str(Path(__file__).parent))

import recreation_lab as lab  # noqa: E402

from genrelab import GENRES  # noqa: E402
from genrelab.models.recreate_diffusion import DiffusionConfig, fit_style_prior, match_style  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=700)
    p.add_argument("--per-genre", type=int, default=4)
    p.add_argument("--cache", type=Path, default=Path("/tmp/genrelab_lab"))
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "recreation_style.md")
    a = p.parse_args(argv)
    t0 = time.time()
    base = lab.parse(["--seed", str(a.seed), "--cache", str(a.cache)])
    d = lab.prepare(base)
    ids = np.repeat(np.arange(len(GENRES)), a.per_genre)
    rows = []
    for style in (0, 32):
        cfg = DiffusionConfig(n_mels=32, n_genres=len(GENRES), style_dim=style, style_std=bool(style))
        t = time.time()
        model, stats = lab.train_diffusion(d["mel"], d["y"], cfg, steps=a.steps, batch=32, lr=2e-3, crop=128,
                                           seed=a.seed, components=32)
        train_s = time.time() - t
        gen = torch.Generator().manual_seed(a.seed)
        s = None
        if style:
            x = torch.from_numpy(stats["projection"].encode(d["mel"]))  # (N, 32, 130)
            s = fit_style_prior(model.style_of(x).numpy(), d["y"], len(GENRES)).sample(ids, gen)  # (B, 64)
        z = model.generate(torch.from_numpy(ids), frames=lab.GEN_FRAMES, steps=40, eta=1.0, generator=gen, style=s)
        variants = [("genre only" if not style else "style (mean, log std of 32 components)", z)]
        if style:
            variants.append(("style + match_style (shipped)", match_style(z, s)))
        for name, zz in variants:
            db = np.clip(stats["projection"].decode(zz.numpy()), stats["mel_min"], stats["mel_max"])
            rows.append({"name": name, "m": lab.measure(lab.mel_to_audio(db), ids, d["judge"]), "train_s": train_s})
            print(f"  {name}: trained in {train_s:.0f} s", flush=True)
    out = ["# Recreation lab, part 2: a per-clip style (issue #12)", "",
           f"`PYTHONPATH=src python bench/recreation_style.py` - 1 CPU thread, {time.time() - t0:.0f} s in all "
           f"(2-core machine; other jobs may have run beside it).", "",
           "Corpus, split, real held-out clips (6 s, two per test track), judge (logistic regression on MFCC mean/std "
           "of training windows) and measures as in `recreation_lab.md`; generated: "
           f"{a.per_genre} clips x 6 s per genre, seed {a.seed}, audio through log-mel -> NNLS -> Griffin-Lim. Values "
           "are generated/real ratios; diversity = mean pairwise distance of per-clip MFCC mean/std within a genre, "
           "over the same for the real clips.", ""]
    for title, genres in (("All ten genres", list(GENRES)), ("classical, pop, metal, blues", list(lab.FOUR))):
        out += [f"## {title}", ""] + lab.table(rows, d, genres) + [""]
    text = "\n".join(out)
    print(text)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
