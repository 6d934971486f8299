"""Spec references: ``vgg:D`` (a bundled spec), ``path/to/x.net:D``, ``path/to/x.net``, ``googlenet``."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from netc.dsl.errors import UsageError, did_you_mean


def bundled_dir() -> Path:
    """The folder of the specs that ship with netc (package data)."""
    return Path(str(resources.files("netc.specs")))


def bundled_names() -> list[str]:
    return sorted(p.stem for p in bundled_dir().glob("*.net"))


def split_ref(ref: str) -> tuple[Path, str | None]:
    """``"vgg:D"`` -> (path of the bundled vgg.net, "D"); a file path wins over a bundled name."""
    if not ref:
        raise UsageError("empty spec reference")
    p = Path(ref)
    if p.is_file():
        return p, None
    left, sep, right = ref.rpartition(":")
    if sep and left and "/" not in right and "\\" not in right:
        if Path(left).is_file():
            return Path(left), right or None
        hit = _bundled(left)
        if hit is not None:
            return hit, right or None
        base = left
    else:
        hit = _bundled(ref)
        if hit is not None:
            return hit, None
        base = ref
    looks_like_path = base.endswith(".net") or "/" in base or "\\" in base
    if looks_like_path:
        raise UsageError(f"no such spec file: {base}")
    raise UsageError(f"no spec file or bundled spec named '{base}'",
                     hint=did_you_mean(base, bundled_names()) or f"bundled specs: {', '.join(bundled_names())}")


def _bundled(name: str) -> Path | None:
    stem = name[:-4] if name.endswith(".net") else name
    if "/" in stem or "\\" in stem or not stem:
        return None
    p = bundled_dir() / f"{stem}.net"
    return p if p.is_file() else None
