"""``vidcolor models``: each variant with its parameter count and GFLOPs per 256x256 frame."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "models",
        help="list model variants with parameters and GFLOPs per frame",
        description="Print each generator variant with its parameter count and GFLOPs per frame "
        "at 256x256, measured with torch's FLOP counter (the frozen Inception-v3 of vit-i-gan is "
        "counted; its weights are not needed to count).",
    )
    p.add_argument("--widths", type=int, nargs="+", default=[64, 32, 16], help="width multipliers")
    p.add_argument("--size", type=int, default=256, help="square frame size (default 256)")
    p.set_defaults(run=run)


def generator_cost(variant: str, width: int, size: int = 256) -> tuple[int, int, float]:
    """(trainable parameters, frozen parameters, GFLOPs for one size x size frame)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from vidcolor.models import ModelConfig, build_generator

    # On the meta device: shapes only, no weights initialised and no arithmetic done (counting
    # vit-i-gan took ~11 s of Inception-v3 initialisation and forward on a CPU, this 0.3 s).
    with torch.device("meta"):
        g = build_generator(ModelConfig(variant=variant, width=width), random_inception=True)
        trainable = sum(p.numel() for n, p in g.named_parameters() if not n.startswith("embedder."))
        frozen = sum(p.numel() for p in g.embedder.parameters()) if g.embedder is not None else 0
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            g.eval()(torch.zeros(1, 1, size, size))
    return trainable, frozen, counter.get_total_flops() / 1e9


def run(args: argparse.Namespace) -> int:
    print(f"{'variant':<10} {'width':>5} {'params':>10} {'frozen':>10} {'GFLOPs/frame':>13}")
    for variant in ("vit-i-gan", "vit-gan"):
        for width in args.widths:
            params, frozen, gflops = generator_cost(variant, width, args.size)
            print(
                f"{variant:<10} {width:>5} {params / 1e6:>9.2f}M {frozen / 1e6:>9.2f}M {gflops:>13.2f}"
            )
    print(f"(GFLOPs at {args.size}x{args.size}; 1 multiply-add = 2 FLOPs; width 64 is the paper's)")
    return 0
