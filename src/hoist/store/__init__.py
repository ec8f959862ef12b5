"""Storage: one Store protocol, two backends (registry, OCI layout), opened through a Session."""

from hoist.store.base import BlobSource, Mountable, Progress, Store, StoreBlobSource
from hoist.store.registry.options import RegistryOptions
from hoist.store.session import Session

__all__ = ["BlobSource", "Mountable", "Progress", "RegistryOptions", "Session", "Store", "StoreBlobSource"]
