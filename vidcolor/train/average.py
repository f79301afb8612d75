"""Average the generators of several checkpoints of one run (checkpoint averaging, as in SWA).

A GAN generator's colours swing from report to report; the mean of its weights over the last few
checkpoints of a run is steadier than any one of them and costs no training. The mean of the
BatchNorm running statistics does not describe the mean weights' activations, so, as SWA does,
they are measured again on training crops (``--recalibrate DIR``).

``python -m vidcolor.train.average OUT.safetensors CKPT.safetensors... [--recalibrate DIR]``
"""

from __future__ import annotations

import argparse
import json

import torch

from vidcolor.checkpoint import METADATA_KEY, load_tensors, save_tensors
from vidcolor.errors import VidcolorError


def average_generators(uris: list[str]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(mean tensors, metadata) of generator checkpoints that share one model config."""
    if not uris:
        raise VidcolorError("average: give at least one checkpoint")
    first, metadata = load_tensors(uris[0])
    sums = {name: tensor.double() for name, tensor in first.items()}
    for uri in uris[1:]:
        tensors, meta = load_tensors(uri)
        if meta.get(METADATA_KEY) != metadata.get(METADATA_KEY) or tensors.keys() != first.keys():
            raise VidcolorError(f"{uri}: not the same model as {uris[0]}")
        for name, tensor in tensors.items():
            sums[name] += tensor.double()
    mean = {name: (total / len(uris)).to(first[name].dtype) for name, total in sums.items()}
    # Where each came from, without the machine's directories: checkpoint_step_N/generator...
    names = ["/".join(uri.replace("\\", "/").split("/")[-2:]) for uri in uris]
    return mean, {**metadata, "averaged_from": json.dumps(names)}


def recalibrate_batchnorm(uri: str, data: str, *, image_size: int, batches: int, seed: int) -> None:
    """Recompute the BatchNorm statistics of the generator in ``uri`` on ``batches`` batches of
    16 random training crops from ``data`` (images), in place, keeping the file's metadata."""
    from vidcolor import storage
    from vidcolor.checkpoint import load_generator
    from vidcolor.train.data import decode_image, list_sources, random_resized_crop, to_example

    generator, _ = load_generator(uri)
    _, metadata = load_tensors(uri)
    images = [s for s in list_sources([data]) if s.kind == "image"]
    if not images:
        raise VidcolorError(f"{data}: no images to recalibrate BatchNorm on")
    pictures = [decode_image(storage.read_bytes(s.uri), s.uri) for s in images]
    gen = torch.Generator().manual_seed(seed)

    def crops():
        for _ in range(batches):
            picks = torch.randint(0, len(pictures), (16,), generator=gen).tolist()
            rows = [to_example(random_resized_crop(pictures[i], image_size, gen)) for i in picks]
            yield torch.stack([torch.from_numpy(r["l"]) for r in rows])

    torch.optim.swa_utils.update_bn(crops(), generator)
    tensors = {k: v.contiguous() for k, v in generator.trainable_state_dict().items()}
    save_tensors(uri, tensors, {**metadata, "batchnorm_recalibrated": f"{batches}x16 crops"})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", help="averaged generator .safetensors")
    parser.add_argument("checkpoints", nargs="+", help="generator .safetensors of one run")
    parser.add_argument("--recalibrate", metavar="DIR", help="training images for BatchNorm stats")
    parser.add_argument("--image-size", type=int, default=128, help="crop size (the run's)")
    parser.add_argument("--batches", type=int, default=50, help="batches of 16 crops")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    tensors, metadata = average_generators(args.checkpoints)
    save_tensors(args.output, tensors, metadata)
    if args.recalibrate:
        recalibrate_batchnorm(
            args.output,
            args.recalibrate,
            image_size=args.image_size,
            batches=args.batches,
            seed=args.seed,
        )
    print(f"{args.output}: mean of {len(args.checkpoints)} generators")


if __name__ == "__main__":
    main()
