"""The fonts the renderer uses: DejaVu and STIX as shipped by the pinned matplotlib wheel (mpl-data)."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

from PIL import ImageFont

FONT_PACKAGE = "matplotlib"
SANS = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSans-BoldOblique.ttf")
MONO = ("DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSansMono-Oblique.ttf")
SERIF = (
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSerif-Italic.ttf",
    "STIXGeneral.ttf",
    "STIXGeneralBol.ttf",
    "STIXGeneralItalic.ttf",
    "STIXGeneralBolIta.ttf",
)
BOLD = ("DejaVuSans-Bold.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSerif-Bold.ttf", "STIXGeneralBol.ttf")
ALL = SANS + MONO + SERIF
LICENCES = ("LICENSE_DEJAVU", "LICENSE_STIX")


class FontsMissingError(RuntimeError):
    """The font package is not installed (it is pinned in requirements.txt)."""


@functools.cache
def font_dir() -> Path:
    spec = importlib.util.find_spec(FONT_PACKAGE)  # without importing matplotlib itself
    if spec is None or not spec.submodule_search_locations:
        raise FontsMissingError(
            f"{FONT_PACKAGE} is not installed: run scripts/setup.sh (it is pinned in requirements.txt)"
        )
    folder = Path(list(spec.submodule_search_locations)[0]) / "mpl-data" / "fonts" / "ttf"
    missing = [name for name in ALL if not (folder / name).is_file()]
    if missing:
        raise FontsMissingError(f"fonts {missing} are missing from {folder}")
    return folder


@functools.lru_cache(maxsize=512)
def font(name: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(font_dir() / name), max(6, int(size)))


FONTS_NOTE = (
    f"DejaVu Sans, Sans Mono and Serif (regular, bold, oblique/italic) and STIX General (regular, bold, "
    f"italic, bold italic), the TrueType files that the pinned `{FONT_PACKAGE}` wheel ships in "
    "`mpl-data/fonts/ttf/`. DejaVu: Bitstream Vera licence + public-domain changes (free to use and "
    "redistribute, including in rendered images); STIX: SIL Open Font License 1.1. Their licence texts "
    "are `LICENSE_DEJAVU` and `LICENSE_STIX` in that folder."
)
