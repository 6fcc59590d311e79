"""The one thing pyproject.toml cannot say: the optional C accelerator, tandem._speedups.

It is compiled from ext/_speedups.c and the protocol's C codec, which lives
beside this folder in a checkout (../protocol).  pip builds a checkout in place,
so `pip install ./backend` compiles it when a C compiler, Python's headers
(python3-dev) and msgpack-c (libmsgpack-dev) are there; if any is missing, or
the codec is not beside this folder, the package installs without it and runs
in pure Python (tandem/protocol.py).
"""

import os

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))
CODEC = os.path.join("..", "protocol")

extensions = []
if os.path.exists(os.path.join(HERE, CODEC, "tdm_proto.c")):
    extensions.append(Extension(
        "tandem._speedups",
        sources=["ext/_speedups.c", os.path.join(CODEC, "tdm_proto.c")],
        include_dirs=[CODEC],
        libraries=["msgpackc"],
        optional=True,
    ))

setup(ext_modules=extensions)
