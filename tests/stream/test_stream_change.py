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
