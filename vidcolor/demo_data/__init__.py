"""Build the demo checkpoint's photo set from what a Debian + venv machine can install offline.

``python -m vidcolor.demo_data DIR`` writes ``DIR/train/<group>/<name>.jpg`` (train on these),
``DIR/validation/...`` (never trained on; the trainer's reports score them and a step is picked on
them: ``vidcolor train --validation DIR/validation``), ``DIR/heldout/...`` (never trained on, never
used to pick a step or a recipe) and ``DIR/SOURCES.json`` (every photo's origin, author, licence
and split; the skipped ones and why).

Only photographs. Debian's wallpaper packages mix photos with abstract art, renders and gradients,
so their photos are an explicit list, picked by looking at every image the packages install (the
rest is named in ``EXCLUDED`` with the reason). Near-grey photos (chroma spread below the training
threshold) are dropped automatically: they teach the model that brown is a safe answer. Microscopy
and astronomy samples are left out: nothing a film shows. bigbuckbunny is a render (and the demo's
own clip), so only the live-action clips give frames. Each photo is stored once at ``max_side``, so
video frames are decoded once here, not every epoch.

Modules: ``catalogue`` (the photos picked and why the rest were not), ``gcompris`` and ``jigzo``
(the photos inside two games' data files; ``qt_resources`` reads GCompris's), ``debian_copyright``
(each file's licence), ``frames`` (stills from sample clips), ``build`` (the set on disk and
SOURCES.json) and ``cli`` (``python -m vidcolor.demo_data``). Tooling for the shipped checkpoint:
nothing in vidcolor/ outside this folder imports it.
"""
