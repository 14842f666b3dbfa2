"""The MOVA audio-VAE row on the H100: the shape-true ``mova`` case (released sizes from
regress/shapes/released.toml, seeded random weights built on the GPU) with the DAC audio VAE in
bf16 (the seed's new default) and in fp32 (what it replaced), one memory row each.

Why: the seed's pull request moved MOVA's ``audio_vae_precision`` from fp32 to bf16 (the fp32
line had failed to compile ``Snake1d.forward`` on AMD). This prints what that change is worth
in memory on an H100: per stage peak (the CUDA allocator's, as regress measures it: weights plus
the largest transient), the audio VAE's resident weights, and the audio decode's time.

How to run (H100, not run here; nothing is downloaded)::

    PYTHONPATH=. python3 benchmarks/bench_mova_audio_vae.py            # 352x640, 81 frames, 24 fps
    PYTHONPATH=. python3 benchmarks/bench_mova_audio_vae.py --frames 121 --steps 2

``--smoke`` checks the script on a CPU first (every stack cut to one layer, a 32x32 video of
5 frames): the same code path, numbers that mean nothing. Expected on the H100 from the
released counts: weights about 41 GiB in bf16 (video DiT 26.6, UMT5-XXL 10.6, audio DiT 2.2,
DAC 0.7) and 0.7 GiB more with the DAC in fp32. Not modelled (see released.toml): MOVA's second
video expert and its full dual-tower bridge.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import time

STAGES = ("text_encode", "denoise", "decode", "audio_decode", "total")


def _smoke_specs() -> None:
    """Cut every released stack of the mova family to one layer (a CPU check of the script)."""
    import regress.shapes as shapes

    full = shapes.specs

    def cut(spec: shapes.Spec) -> shapes.Spec:
        config = dict(spec.config)
        for key in ("num_layers",):
            if key in config:
                config[key] = 1
        if spec.component == "audio_vae":
            config.update(encoder_hidden_size=8, decoder_hidden_size=64)
        return dataclasses.replace(spec, config=config, params=0)  # the fit check is for the real sizes

    shapes.specs = lambda family: tuple(cut(s) for s in full(family))  # type: ignore[assignment]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=352)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--frames", type=int, default=81)
    parser.add_argument("--fps", type=float, default=24.0)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--smoke", action="store_true", help="one layer per stack, 32x32x5, on the CPU")
    args = parser.parse_args()

    import torch

    from regress.runners import get_runner
    from regress.suite import Case

    device = "cpu" if args.smoke else "cuda"
    if args.smoke:
        _smoke_specs()
        args.height = args.width = 32
        args.frames = 5
    case = Case(id="mova-shape-true", pipeline="mova", prompt="a drummer on a beach at sunset", weights="random",
                height=args.height, width=args.width, frames=args.frames, fps=args.fps, steps=args.steps,
                guidance=5.0, max_sequence_length=256, seed=0)
    runner = get_runner("mova")
    name = torch.cuda.get_device_name(0) if device == "cuda" else "cpu (smoke: numbers mean nothing)"
    print(f"device: {name}; mova shape-true {args.width}x{args.height}, {args.frames} frames at {args.fps} fps, "
          f"{args.steps} steps")
    print("| audio_vae | " + " | ".join(f"peak {s} GiB" for s in STAGES) + " | audio_vae weights GiB | audio_decode s |")
    print("| --- |" + " ---: |" * (len(STAGES) + 2))
    for dtype in ("bf16", "fp32"):
        t0 = time.perf_counter()
        built = runner.build(case, {"audio_vae": dtype}, device)
        build_s = time.perf_counter() - t0
        result = runner.run(built, case, device)
        perf = result.perf
        peaks = " | ".join(f"{perf.peak_memory.get(s, 0) / 2**30:.2f}" for s in STAGES)
        print(f"| {dtype} | {peaks} | {perf.weights.get('audio_vae', 0) / 2**30:.3f} | "
              f"{perf.stages.get('audio_decode', 0.0):.3f} |")
        print(f"  ({dtype}: build {build_s:.1f} s, call {perf.wall_s:.1f} s, memory {perf.memory_source}, "
              f"fingerprint audio_vae={result.fingerprint['audio_vae']}, non-finite {result.output.nonfinite})")
        del built, result
        gc.collect()  # a pipeline's hooks hold it in cycles: without this the fp32 build found 38 of 79 GiB free
        if device == "cuda":
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
