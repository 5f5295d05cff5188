"""Small helpers shared by several rule modules."""

from __future__ import annotations

__all__ = ["image_name_tag", "image_parts"]


def image_parts(image: str) -> tuple[str, str, str]:
    """(name, tag, digest) of an image reference as written."""
    name, _, digest = image.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    tag = ""
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
    return name, tag, digest


def image_name_tag(image: str) -> tuple[str, str]:
    """(name, tag) of an image reference; the tag is empty when absent."""
    name, tag, _digest = image_parts(image)
    return name, tag
