"""Frame sequences (DPX, TIFF, PNG, JPEG scans: one file per frame) as films.

``names``: finding and grouping them while listing; ``probe``: a sequence's description as a
video's (frame rate from the DPX header or ``--sequence-fps``, a sidecar WAV); ``frames``:
reading the frames of one segment's range, writing them back like the input. The pipeline's
stages for them are in :mod:`vidcolor.pipeline.sequences`.
"""
