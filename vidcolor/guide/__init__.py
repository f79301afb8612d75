"""Colour you can steer: references that guide the model's colours.

- :mod:`~vidcolor.guide.reference`: a reference image at model resolution (L, ab, alpha);
- :mod:`~vidcolor.guide.sidecars`: where references are found (``reel.refs/``, ``photo.hints.png``,
  ``--references DIR``, ``--reference IMG``) and what their names mean;
- :mod:`~vidcolor.guide.hints`: hint strokes spread over a frame, edge-aware;
- :mod:`~vidcolor.guide.chain`: a keyframe's colours carried through its shot along the flow;
- :mod:`~vidcolor.guide.match`: reference photos brought onto frames by correspondence;
- :mod:`~vidcolor.guide.steer`: the order these run in, for a video segment and for a photo.

numpy and OpenCV only: the finish workers that run this never import torch.
"""
