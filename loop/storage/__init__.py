"""Storage: the only code touching Redis. Redis is the system of record."""

from loop.storage.base import ItemStore, LabelStore, ModelStore, ProjectStore
from loop.storage.redis import RedisStore

__all__ = ["ItemStore", "LabelStore", "ModelStore", "ProjectStore", "RedisStore"]
