"""Change detection: unchanged under noise and recompression, changed by a new word, a cut by a new scene."""

from __future__ import annotations

import cv2
import numpy as np

from edge_runtime.stream.change import ChangeDetector


def page(text: str = "PLATFORM 4", seed: int = 0, sigma: float = 0.0) -> np.ndarray:
    img = np.full((720, 1280, 3), 60, np.uint8)
    cv2.putText(img, text, (200, 300), cv2.FONT_HERSHEY_DUPLEX, 1.0, (255, 255, 255), 2)
    if sigma:
        noise = np.random.default_rng(seed).normal(0, sigma, img.shape)
        img = np.clip(img + noise, 0, 255).astype(np.uint8)
    return img


def test_noise_is_not_a_change_but_a_small_word_is():
    detector = ChangeDetector()
    change, thumb = detector.compare(page(sigma=6, seed=1))
    assert change.changed  # nothing to compare with yet
    detector.accept(thumb)
    assert not detector.compare(page(sigma=6, seed=2))[0].changed
    change, _ = detector.compare(page("PLATFORM 5", sigma=6, seed=3))  # one digit of a 1280x720 frame
    assert change.changed and not change.cut


def test_a_different_scene_is_a_cut():
    detector = ChangeDetector()
    detector.accept(detector.compare(page())[1])
    other = np.full((720, 1280, 3), (170, 190, 200), np.uint8)
    change, _ = detector.compare(other)
    assert change.changed and change.cut
    assert detector.compare(cv2.resize(other, (640, 360)))[0].cut  # another resolution: another scene


def test_threshold_zero_processes_every_frame():
    detector = ChangeDetector(threshold=0)
    detector.accept(detector.compare(page())[1])
    change, _ = detector.compare(page())
    assert change.changed and not change.cut


# ---- shake, exposure, noise: compensated, not changes -----------------------------------------------------
def wall_page(text: str = "PLATFORM 4", seed: int = 5) -> np.ndarray:
    """A textured wall (blotches, grain) with signs, larger than the view so it can be shifted."""
    rng = np.random.default_rng(seed)
    h, w = 720 + 64, 1280 + 64
    blotch = cv2.resize(rng.normal(0, 12, (h // 8, w // 8)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    img = np.clip(np.full((h, w, 3), (70, 50, 45), np.float32) + blotch[..., None], 0, 255).astype(np.uint8)
    cv2.putText(img, "CENTRAL STATION", (140, 150), cv2.FONT_HERSHEY_DUPLEX, 2.2, (255, 255, 255), 4, cv2.LINE_AA)
    cv2.putText(img, text, (200, 400), cv2.FONT_HERSHEY_DUPLEX, 1.0, (255, 255, 255), 2, cv2.LINE_AA)
    cv2.putText(img, "AB 123 CD", (700, 600), cv2.FONT_HERSHEY_DUPLEX, 1.4, (0, 0, 0), 3, cv2.LINE_AA)
    return img


def view(
    world: np.ndarray, dx: float, dy: float, gain: float = 1.0, offset: float = 0.0, sigma: float = 4.0, seed: int = 0
) -> np.ndarray:
    """The 1280x720 view whose content is moved by (dx, dy) (sub-pixel), with exposure and sensor noise."""
    moved = cv2.warpAffine(
        world, np.float32([[1, 0, dx - 32], [0, 1, dy - 32]]), (1280, 720), flags=cv2.INTER_LINEAR
    ).astype(np.float32)
    noisy = moved * gain + offset + np.random.default_rng(seed).normal(0, sigma, moved.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def test_shake_from_sub_pixel_to_a_few_pixels_is_not_a_change_and_is_measured():
    world = wall_page()
    detector = ChangeDetector()
    detector.accept(detector.compare(view(world, 0, 0, seed=1))[1])
    rng = np.random.default_rng(2)
    for i, (dx, dy) in enumerate(
        [(0.3, -0.2), (-0.7, 0.5), (1.5, -1.2), (-2.6, 2.2), (3.0, 0.4)]
        + [tuple(rng.uniform(-3, 3, 2)) for _ in range(10)]
    ):
        change, _ = detector.compare(view(world, dx, dy, seed=10 + i))
        assert not change.changed, (dx, dy, change)
        assert abs(change.shift[0] - dx) < 0.35 and abs(change.shift[1] - dy) < 0.35, (dx, dy, change.shift)


def test_without_compensation_the_same_shake_is_a_change():
    """The test above can fail: the same frames compared as they are (old detector: no alignment) differ."""
    world = wall_page()
    detector = ChangeDetector(max_shift=0.0)  # no motion followed
    detector.accept(detector.compare(view(world, 0, 0, seed=1))[1])
    assert detector.compare(view(world, 1.5, -1.2, seed=2))[0].changed


def test_rolling_exposure_is_not_a_change_but_a_jump_is_a_cut():
    world = wall_page()
    detector = ChangeDetector()
    detector.accept(detector.compare(view(world, 0, 0, seed=1))[1])
    for i, t in enumerate(np.linspace(0, 1, 12)):
        gain, offset = 1.0 + 0.25 * np.sin(2 * np.pi * t), 12 * np.cos(2 * np.pi * t) - 12
        change, _ = detector.compare(view(world, *np.random.default_rng(i).uniform(-2, 2, 2), gain, offset, seed=i))
        assert not change.changed, (gain, offset, change)
    change, _ = detector.compare(view(world, 0, 0, 0.3, 0, seed=99))  # the lights went out
    assert change.cut


def test_one_changed_character_is_noticed_through_shake_exposure_and_noise_where_it_is():
    before, after = wall_page("PLATFORM 4"), wall_page("PLATFORM 5")
    detector = ChangeDetector()
    detector.accept(detector.compare(view(before, 0, 0, seed=1))[1])
    for i, (dx, dy) in enumerate([(0.0, 0.0), (0.5, -1.0), (2.5, 1.5), (-2.0, -0.7)]):
        change, _ = detector.compare(view(after, dx, dy, 1.1, 5, sigma=5, seed=20 + i))
        assert change.changed and not change.cut, (dx, dy, change)
        # the digit sits at x ~ 330-350, y ~ 380-400 of the wall, moved by (dx - 32, dy - 32) in the view
        assert any(x0 <= 320 and x1 >= 300 and y0 <= 370 and y1 >= 350 for x0, y0, x1, y1 in change.regions), (
            change.regions
        )
        assert all((x1 - x0) * (y1 - y0) < 0.02 * 1280 * 720 for x0, y0, x1, y1 in change.regions)


def test_a_pan_reports_the_new_strip_at_the_edge():
    world = wall_page()
    detector = ChangeDetector(edge_strip=0.02)
    detector.accept(detector.compare(view(world, 0, 0, seed=1))[1])
    change, _ = detector.compare(view(world, -10, 0, seed=2))  # content moved left 10 px: not yet a strip
    assert not change.changed
    change, _ = detector.compare(view(world, -30, 0, seed=3))  # 30 px of new view on the right
    assert change.changed and not change.cut
    assert [(x0, y0, x1, y1) for x0, y0, x1, y1 in change.regions] == [(1249, 0, 1280, 720)]  # only the strip
    assert abs(change.shift[0] + 30) < 0.5
