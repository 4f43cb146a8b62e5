"""occreid: the occluded twin of any person re-ID dataset, made offline, and evaluated.

Data flows one way: layout -> parser -> occlusion -> writer, driven by the runner.
See ARCHITECTURE.md.
"""

__version__ = "0.1.0"
